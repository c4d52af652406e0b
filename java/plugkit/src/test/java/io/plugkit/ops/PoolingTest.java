package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class PoolingTest {
  // Max pooling selects one input value: outputs and indices must be exact.
  // Gradients sum at most a few products of fixture floats, in another order than PyTorch's
  // scatter: 1e-6 absolute plus 1e-6 relative covers float reassociation of values below ~4.
  private static final double GRAD_ATOL = 1e-6;
  private static final double GRAD_RTOL = 1e-6;
  // Averages: a float sum of up to 12 values in [-1, 1] then a division; reassociation and
  // double-vs-float accumulation differ by a few ulps of the sum.
  private static final double AVG_ATOL = 1e-6;
  private static final double AVG_RTOL = 1e-5;

  private static final List<String> MAX_CASES = List.of("max_k3x2_s2x1_p1x0", "max_k2_default_stride_odd", "max_dilated",
      "max_ceil_partial_window", "max_ceil_drops_window_in_padding", "max_ties_overlapping", "max_nan_and_neg_inf",
      "max_ties_ceil_stride_lt_kernel");
  private static final List<String> AVG_CASES = List.of("avg_k3x2_s2x1_p1x1_incl", "avg_k3x2_s2x1_p1x1_excl",
      "avg_ceil_overhang_incl", "avg_ceil_overhang_excl", "avg_ceil_no_pad", "avg_divisor_override", "avg_overlapping",
      "avg_many_planes_ceil_excl", "avg_many_planes_overlap_override");
  private static final List<String> GLOBAL_CASES = List.of("global_odd", "global_one_pixel", "global_large_plane",
      "global_ties", "global_nan_and_neg_inf");

  private static int[] pair(Map<String, String> meta, String key) {
    return Arrays.stream(meta.get(key).split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private static boolean flag(Map<String, String> meta, String key) { return meta.get(key).equals("1"); }

  private static MaxPool2dOptions maxOptions(Map<String, String> m) {
    return MaxPool2dOptions.kernel(pair(m, "kernel")).stride(pair(m, "stride")).padding(pair(m, "padding"))
        .dilation(pair(m, "dilation")).ceilMode(flag(m, "ceil_mode"));
  }

  private static AvgPool2dOptions avgOptions(Map<String, String> m) {
    return AvgPool2dOptions.kernel(pair(m, "kernel")).stride(pair(m, "stride")).padding(pair(m, "padding"))
        .ceilMode(flag(m, "ceil_mode")).countIncludePad(flag(m, "count_include_pad"))
        .divisorOverride(Integer.parseInt(m.get("divisor_override")));
  }

  private static long[] longs(float[] f) {
    long[] l = new long[f.length];
    for (int i = 0; i < f.length; i++) l[i] = (long) f[i];
    return l;
  }

  // ---- PyTorch fixtures -----------------------------------------------------------------

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void maxPoolMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : MAX_CASES) {
      SafeTensors.Contents fx = Fixtures.load("pool/" + name);
      MaxPool2dOptions o = maxOptions(fx.metadata());
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Pooling.MaxPoolResult r = Pooling.maxPool2dWithIndices(x, o);
        assertEquals(fx.get("out.y").shape(), r.output().shape(), name + " output shape");
        assertClose(fx.get("out.y").toFloats(), r.output().toArray(), 0, 0, name + " output");
        assertArrayEquals(longs(fx.get("out.indices").toFloats()), r.indices().toLongArray(), name + " indices");
        r.output().backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad x");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void avgPoolMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : AVG_CASES) {
      SafeTensors.Contents fx = Fixtures.load("pool/" + name);
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = Pooling.avgPool2d(x, avgOptions(fx.metadata()));
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " output shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), AVG_ATOL, AVG_RTOL, name + " output");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), AVG_ATOL, AVG_RTOL, name + " grad x");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void globalPoolsMatchPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : GLOBAL_CASES) {
      SafeTensors.Contents fx = Fixtures.load("pool/" + name);
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor avg = Pooling.globalAvgPool2d(x);
        assertEquals(fx.get("out.avg").shape(), avg.shape(), name + " avg shape");
        // A mean of up to ~1000 values in [-1, 1]: PyTorch sums in float, the kernels in double
        // (host) or in a float tree (GPU); the sums differ by a few ulps of the running sum.
        assertClose(fx.get("out.avg").toFloats(), avg.toArray(), 1e-6, 1e-5, name + " avg");
        avg.backward(fx.tensor("in.gout_avg", d));
        assertClose(fx.get("grad.x_avg").toFloats(), x.grad().toArray(), 0, 1e-6, name + " avg grad x");
      }
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor max = Pooling.globalMaxPool2d(x);
        assertClose(fx.get("out.max").toFloats(), max.toArray(), 0, 0, name + " max");
        max.backward(fx.tensor("in.gout_max", d));
        // The gradient is one copied value per plane: exact.
        assertClose(fx.get("grad.x_max").toFloats(), x.grad().toArray(), 0, 0, name + " max grad x");
      }
    }
  }

  @Test
  void referencesMatchPyTorch() {
    for (String name : MAX_CASES) {
      SafeTensors.Contents fx = Fixtures.load("pool/" + name);
      int[] s = fx.get("in.x").shape().dims();
      PoolingReference.MaxResult r = PoolingReference.maxPool(fx.get("in.x").toFloats(), s[0], s[1], s[2], s[3],
          maxOptions(fx.metadata()));
      assertClose(fx.get("out.y").toFloats(), r.y(), 0, 0, name + " reference output");
      assertArrayEquals(longs(fx.get("out.indices").toFloats()), r.indices(), name + " reference indices");
      assertClose(PoolingReference.maxPoolBackward(r.indices(), fx.get("in.gout").toFloats(), s[0], s[1], s[2], s[3]),
          fx.get("grad.x").toFloats(), GRAD_ATOL, GRAD_RTOL, name + " reference grad");
    }
    for (String name : AVG_CASES) {
      SafeTensors.Contents fx = Fixtures.load("pool/" + name);
      int[] s = fx.get("in.x").shape().dims();
      AvgPool2dOptions o = avgOptions(fx.metadata());
      assertClose(PoolingReference.avgPool(fx.get("in.x").toFloats(), s[0], s[1], s[2], s[3], o),
          fx.get("out.y").toFloats(), AVG_ATOL, AVG_RTOL, name + " reference output");
      assertClose(PoolingReference.avgPoolBackward(fx.get("in.gout").toFloats(), s[0], s[1], s[2], s[3], o),
          fx.get("grad.x").toFloats(), AVG_ATOL, AVG_RTOL, name + " reference grad");
    }
  }

  // ---- pure-Java reference over many geometries -----------------------------------------

  private static final int[][] GEOMETRIES = {
      // n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw
      {2, 3, 7, 5, 3, 2, 2, 1, 1, 0, 1, 1},
      {1, 2, 8, 9, 2, 3, 3, 2, 1, 1, 2, 1},
      {3, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1},
      {1, 4, 11, 4, 5, 1, 2, 3, 2, 0, 1, 2},
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1},
      {0, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1},
      {5, 3, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1},
  };

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void maxPoolMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] g : GEOMETRIES) {
      for (boolean ceil : new boolean[] {false, true}) {
        MaxPool2dOptions o = MaxPool2dOptions.kernel(g[4], g[5]).stride(g[6], g[7]).padding(g[8], g[9])
            .dilation(g[10], g[11]).ceilMode(ceil);
        String what = Arrays.toString(g) + " ceil " + ceil;
        try (Scope s = Scope.open()) {
          // Rounded values: many ties in overlapping windows.
          Tensor x = roundedUniform(d, 31, g[0], g[1], g[2], g[3]).requiresGrad(true);
          Tensor y = Pooling.maxPool2d(x, o);
          PoolingReference.MaxResult r = PoolingReference.maxPool(x.toArray(), g[0], g[1], g[2], g[3], o);
          assertEquals(Shape.of(g[0], g[1], r.outH(), r.outW()), y.shape(), what + " shape");
          assertClose(r.y(), y.toArray(), 0, 0, what + " output");
          Tensor gout = Tensor.uniform(d, 7, -1, 1, y.dims());
          y.backward(gout);
          assertClose(PoolingReference.maxPoolBackward(r.indices(), gout.toArray(), g[0], g[1], g[2], g[3]),
              x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad x");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void avgPoolMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] g : GEOMETRIES) {
      for (int variant = 0; variant < 4; variant++) {
        AvgPool2dOptions o = AvgPool2dOptions.kernel(g[4], g[5]).stride(g[6], g[7]).padding(g[8], g[9])
            .ceilMode((variant & 1) != 0).countIncludePad((variant & 2) != 0).divisorOverride(variant == 3 ? 7 : 0);
        String what = Arrays.toString(g) + " variant " + variant;
        try (Scope s = Scope.open()) {
          Tensor x = Tensor.uniform(d, 32, -1, 1, g[0], g[1], g[2], g[3]).requiresGrad(true);
          Tensor y = Pooling.avgPool2d(x, o);
          assertClose(PoolingReference.avgPool(x.toArray(), g[0], g[1], g[2], g[3], o), y.toArray(), AVG_ATOL, AVG_RTOL,
              what + " output");
          Tensor gout = Tensor.uniform(d, 8, -1, 1, y.dims());
          y.backward(gout);
          assertClose(PoolingReference.avgPoolBackward(gout.toArray(), g[0], g[1], g[2], g[3], o), x.grad().toArray(),
              AVG_ATOL, AVG_RTOL, what + " grad x");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void globalPoolsMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    // 300x301 planes: more pixels than a GPU block has threads, so every thread reduces several.
    int[][] shapes = {{2, 3, 7, 5}, {1, 2, 300, 301}, {0, 3, 4, 4}, {4, 1, 1, 9}};
    for (int[] sh : shapes) {
      try (Scope s = Scope.open()) {
        Tensor x = roundedUniform(d, 33, sh).requiresGrad(true);
        float[] xs = x.toArray();
        Tensor avg = Pooling.globalAvgPool2d(x);
        // Means of up to 90300 values: float tree sums on the GPU drift by ~1e-6 relative to the sum.
        assertClose(PoolingReference.globalAvg(xs, sh[0] * sh[1], sh[2] * sh[3]), avg.toArray(), 1e-5, 1e-5,
            Arrays.toString(sh) + " avg");
        Tensor max = Pooling.globalMaxPool2d(x);
        PoolingReference.MaxResult r = PoolingReference.globalMax(xs, sh[0], sh[1], sh[2], sh[3]);
        assertClose(r.y(), max.toArray(), 0, 0, Arrays.toString(sh) + " max");
        Tensor gout = Tensor.uniform(d, 9, -1, 1, max.dims());
        max.backward(gout);
        assertClose(PoolingReference.maxPoolBackward(r.indices(), gout.toArray(), sh[0], sh[1], sh[2], sh[3]),
            x.grad().toArray(), 0, 0, Arrays.toString(sh) + " max grad x");
      }
    }
  }

  /** Values in {-2, -1, 0, 1}: ties everywhere. */
  private static Tensor roundedUniform(Device d, long seed, int... dims) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
    for (int i = 0; i < v.length; i++) v[i] = r.nextInt(-2, 2);
    return Tensor.of(d, v, dims);
  }

  // ---- edge cases -----------------------------------------------------------------------

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void windowOfOnlyPaddingGivesNegativeInfinityAndNoGradient(Device d) {
    TestDevices.assumeUsable(d);
    // H = 2, kernel 2, dilation 3, padding 1: the taps of output row 0 are rows -1 and 2, both
    // outside. PyTorch reports -inf with an index outside the plane; here the index is -1.
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1, 2, 3, 4, 5, 6}, 1, 1, 2, 3).requiresGrad(true);
      Pooling.MaxPoolResult r = Pooling.maxPool2dWithIndices(x, MaxPool2dOptions.kernel(2).stride(1).padding(1).dilation(3));
      assertEquals(Shape.of(1, 1, 1, 2), r.output().shape());
      assertArrayEquals(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, r.output().toArray());
      assertArrayEquals(new long[] {-1, -1}, r.indices().toLongArray());
      r.output().backward(Tensor.ones(d, 1, 1, 1, 2));
      assertArrayEquals(new float[6], x.grad().toArray());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void withoutGradientTheIndicesAreFreedAtOnce(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 1, -1, 1, 1, 2, 4, 4);
      Pooling.maxPool2d(x, 2);
      Pooling.globalMaxPool2d(x);
      assertEquals(3, s.size(), "x and the two outputs");
    }
  }

  // ---- bad input ------------------------------------------------------------------------

  @Test
  void rejectsBadTensors() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor rank3 = Tensor.zeros(d, 2, 4, 4);
      Tensor noChannels = Tensor.zeros(d, 1, 0, 4, 4);
      Tensor longs = Tensor.empty(d, DType.I64, Shape.of(1, 1, 4, 4));
      Tensor freed = Tensor.zeros(d, 1, 1, 4, 4);
      freed.close();
      for (Tensor bad : new Tensor[] {null, rank3, noChannels, longs, freed}) {
        assertRejects("x", () -> Pooling.maxPool2d(bad, 2));
        assertRejects("x", () -> Pooling.avgPool2d(bad, 2));
        assertRejects("x", () -> Pooling.globalAvgPool2d(bad));
        assertRejects("x", () -> Pooling.globalMaxPool2d(bad));
      }
      Tensor x = Tensor.zeros(d, 1, 1, 4, 4);
      assertRejects("options", () -> Pooling.maxPool2d(x, (MaxPool2dOptions) null));
      assertRejects("options", () -> Pooling.avgPool2d(x, (AvgPool2dOptions) null));
    }
  }

  @Test
  void rejectsBadGeometry() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(Device.cpu(), 1, 1, 4, 5);
      // Kernel larger than the padded input: output size 0.
      assertRejects("x", () -> Pooling.maxPool2d(x, 6));
      assertRejects("x", () -> Pooling.avgPool2d(x, AvgPool2dOptions.kernel(4, 8).padding(1)));
      assertRejects("x", () -> Pooling.maxPool2d(x, MaxPool2dOptions.kernel(3).dilation(3)));
    }
    assertRejects("padH", () -> MaxPool2dOptions.kernel(3).padding(2));
    assertRejects("padW", () -> AvgPool2dOptions.kernel(4, 3).padding(2, 2));
    // PyTorch measures the padding against the kernel before dilation.
    assertRejects("padH", () -> MaxPool2dOptions.kernel(3).dilation(2).padding(2));
    assertRejects("padH", () -> AvgPool2dOptions.kernel(3).padding(-1));
    assertRejects("strideH", () -> MaxPool2dOptions.kernel(3).stride(0));
    assertRejects("strideW", () -> AvgPool2dOptions.kernel(3).stride(1, -2));
    assertRejects("kernelH", () -> MaxPool2dOptions.kernel(0, 2));
    assertRejects("kernelW", () -> AvgPool2dOptions.kernel(2, -1));
    assertRejects("dilationW", () -> MaxPool2dOptions.kernel(2).dilation(1, 0));
    assertRejects("kernel", () -> MaxPool2dOptions.kernel(1, 2, 3));
    assertRejects("stride", () -> AvgPool2dOptions.kernel(2).stride());
  }
}
