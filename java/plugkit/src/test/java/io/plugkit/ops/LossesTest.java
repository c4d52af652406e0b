package io.plugkit.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Losses.CrossEntropyOptions;
import io.plugkit.ops.Losses.Reduction;
import io.plugkit.testing.Close;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class LossesTest {
  private static final String[] CE_CASES = {"ce_mean_plain", "ce_sum_ignore", "ce_none_smooth", "ce_mean_ignore_smooth",
      "ce_mean_weight", "ce_mean_weight_smooth", "ce_sum_weight_smooth", "ce_spatial_mean", "ce_spatial_none_weight",
      "ce_wide_weight_smooth", "ce_wide_none"};
  private static final String[] MSE_CASES = {"mse_mean", "mse_sum", "mse_none"};

  static long[] longs(SafeTensors.Entry e) {
    long[] out = new long[Math.toIntExact(e.shape().numel())];
    ByteBuffer.wrap(e.data()).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out);
    return out;
  }

  private static Reduction reduction(SafeTensors.Contents fx) {
    return Reduction.valueOf(fx.metadata().get("reduction").toUpperCase(Locale.ROOT));
  }

  // Tolerances against PyTorch: float32 on both sides, log-sum-exp over <= 9 classes and sums over
  // <= 18 rows; differences come from summation order and expf/logf rounding (~1e-6 relative).
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void crossEntropyMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CE_CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("loss/" + name);
        Tensor logits = fx.tensor("in.logits", d).requiresGrad(true);
        SafeTensors.Entry t = fx.get("in.target");
        Tensor target = Tensor.ofLongs(d, longs(t), t.shape().dims());
        CrossEntropyOptions o = CrossEntropyOptions.defaults().withReduction(reduction(fx))
            .withIgnoreIndex(Long.parseLong(fx.metadata().get("ignore_index")))
            .withLabelSmoothing(Float.parseFloat(fx.metadata().get("label_smoothing")));
        if (fx.tensors().containsKey("in.weight")) o = o.withWeight(fx.tensor("in.weight", d));
        Tensor loss = Losses.crossEntropy(logits, target, o);
        assertEquals(fx.get("out.loss").shape(), loss.shape(), name + " loss shape");
        Close.assertClose(fx.get("out.loss").toFloats(), loss.toArray(), 1e-5, 1e-5, name + " loss");
        loss.backward(fx.tensor("in.gout", d));
        Close.assertClose(fx.get("grad.logits").toFloats(), logits.grad().toArray(), 1e-6, 1e-4, name + " grad logits");
        // The Java reference agrees with PyTorch too (it is what the random-shape tests trust).
        int[] dims = logits.dims();
        int spatial = dims.length == 2 ? 1 : Math.toIntExact(logits.numel() / dims[0] / dims[1]);
        float[] w = fx.tensors().containsKey("in.weight") ? fx.get("in.weight").toFloats() : null;
        double[] ref = LossReference.crossEntropy(LossReference.toDouble(fx.get("in.logits").toFloats()), dims[0], dims[1],
            spatial, longs(t), w, o.ignoreIndex(), o.labelSmoothing(), o.reduction());
        Close.assertClose(ref, fx.get("out.loss").toFloats(), 1e-5, 1e-5, name + " reference vs PyTorch");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void mseMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : MSE_CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("loss/" + name);
        Tensor x = fx.tensor("in.input", d).requiresGrad(true);
        Tensor y = fx.tensor("in.target", d).requiresGrad(true);
        Tensor loss = Losses.mse(x, y, reduction(fx));
        assertEquals(fx.get("out.loss").shape(), loss.shape(), name + " loss shape");
        Close.assertClose(fx.get("out.loss").toFloats(), loss.toArray(), 1e-6, 1e-5, name + " loss");
        loss.backward(fx.tensor("in.gout", d));
        Close.assertClose(fx.get("grad.input").toFloats(), x.grad().toArray(), 1e-6, 1e-5, name + " grad input");
        Close.assertClose(fx.get("grad.target").toFloats(), y.grad().toArray(), 1e-6, 1e-5, name + " grad target");
      }
    }
  }

  /** Random odd shapes (prime N and C, spatial dims) against the double reference, every option combination. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void crossEntropyMatchesReferenceOnRandomShapes(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{13, 7}, {1, 1}, {5, 3, 2, 3}, {2, 11, 5}};
    int seed = 0;
    for (int[] shape : shapes) {
      for (Reduction red : Reduction.values()) {
        for (boolean weighted : new boolean[] {false, true}) {
          for (float smoothing : new float[] {0f, 0.3f, 1f}) {
            seed++;
            checkAgainstReference(d, shape, red, weighted, smoothing, seed);
          }
        }
      }
    }
  }

  private static void checkAgainstReference(Device d, int[] shape, Reduction red, boolean weighted, float smoothing, int seed) {
    String what = Arrays.toString(shape) + " " + red + " weighted=" + weighted + " smoothing=" + smoothing;
    int n = shape[0];
    int c = shape[1];
    int spatial = 1;
    for (int i = 2; i < shape.length; i++) spatial *= shape[i];
    int[] targetDims = new int[shape.length - 1];
    targetDims[0] = n;
    System.arraycopy(shape, 2, targetDims, 1, shape.length - 2);
    SplittableRandom r = new SplittableRandom(seed);
    long ignore = 3;
    long[] target = new long[n * spatial];
    for (int i = 0; i < target.length; i++) target[i] = i % 4 == 1 ? ignore : r.nextInt(c);
    if (Arrays.stream(target).allMatch(t -> t == ignore)) target[0] = 0;
    float[] w = null;
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.uniform(d, seed, -3f, 3f, shape).requiresGrad(true);
      CrossEntropyOptions o = CrossEntropyOptions.defaults().withReduction(red).withIgnoreIndex(ignore).withLabelSmoothing(smoothing);
      if (weighted) {
        Tensor wt = Tensor.uniform(d, seed + 1000, 0.1f, 2f, c);
        w = wt.toArray();
        o = o.withWeight(wt);
      }
      Tensor loss = Losses.crossEntropy(logits, Tensor.ofLongs(d, target, targetDims), o);
      Tensor gout = Tensor.uniform(d, seed + 2000, -1f, 1f, loss.dims());
      float[] g = gout.toArray();
      loss.backward(gout);
      double[] z = LossReference.toDouble(logits.toArray());
      final float[] weights = w;
      final int sp = spatial;
      // Forward: float32 log-sum-exp over <= 11 classes vs double: ~1e-6 relative.
      Close.assertClose(LossReference.crossEntropy(z, n, c, sp, target, weights, ignore, smoothing, red), loss.toArray(),
          1e-5, 1e-5, what + " loss");
      // Backward vs central differences (h = 1e-5 in double, error ~1e-9) of the double reference.
      double[] ref = LossReference.gradient(v -> LossReference.crossEntropy(v, n, c, sp, target, weights, ignore, smoothing, red), z, g);
      Close.assertClose(ref, logits.grad().toArray(), 1e-5, 1e-4, what + " grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void mseMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    for (Reduction red : Reduction.values()) {
      try (Scope s = Scope.open()) {
        // 5003 elements: more than the host's parallel threshold, and not a multiple of the GPU block.
        Tensor x = Tensor.uniform(d, 1, -2f, 2f, 7, 5003 / 7 + 1).requiresGrad(true);
        Tensor y = Tensor.uniform(d, 2, -2f, 2f, x.dims());
        Tensor loss = Losses.mse(x, y, red);
        double[] xs = LossReference.toDouble(x.toArray());
        double[] ys = LossReference.toDouble(y.toArray());
        // Sums of ~5000 squares in float32 (GPU tree) or double (host): 1e-5 relative.
        Close.assertClose(LossReference.mse(xs, ys, red), loss.toArray(), 1e-6, 1e-5, red + " mse");
        Tensor gout = Tensor.uniform(d, 3, -1f, 1f, loss.dims());
        float[] g = gout.toArray();
        loss.backward(gout);
        double scale = red == Reduction.MEAN ? 1.0 / xs.length : 1.0;
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) expected[i] = 2 * scale * (xs[i] - ys[i]) * g[red == Reduction.NONE ? i : 0];
        Close.assertClose(expected, x.grad().toArray(), 1e-7, 1e-5, red + " mse grad input");
        assertEquals(null, y.grad(), "target did not require grad");
      }
    }
  }

  /** Logits of 1e4 would overflow exp() without the max shift. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void crossEntropyIsStableForHugeLogits(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.of(d, new float[] {1e4f, -1e4f, 0f, 5e3f, 5e3f, 5e3f}, 2, 3).requiresGrad(true);
      Tensor loss = Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {0, 2}, 2),
          CrossEntropyOptions.defaults().withReduction(Reduction.NONE));
      Close.assertClose(new float[] {0f, (float) Math.log(3)}, loss.toArray(), 1e-6, 1e-6, "huge logits loss");
      loss.backward(Tensor.ones(d, 2));
      float third = 1f / 3;
      Close.assertClose(new float[] {0, 0, 0, third, third, third - 1}, logits.grad().toArray(), 1e-6, 1e-5, "huge logits grad");
    }
  }

  /** PyTorch: all targets ignored gives NaN for mean (0 / 0) and zero gradients; an empty batch too. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void allIgnoredAndEmptyBatches(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.uniform(d, 5, -1f, 1f, 3, 4).requiresGrad(true);
      Tensor target = Tensor.ofLongs(d, new long[] {-100, -100, -100}, 3);
      Tensor mean = Losses.crossEntropy(logits, target);
      assertEquals(Shape.of(), mean.shape());
      assertTrue(Float.isNaN(mean.item()), "mean over no targets is NaN");
      mean.backward();
      assertArrayEquals(new float[12], logits.grad().toArray());
      Tensor sum = Losses.crossEntropy(logits, target, CrossEntropyOptions.defaults().withReduction(Reduction.SUM));
      assertEquals(0f, sum.item());

      Tensor empty = Tensor.empty(d, 0, 5);
      Tensor none = Tensor.ofLongs(d, new long[0], 0);
      assertTrue(Float.isNaN(Losses.crossEntropy(empty, none).item()), "empty mean is NaN");
      assertEquals(0f, Losses.crossEntropy(empty, none, CrossEntropyOptions.defaults().withReduction(Reduction.SUM)).item());
      assertEquals(Shape.of(0), Losses.crossEntropy(empty, none, CrossEntropyOptions.defaults().withReduction(Reduction.NONE)).shape());
      assertTrue(Float.isNaN(Losses.mse(empty, empty, Reduction.MEAN).item()), "empty mse mean is NaN");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void crossEntropyRejectsBadInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.zeros(d, 2, 3);
      Tensor target = Tensor.ofLongs(d, new long[] {0, 2}, 2);
      CrossEntropyOptions o = CrossEntropyOptions.defaults();
      expect("target", () -> Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {0, 3}, 2)));
      expect("target", () -> Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {-1, 0}, 2)));
      expect("target", () -> Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {0, -100}, 2), o.withIgnoreIndex(1)));
      expect("target", () -> Losses.crossEntropy(logits, Tensor.zeros(d, 2)));
      expect("target", () -> Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {0, 1, 2}, 3)));
      expect("target", () -> Losses.crossEntropy(logits, Tensor.ofLongs(d, new long[] {0, 1}, 2, 1)));
      expect("target", () -> Losses.crossEntropy(logits, null));
      expect("logits", () -> Losses.crossEntropy(null, target));
      expect("logits", () -> Losses.crossEntropy(Tensor.zeros(d, 3), target));
      expect("logits.dim(1)", () -> Losses.crossEntropy(Tensor.zeros(d, 2, 0), target));
      expect("labelSmoothing", () -> Losses.crossEntropy(logits, target, o.withLabelSmoothing(1.5f)));
      expect("labelSmoothing", () -> Losses.crossEntropy(logits, target, o.withLabelSmoothing(-0.1f)));
      expect("labelSmoothing", () -> Losses.crossEntropy(logits, target, o.withLabelSmoothing(Float.NaN)));
      expect("weight", () -> Losses.crossEntropy(logits, target, o.withWeight(Tensor.ones(d, 4))));
      expect("weight", () -> Losses.crossEntropy(logits, target, o.withWeight(Tensor.ones(d, 1, 3))));
      expect("weight", () -> Losses.crossEntropy(logits, target, o.withWeight(Tensor.ones(d, 3).requiresGrad(true))));
      expect("reduction", () -> Losses.crossEntropy(logits, target, o.withReduction(null)));
      expect("options", () -> Losses.crossEntropy(logits, target, null));
      Tensor freed = Tensor.zeros(d, 2, 3);
      freed.close();
      expect("logits", () -> Losses.crossEntropy(freed, target));
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void mseRejectsBadInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 3);
      expect("target", () -> Losses.mse(x, Tensor.zeros(d, 3, 2), Reduction.MEAN));
      expect("target", () -> Losses.mse(x, null, Reduction.MEAN));
      expect("target", () -> Losses.mse(x, Tensor.ofLongs(d, new long[6], 2, 3), Reduction.MEAN));
      expect("input", () -> Losses.mse(null, x, Reduction.MEAN));
      expect("reduction", () -> Losses.mse(x, x, null));
    }
  }

  private static void expect(String argName, Runnable r) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().startsWith(argName + ":"), "message should name " + argName + ": " + e.getMessage());
  }
}
