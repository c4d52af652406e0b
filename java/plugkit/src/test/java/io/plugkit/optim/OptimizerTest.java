package io.plugkit.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.MemoryStats;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Losses;
import io.plugkit.testing.Close;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class OptimizerTest {
  private static final String[] CASES = {"sgd_plain", "sgd_momentum_dampening", "sgd_nesterov_wd", "adam_plain",
      "adam_wd_amsgrad", "adamw_default", "adamw_amsgrad"};

  private static float meta(Map<String, String> m, String key, float fallback) {
    return m.containsKey(key) ? Float.parseFloat(m.get(key)) : fallback;
  }

  private static boolean flag(Map<String, String> m, String key) { return "True".equals(m.get(key)); }

  private static Optimizer build(List<Tensor> params, Map<String, String> m) {
    float lr = meta(m, "lr", Float.NaN);
    return switch (m.get("kind")) {
      case "sgd" -> new Sgd(params, Sgd.Options.lr(lr).withMomentum(meta(m, "momentum", 0f))
          .withDampening(meta(m, "dampening", 0f)).withWeightDecay(meta(m, "weight_decay", 0f)).withNesterov(flag(m, "nesterov")));
      case "adam", "adamw" -> {
        Adam.Options o = m.get("kind").equals("adam") ? Adam.Options.lr(lr) : Adam.Options.adamW(lr);
        o = o.withBetas(meta(m, "beta1", 0.9f), meta(m, "beta2", 0.999f)).withEps(meta(m, "eps", 1e-8f))
            .withWeightDecay(meta(m, "weight_decay", o.weightDecay())).withAmsgrad(flag(m, "amsgrad"));
        yield new Adam(params, o);
      }
      default -> throw new IllegalStateException("unknown kind " + m.get("kind"));
    };
  }

  /** Sets p's gradient to exactly g (zero, then accumulate). */
  private static void setGrad(Tensor p, Tensor g) {
    p.zeroGrad();
    p.accumulateGrad(g);
  }

  /**
   * Three steps of each optimizer from PyTorch's gradients; the bias has no gradient at step 0
   * (skipped: it must not move, and Adam's bias-correction count for it lags one step).
   * Tolerance: float32 updates on both sides; Adam divides by sqrt(v) + eps with eps down to 1e-8,
   * so a few ulps of relative difference (1e-5) are expected.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void stepsMatchPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("optim/" + name);
        Tensor w = fx.tensor("in.param", d).requiresGrad(true);
        Tensor b = fx.tensor("in.bias", d).requiresGrad(true);
        Optimizer opt = build(List.of(w, b), fx.metadata());
        float[] bias0 = b.toArray();
        for (int k = 0; k < 3; k++) {
          try (Scope step = Scope.open()) {
            setGrad(w, fx.tensor("in.grad" + k, d));
            if (k > 0) setGrad(b, fx.tensor("in.bgrad" + k, d));
            opt.step();
          }
          Close.assertClose(fx.get("out.param" + k).toFloats(), w.toArray(), 1e-6, 1e-5, name + " param after step " + k);
          Close.assertClose(fx.get("out.bias" + k).toFloats(), b.toArray(), 1e-6, 1e-5, name + " bias after step " + k);
        }
        assertNotEquals(Arrays.toString(bias0), Arrays.toString(b.toArray()), name + ": the bias moved once it had gradients");
        if (opt instanceof Adam adam) {
          assertEquals(3, adam.steps(0));
          assertEquals(2, adam.steps(1));
        }
      }
    }
  }

  /** maximize negates the gradient: one step of it equals one minimizing step with -g. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void maximizeIsMinimizingTheNegatedGradient(Device d) {
    TestDevices.assumeUsable(d);
    List<Function<List<Tensor>, Optimizer>> pairs = List.of(
        p -> new Sgd(p, Sgd.Options.lr(0.1f).withMomentum(0.9f).withWeightDecay(0.1f).withMaximize(p.get(0).dim(0) == 1)),
        p -> new Adam(p, Adam.Options.lr(0.1f).withWeightDecay(0.1f).withAmsgrad(true).withMaximize(p.get(0).dim(0) == 1)));
    for (Function<List<Tensor>, Optimizer> make : pairs) {
      try (Scope s = Scope.open()) {
        Tensor a = Tensor.uniform(d, 1, -1f, 1f, 1, 6).requiresGrad(true); // maximizes (dim 0 == 1)
        Tensor b = Tensor.uniform(d, 1, -1f, 1f, 1, 6).reshape(6, 1).detach().requiresGrad(true);
        Optimizer max = make.apply(List.of(a));
        Optimizer min = make.apply(List.of(b));
        Tensor g = Tensor.uniform(d, 2, -1f, 1f, 6);
        for (int k = 0; k < 2; k++) {
          setGrad(a, g.reshape(1, 6).detach());
          float[] neg = g.toArray();
          for (int i = 0; i < neg.length; i++) neg[i] = -neg[i];
          setGrad(b, Tensor.of(d, neg, 6, 1));
          max.step();
          min.step();
        }
        Close.assertClose(b.toArray(), a.toArray(), 0, 0, "maximize vs negated gradient");
      }
    }
  }

  /**
   * The optimizer lives in the model's scope and steps inside per-step scopes: its state must
   * survive each step scope (the loss keeps falling with momentum intact) and nothing may pile
   * up (live storages stay constant from step to step). LeakCheck then checks everything is freed.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void stepScopesNeitherLeakNorFreeOptimizerState(Device d) {
    TestDevices.assumeUsable(d);
    List<Function<Tensor, Optimizer>> makers = List.of(
        w -> new Sgd(List.of(w), Sgd.Options.lr(1f).withMomentum(0.9f).withNesterov(true)),
        w -> new Adam(List.of(w), Adam.Options.adamW(0.05f).withAmsgrad(true)));
    for (Function<Tensor, Optimizer> make : makers) {
      try (Scope model = Scope.open()) {
        Tensor w = Tensor.uniform(d, 7, -1f, 1f, 4, 5).requiresGrad(true);
        Tensor target = Tensor.uniform(d, 8, 0f, 1f, 4, 5);
        Optimizer opt = make.apply(w);
        long live = -1;
        float first = Float.NaN;
        float last = Float.NaN;
        for (int step = 0; step < 40; step++) {
          try (Scope s = Scope.open()) {
            opt.zeroGrad();
            Tensor loss = Losses.mse(w, target, Losses.Reduction.MEAN);
            loss.backward();
            opt.step();
            last = loss.item();
            if (step == 0) first = last;
          }
          if (step == 1) live = MemoryStats.liveStorages();
          if (step > 1) assertEquals(live, MemoryStats.liveStorages(), "live storages after step " + step);
        }
        assertTrue(last < 0.2f * first, opt.getClass().getSimpleName() + ": loss " + first + " -> " + last);
      }
    }
  }

  /** An optimizer built inside a step scope has its state freed with it: the next step fails cleanly. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void stateFreedWithItsScopeFailsCleanly(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope model = Scope.open()) {
      Tensor w = Tensor.ones(d, 3).requiresGrad(true);
      w.accumulateGrad(Tensor.ones(d, 3));
      Optimizer opt;
      try (Scope wrong = Scope.open()) {
        opt = new Adam(List.of(w), Adam.Options.lr(0.1f));
      }
      assertThrows(IllegalStateException.class, opt::step);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void rejectsBadInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor w = Tensor.ones(d, 3).requiresGrad(true);
      Sgd.Options sgd = Sgd.Options.lr(0.1f);
      expect("params", () -> new Sgd(List.of(), sgd));
      expect("params", () -> new Sgd(null, sgd));
      expect("params[1]", () -> new Sgd(List.of(w, w), sgd));
      expect("params[0]", () -> new Sgd(List.of(Activations.relu(w)), sgd));
      expect("params[0]", () -> new Sgd(List.of(Tensor.ofLongs(d, new long[] {1}, 1)), sgd));
      expect("params[0]", () -> new Sgd(java.util.Arrays.asList((Tensor) null), sgd));
      expect("options", () -> new Sgd(List.of(w), null));
      expect("lr", () -> Sgd.Options.lr(-1f));
      expect("lr", () -> Sgd.Options.lr(Float.NaN));
      expect("momentum", () -> sgd.withMomentum(-0.5f));
      expect("weightDecay", () -> sgd.withWeightDecay(-1f));
      expect("dampening", () -> sgd.withDampening(2f));
      expect("nesterov", () -> sgd.withNesterov(true));
      expect("nesterov", () -> sgd.withMomentum(0.9f).withDampening(0.1f).withNesterov(true));
      expect("beta1", () -> Adam.Options.lr(0.1f).withBetas(1f, 0.9f));
      expect("beta2", () -> Adam.Options.lr(0.1f).withBetas(0.9f, -0.1f));
      expect("eps", () -> Adam.Options.lr(0.1f).withEps(-1e-8f));
      expect("options", () -> new Adam(List.of(w), null));
      Tensor freed = Tensor.ones(d, 3).requiresGrad(true);
      freed.close();
      expect("params[0]", () -> new Adam(List.of(freed), Adam.Options.lr(0.1f)));
    }
  }

  private static void expect(String argName, Runnable r) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().startsWith(argName + ":"), "message should name " + argName + ": " + e.getMessage());
  }
}
