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
import io.plugkit.ops.BlurPool.PadType;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class BlurPoolTest {
  // Outputs are weighted means (filter weights sum to 1) of up to 49 values in [-1, 3); PyTorch's
  // conv and the kernels sum in float in different orders, the reference in double: a few ulps of
  // values below 3.
  private static final double ATOL = 2e-6;
  private static final double RTOL = 1e-5;
  // Gradients sum up to filtSize^2 / stride^2 products per source pixel, several times over where
  // reflect or replicate folds padding back (replicate's corners take a whole padded corner), and
  // MaxBlurPool adds up to four windows: values stay below ~4, a few ulps of them.
  private static final double GRAD_ATOL = 4e-6;
  private static final double GRAD_RTOL = 1e-5;

  private static final Map<String, PadType> PAD_TYPES =
      Map.of("reflect", PadType.REFLECT, "replicate", PadType.REPLICATE, "zero", PadType.ZERO);
  private static final List<String> EXTRA_CASES = List.of("pad_off_blur_k1_reflect", "pad_off_blur_k3_zero",
      "pad_off_blur_k4_replicate", "pad_off_max_blur_k4_reflect", "pad_off_max_blur_k2_zero", "tiny_blur_k7_reflect",
      "tiny_blur_k5_replicate_one_row", "tiny_max_blur_k3_replicate_2x2", "tiny_max_blur_k5_reflect");

  private static Tensor apply(boolean maxFirst, Tensor x, int filtSize, int stride, PadType padType, int padOff) {
    return maxFirst ? BlurPool.maxBlurPool(x, filtSize, stride, padType, padOff)
        : BlurPool.blurPool(x, filtSize, stride, padType, padOff);
  }

  // ---- PyTorch fixtures -----------------------------------------------------------------

  /** Every filtSize 1..7 at stride 1, 2, 3, for each op and pad type (fx_blur_pool.py sweep). */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sweepMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (boolean maxFirst : new boolean[] {false, true}) {
      for (Map.Entry<String, PadType> pad : PAD_TYPES.entrySet()) {
        String file = (maxFirst ? "max_blur_" : "blur_") + pad.getKey();
        SafeTensors.Contents fx = Fixtures.load("blur_pool/" + file);
        for (int f = 1; f <= 7; f++) {
          for (int s = 1; s <= 3; s++) {
            String key = "k" + f + "_s" + s;
            String what = file + " " + key;
            try (Scope scope = Scope.open()) {
              Tensor x = fx.tensor("in.x", d).requiresGrad(true);
              Tensor y = apply(maxFirst, x, f, s, pad.getValue(), 0);
              assertEquals(fx.get(key + ".out.y").shape(), y.shape(), what + " shape");
              assertClose(fx.get(key + ".out.y").toFloats(), y.toArray(), ATOL, RTOL, what + " output");
              y.backward(fx.tensor(key + ".in.gout", d));
              assertClose(fx.get(key + ".grad.x").toFloats(), x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad x");
            }
          }
        }
      }
    }
  }

  /** padOff > 0 and the smallest inputs each padding allows. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void padOffAndTinyInputsMatchPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : EXTRA_CASES) {
      SafeTensors.Contents fx = Fixtures.load("blur_pool/" + name);
      Map<String, String> m = fx.metadata();
      try (Scope scope = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = apply(m.get("op").equals("max_blur"), x, Integer.parseInt(m.get("filt_size")),
            Integer.parseInt(m.get("stride")), PadType.of(m.get("pad_type")), Integer.parseInt(m.get("pad_off")));
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " output");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad x");
      }
    }
  }

  /** The composed reference (pad, depthwise conv, max pool) against PyTorch, so it can stand in below. */
  @Test
  void referenceMatchesPyTorch() {
    for (boolean maxFirst : new boolean[] {false, true}) {
      for (Map.Entry<String, PadType> pad : PAD_TYPES.entrySet()) {
        SafeTensors.Contents fx = Fixtures.load("blur_pool/" + (maxFirst ? "max_blur_" : "blur_") + pad.getKey());
        int[] s = fx.get("in.x").shape().dims();
        float[] x = fx.get("in.x").toFloats();
        for (int f = 1; f <= 7; f++) {
          for (int st = 1; st <= 3; st++) {
            String key = "k" + f + "_s" + st;
            BlurPoolReference.Result r = BlurPoolReference.forward(x, s[0], s[1], s[2], s[3], f, st, pad.getValue(), 0, maxFirst);
            assertClose(r.y(), fx.get(key + ".out.y").toFloats(), ATOL, RTOL, key + " reference output");
            double[] dx = BlurPoolReference.backward(x, fx.get(key + ".in.gout").toFloats(), s[0], s[1], s[2], s[3], f, st,
                pad.getValue(), 0, maxFirst);
            assertClose(dx, fx.get(key + ".grad.x").toFloats(), GRAD_ATOL, GRAD_RTOL, key + " reference grad");
          }
        }
      }
    }
  }

  // ---- reference on shapes the fixtures do not cover ------------------------------------

  /** Random shapes (prime batch, non-square, padOff, large strides) against the reference. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void randomShapesMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    SplittableRandom rnd = new SplittableRandom(12);
    for (int t = 0; t < 24; t++) {
      boolean maxFirst = t % 2 == 1;
      int f = 1 + rnd.nextInt(7);
      int stride = 1 + rnd.nextInt(4);
      int padOff = rnd.nextInt(3);
      PadType pad = PadType.values()[t % 3];
      int n = new int[] {1, 2, 3, 5}[rnd.nextInt(4)];
      int c = 1 + rnd.nextInt(3);
      int min = (maxFirst ? 1 : 0) + (pad == PadType.REFLECT ? BlurPool.padHi(f, padOff) + 1 : 1);
      int h = min + rnd.nextInt(12);
      int w = min + rnd.nextInt(17);
      float[] xv = new float[n * c * h * w];
      // Few levels under MaxBlurPool, so windows tie.
      for (int i = 0; i < xv.length; i++) xv[i] = maxFirst ? rnd.nextInt(3) : (float) rnd.nextDouble(-1, 1);
      String what = (maxFirst ? "max_blur" : "blur") + " f" + f + " s" + stride + " off" + padOff + " " + pad + " "
          + n + "x" + c + "x" + h + "x" + w;
      try (Scope scope = Scope.open()) {
        Tensor x = Tensor.of(d, xv, n, c, h, w).requiresGrad(true);
        Tensor y = apply(maxFirst, x, f, stride, pad, padOff);
        BlurPoolReference.Result r = BlurPoolReference.forward(xv, n, c, h, w, f, stride, pad, padOff, maxFirst);
        assertEquals(Shape.of(n, c, r.outH(), r.outW()), y.shape(), what + " shape");
        assertClose(r.y(), y.toArray(), ATOL, RTOL, what + " output");
        float[] g = new float[(int) y.numel()];
        for (int i = 0; i < g.length; i++) g[i] = (float) rnd.nextDouble(-1, 1);
        y.backward(Tensor.of(d, g, n, c, r.outH(), r.outW()));
        double[] dx = BlurPoolReference.backward(xv, g, n, c, h, w, f, stride, pad, padOff, maxFirst);
        assertClose(dx, x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad x");
      }
    }
  }

  /** Ties in every window: the gradient goes to the first pixel in row-major order, as PyTorch's. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void maxBlurTiesGoToTheFirstPixel(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope scope = Scope.open()) {
      // filtSize 1, stride 1: y is the max map itself; a constant 3x3 input ties everywhere, so
      // window (i, j) gives its gradient to (i, j).
      Tensor x = Tensor.ones(d, 1, 1, 3, 3).requiresGrad(true);
      Tensor y = BlurPool.maxBlurPool(x, 1, 1, PadType.ZERO, 0);
      assertEquals(Shape.of(1, 1, 2, 2), y.shape());
      y.backward(Tensor.of(d, new float[] {1, 2, 3, 4}, 1, 1, 2, 2));
      assertArrayEquals(new float[] {1, 2, 0, 3, 4, 0, 0, 0, 0}, x.grad().toArray());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchGivesEmptyOutputAndGradient(Device d) {
    TestDevices.assumeUsable(d);
    for (boolean maxFirst : new boolean[] {false, true}) {
      try (Scope scope = Scope.open()) {
        Tensor x = Tensor.zeros(d, 0, 3, 7, 6).requiresGrad(true);
        Tensor y = apply(maxFirst, x, 4, 2, PadType.REFLECT, 0);
        assertEquals(maxFirst ? Shape.of(0, 3, 3, 3) : Shape.of(0, 3, 4, 3), y.shape());
        y.backward(Tensor.zeros(d, 0, 3, y.dim(2), y.dim(3)));
        assertEquals(x.shape(), x.grad().shape());
      }
    }
  }

  // ---- bad input ------------------------------------------------------------------------

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor rank3 = Tensor.zeros(d, 2, 4, 4);
      Tensor noChannels = Tensor.zeros(d, 1, 0, 4, 4);
      Tensor longs = Tensor.empty(d, DType.I64, Shape.of(1, 1, 4, 4));
      for (Tensor bad : new Tensor[] {null, rank3, noChannels, longs}) {
        assertRejects("x", () -> BlurPool.blurPool(bad));
        assertRejects("x", () -> BlurPool.maxBlurPool(bad, 3, 2, PadType.ZERO, 0));
      }
      Tensor x = Tensor.zeros(d, 1, 2, 5, 6);
      assertRejects("filtSize", () -> BlurPool.blurPool(x, 0, 2, PadType.REFLECT, 0));
      assertRejects("filtSize", () -> BlurPool.maxBlurPool(x, 8, 2, PadType.REFLECT, 0));
      assertRejects("stride", () -> BlurPool.blurPool(x, 3, 0, PadType.REFLECT, 0));
      assertRejects("stride", () -> BlurPool.maxBlurPool(x, 3, -1, PadType.ZERO, 0));
      assertRejects("padType", () -> BlurPool.blurPool(x, 3, 2, null, 0));
      assertRejects("padType", () -> PadType.of("circular"));
      assertRejects("padOff", () -> BlurPool.blurPool(x, 3, 2, PadType.ZERO, -1));
      // Reflect needs pad < size: filtSize 7 pads 3 and 3, H = 5 is fine for BlurPool but the
      // max map of MaxBlurPool (4 x 5) is not enough with padOff 1, nor H = 3.
      assertEquals(Shape.of(1, 2, 3, 3), BlurPool.blurPool(x, 7, 2, PadType.REFLECT, 0).shape());
      assertRejects("x", () -> BlurPool.maxBlurPool(x, 7, 2, PadType.REFLECT, 1));
      assertRejects("x", () -> BlurPool.blurPool(Tensor.zeros(d, 1, 2, 3, 6), 7, 2, PadType.REFLECT, 0));
      // MaxBlurPool needs H, W >= 2.
      assertRejects("x", () -> BlurPool.maxBlurPool(Tensor.zeros(d, 1, 2, 1, 6), 1, 1, PadType.ZERO, 0));
      assertEquals(PadType.REFLECT, PadType.of("refl"));
      assertEquals(PadType.REPLICATE, PadType.of("repl"));
      assertEquals(PadType.ZERO, PadType.of("zero"));
    }
  }
}
