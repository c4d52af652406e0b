package io.plugkit.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.MemoryStats;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Losses;
import io.plugkit.optim.Sgd;
import io.plugkit.testing.Close;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ModuleTest {
  private static final List<String> MLP_KEYS = List.of("0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias",
      "3.running_mean", "3.running_var", "3.num_batches_tracked");

  /** The layout of tools/fixtures/fx_module.py's torch model. */
  private static Sequential mlp(Device d, long seed) {
    return new Sequential(new TestLinear(d, 3, 4, seed), new ReLU(), new TestLinear(d, 4, 2, seed + 10), new TestBatchNorm1d(d, 2));
  }

  /** A module with a named child and a buffer of its own, for nested names. */
  private static final class Net extends Module {
    final Sequential features;
    final TestLinear head;

    Net(Device d) {
      registerBuffer("scale", Tensor.ones(d, 1));
      features = registerModule("features", new Sequential(new TestLinear(d, 2, 3, 1), new ReLU()));
      head = registerModule("head", new TestLinear(d, 3, 1, 2));
    }

    @Override public Tensor forward(Tensor x) { return head.forward(features.forward(x)); }
  }

  private static long[] longs(Tensor t) { return t.toLongArray(); }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void namesFollowPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Sequential m = mlp(d, 1);
      assertEquals(MLP_KEYS, List.copyOf(m.stateDict().keySet()));
      assertEquals(List.of("0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"), List.copyOf(m.namedParameters().keySet()));
      assertEquals(List.of("3.running_mean", "3.running_var", "3.num_batches_tracked"), List.copyOf(m.namedBuffers().keySet()));
      assertEquals(6, m.parameters().size());
      for (Tensor p : m.parameters()) assertTrue(p.requiresGrad(), "parameters require grad");
      assertFalse(m.namedBuffers().get("3.running_mean").requiresGrad(), "buffers do not");
      assertEquals(List.of("scale", "features.0.weight", "features.0.bias", "head.weight", "head.bias"),
          List.copyOf(new Net(d).stateDict().keySet()));
      assertEquals(4, m.size());
      assertTrue(m.get(3) instanceof TestBatchNorm1d);
      assertThrows(IllegalArgumentException.class, () -> m.get(4));
    }
  }

  /** PyTorch's own state_dict (num_batches_tracked an I64 scalar) loads strictly and gives PyTorch's output. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void loadsPyTorchStateDict(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Sequential m = mlp(d, 1);
      SafeTensors.Contents state = Fixtures.load("module/mlp_state");
      m.loadStateDict(state, true);
      m.eval();
      SafeTensors.Contents io = Fixtures.load("module/mlp_io");
      Tensor y = m.forward(io.tensor("in.x", d));
      // Host double accumulation vs PyTorch float32 GEMM over 3 and 4 terms: 1e-5.
      Close.assertClose(io.get("out.y").toFloats(), y.toArray(), 1e-5, 1e-5, "PyTorch model output");
      assertArrayEquals(new long[] {3}, longs(m.namedBuffers().get("3.num_batches_tracked")));
      assertEquals(Shape.of(), m.namedBuffers().get("3.num_batches_tracked").shape());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void stateDictRoundTripsThroughAFile(Device d, @TempDir Path dir) {
    TestDevices.assumeUsable(d);
    Path file = dir.resolve("mlp.safetensors");
    try (Scope s = Scope.open()) {
      Sequential a = mlp(d, 1);
      a.loadStateDict(Fixtures.load("module/mlp_state"), true);
      a.save(file);
      Sequential b = mlp(d, 99);
      Tensor bWeight = b.namedParameters().get("0.weight");
      b.load(file);
      for (String key : MLP_KEYS) {
        Tensor ta = a.stateDict().get(key);
        Tensor tb = b.stateDict().get(key);
        assertEquals(ta.dtype(), tb.dtype(), key);
        assertArrayEquals(ta.toBytes(), tb.toBytes(), key);
      }
      assertSame(bWeight, b.namedParameters().get("0.weight"), "loading writes in place");
      SafeTensors.Contents c = SafeTensors.read(file);
      assertEquals(MLP_KEYS, List.copyOf(c.tensors().keySet()));
      assertEquals("pt", c.metadata().get("format"));
      assertEquals(DType.I64, c.get("3.num_batches_tracked").dtype());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void strictLoadingNamesEveryProblem(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Sequential m = mlp(d, 1);
      Map<String, SafeTensors.Entry> good = Fixtures.load("module/mlp_state").tensors();
      float[] before = m.namedParameters().get("0.weight").toArray();

      Map<String, SafeTensors.Entry> missing = new LinkedHashMap<>(good);
      missing.remove("2.bias");
      assertMessage(() -> m.loadStateDict(missing, true), "missing keys [2.bias]");

      Map<String, SafeTensors.Entry> extra = new LinkedHashMap<>(good);
      extra.put("4.weight", good.get("3.weight"));
      assertMessage(() -> m.loadStateDict(extra, true), "unexpected keys [4.weight]");

      Map<String, SafeTensors.Entry> wrongShape = new LinkedHashMap<>(good);
      SafeTensors.Entry w = good.get("0.weight");
      wrongShape.put("0.weight", new SafeTensors.Entry(w.dtype(), Shape.of(3, 4), w.data()));
      assertMessage(() -> m.loadStateDict(wrongShape, true), "0.weight: expected shape [4, 3] but got [3, 4]");
      // A shape mismatch is an error even when not strict (as in PyTorch); nothing was written.
      assertMessage(() -> m.loadStateDict(wrongShape, false), "0.weight: expected shape [4, 3] but got [3, 4]");
      assertArrayEquals(before, m.namedParameters().get("0.weight").toArray(), "a failed load writes nothing");

      // Not strict: missing and unexpected keys are fine, the rest loads.
      m.loadStateDict(missing, false);
      Close.assertClose(good.get("0.weight").toFloats(), m.namedParameters().get("0.weight").toArray(), 0, 0, "partial load");
      m.loadStateDict(extra, false);

      // num_batches_tracked may be missing even when strict (PyTorch's BatchNorm allows it); it keeps its value.
      Map<String, SafeTensors.Entry> noCounter = new LinkedHashMap<>(good);
      noCounter.remove("3.num_batches_tracked");
      m.loadStateDict(noCounter, true);
      assertArrayEquals(new long[] {3}, longs(m.namedBuffers().get("3.num_batches_tracked")));

      assertThrows(IllegalArgumentException.class, () -> m.loadStateDict((Map<String, SafeTensors.Entry>) null, true));
      assertThrows(IllegalArgumentException.class, () -> m.loadStateDict((SafeTensors.Contents) null, true));
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void trainAndEvalReachEveryDescendant(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Net net = new Net(d);
      assertTrue(net.features.get(1).isTraining());
      net.eval();
      assertFalse(net.isTraining());
      assertFalse(net.features.get(1).isTraining());
      assertFalse(net.head.isTraining());
      net.train();
      assertTrue(net.features.get(0).isTraining());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void registrationRejectsBadInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor ok = Tensor.ones(d, 2);
      expect("name", () -> new Probe(p -> p.registerParameter("a.b", ok)));
      expect("name", () -> new Probe(p -> p.registerParameter("", ok)));
      expect("name", () -> new Probe(p -> p.registerParameter(null, ok)));
      expect("name", () -> new Probe(p -> {
        p.registerParameter("w", ok);
        p.registerBuffer("w", Tensor.ones(d, 2));
      }));
      expect("w", () -> new Probe(p -> p.registerParameter("w", null)));
      expect("w", () -> new Probe(p -> p.registerParameter("w", Activations.relu(Tensor.ones(d, 2).requiresGrad(true)))));
      expect("w", () -> new Probe(p -> p.registerParameter("w", Tensor.ofLongs(d, new long[] {1}, 1))));
      expect("b", () -> new Probe(p -> p.registerBuffer("b", Tensor.ones(d, 2).requiresGrad(true))));
      expect("c", () -> new Probe(p -> p.registerModule("c", null)));
      expect("c", () -> new Probe(p -> p.registerModule("c", p)));
      Sequential outer = new Sequential(new ReLU());
      expect("1", () -> outer.add(new Sequential(outer)));
      Tensor freed = Tensor.ones(d, 2);
      freed.close();
      expect("w", () -> new Probe(p -> p.registerParameter("w", freed)));
    }
  }

  /** A module whose constructor runs a registration under test. */
  private static final class Probe extends Module {
    Probe(java.util.function.Consumer<Probe> body) { body.accept(this); }

    @Override public Tensor forward(Tensor x) { return x; }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sharedModulesAppearOnceInParameters(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      TestLinear shared = new TestLinear(d, 2, 2, 5);
      Sequential m = new Sequential(shared, new ReLU(), shared);
      assertEquals(2, m.parameters().size());
      assertEquals(List.of("0.weight", "0.bias", "2.weight", "2.bias"), List.copyOf(m.stateDict().keySet()));
      Tensor x = Tensor.of(d, new float[] {1, -2}, 1, 2);
      assertSame(x, new Sequential().forward(x), "an empty Sequential is the identity");
    }
  }

  /**
   * Sequential(TestLinear, ReLU, TestLinear) learns a fixed regression target with SGD + MSE;
   * each step runs in its own scope and must not leave tensors behind.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void trainsASmallNetwork(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope model = Scope.open()) {
      Sequential net = new Sequential(new TestLinear(d, 4, 8, 3), new ReLU(), new TestLinear(d, 8, 1, 4));
      Sgd opt = new Sgd(net.parameters(), Sgd.Options.lr(0.05f).withMomentum(0.9f));
      Tensor x = Tensor.uniform(d, 11, -1f, 1f, 16, 4);
      float[] xs = x.toArray();
      float[] ys = new float[16];
      for (int i = 0; i < 16; i++) ys[i] = xs[4 * i] - 2 * xs[4 * i + 1] + 0.5f * xs[4 * i + 2] * xs[4 * i + 3];
      Tensor y = Tensor.of(d, ys, 16, 1);
      float first = Float.NaN;
      float last = Float.NaN;
      long live = -1;
      for (int step = 0; step < 60; step++) {
        try (Scope s = Scope.open()) {
          net.zeroGrad();
          Tensor loss = Losses.mse(net.forward(x), y, Losses.Reduction.MEAN);
          loss.backward();
          opt.step();
          last = loss.item();
          if (step == 0) first = last;
        }
        if (step == 1) live = MemoryStats.liveStorages();
        if (step > 1) assertEquals(live, MemoryStats.liveStorages(), "live storages after step " + step);
      }
      assertTrue(last < 0.1f * first, "loss " + first + " -> " + last);
    }
  }

  private static void assertMessage(Runnable r, String part) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().contains(part), "message should contain '" + part + "': " + e.getMessage());
  }

  private static void expect(String argName, Runnable r) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().startsWith(argName + ":"), "message should name " + argName + ": " + e.getMessage());
  }
}
