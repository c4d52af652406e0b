package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Interpolate.Mode;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class InterpolateTest {
  // Nearest copies values: exact. Its gradient sums up to a few fixture values per pixel in
  // another order than PyTorch: 1e-6. Bilinear: two levels of float weights (products and sums
  // of 4 terms, with or without FMA contraction) differ by a few ulps of values below ~2.
  private static final double NEAREST_GRAD_ATOL = 1e-6;
  private static final double BILINEAR_ATOL = 2e-6;
  private static final double BILINEAR_RTOL = 1e-5;

  private static final List<String> CASES = List.of("nearest_up_size", "nearest_down_size", "nearest_scale_1p5",
      "nearest_scale_1p5_recompute", "nearest_scale_0p5", "nearest_scale_2x3", "nearest_scale_same_size",
      "nearest_scale_0p3", "bilinear_up_size", "bilinear_up_size_align", "bilinear_down_size",
      "bilinear_down_size_align", "bilinear_scale_1p5", "bilinear_scale_1p5_recompute", "bilinear_scale_1p5_align",
      "bilinear_scale_0p5", "bilinear_scale_same_size", "bilinear_to_one_align", "bilinear_to_one", "bilinear_from_one",
      "bilinear_from_one_align", "nearest_from_one");

  private static InterpolateOptions options(Map<String, String> m) {
    InterpolateOptions o;
    if (m.containsKey("size")) {
      String[] s = m.get("size").split(",");
      o = InterpolateOptions.size(Integer.parseInt(s[0]), Integer.parseInt(s[1]));
    } else {
      String[] s = m.get("scale").split(",");
      o = InterpolateOptions.scale(Double.parseDouble(s[0]), Double.parseDouble(s[1]));
    }
    return o.mode(m.get("mode").equals("bilinear") ? Mode.BILINEAR : Mode.NEAREST)
        .alignCorners(m.get("align_corners").equals("1"))
        .recomputeScaleFactor(m.get("recompute_scale_factor").equals("1"));
  }

  private static double outputAtol(InterpolateOptions o) { return o.mode() == Mode.NEAREST ? 0 : BILINEAR_ATOL; }

  private static double gradAtol(InterpolateOptions o) {
    return o.mode() == Mode.NEAREST ? NEAREST_GRAD_ATOL : BILINEAR_ATOL;
  }

  private static double rtol(InterpolateOptions o) { return o.mode() == Mode.NEAREST ? 0 : BILINEAR_RTOL; }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      SafeTensors.Contents fx = Fixtures.load("interpolate/" + name);
      InterpolateOptions o = options(fx.metadata());
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = Interpolate.interpolate(x, o);
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " output shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), outputAtol(o), rtol(o), name + " output");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), gradAtol(o), rtol(o), name + " grad x");
      }
    }
  }

  @Test
  void referenceMatchesPyTorch() {
    for (String name : CASES) {
      SafeTensors.Contents fx = Fixtures.load("interpolate/" + name);
      InterpolateOptions o = options(fx.metadata());
      int[] in = fx.get("in.x").shape().dims();
      int[] out = fx.get("out.y").shape().dims();
      boolean byScale = !o.hasSize() && !o.recomputeScaleFactor();
      float stepH = InterpolateReference.step(in[2], out[2], byScale ? o.scaleH() : null, o.alignCorners());
      float stepW = InterpolateReference.step(in[3], out[3], byScale ? o.scaleW() : null, o.alignCorners());
      boolean bilinear = o.mode() == Mode.BILINEAR;
      float[] x = fx.get("in.x").toFloats();
      assertClose(InterpolateReference.run(x, null, in[0], in[1], in[2], in[3], out[2], out[3], stepH, stepW, bilinear,
          o.alignCorners()), fx.get("out.y").toFloats(), outputAtol(o), rtol(o), name + " reference output");
      assertClose(InterpolateReference.run(x, fx.get("in.gout").toFloats(), in[0], in[1], in[2], in[3], out[2], out[3],
          stepH, stepW, bilinear, o.alignCorners()), fx.get("grad.x").toFloats(), gradAtol(o), rtol(o),
          name + " reference grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{2, 3, 7, 5}, {1, 1, 1, 1}, {3, 2, 1, 6}, {0, 2, 4, 4}, {1, 2, 16, 9}};
    int[][] sizes = {{1, 1}, {1, 7}, {3, 2}, {14, 10}, {7, 5}, {5, 17}};
    for (int[] sh : shapes) {
      for (int[] size : sizes) {
        for (int variant = 0; variant < 3; variant++) {
          boolean bilinear = variant > 0;
          boolean align = variant == 2;
          InterpolateOptions o = InterpolateOptions.size(size[0], size[1])
              .mode(bilinear ? Mode.BILINEAR : Mode.NEAREST).alignCorners(align);
          String what = java.util.Arrays.toString(sh) + " -> " + java.util.Arrays.toString(size) + " variant " + variant;
          try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(d, 41, -1, 1, sh).requiresGrad(true);
            Tensor y = Interpolate.interpolate(x, o);
            assertEquals(Shape.of(sh[0], sh[1], size[0], size[1]), y.shape(), what);
            float stepH = InterpolateReference.step(sh[2], size[0], null, align);
            float stepW = InterpolateReference.step(sh[3], size[1], null, align);
            assertClose(InterpolateReference.run(x.toArray(), null, sh[0], sh[1], sh[2], sh[3], size[0], size[1], stepH,
                stepW, bilinear, align), y.toArray(), outputAtol(o), rtol(o), what + " output");
            Tensor gout = Tensor.uniform(d, 42, -1, 1, y.dims());
            y.backward(gout);
            assertClose(InterpolateReference.run(null, gout.toArray(), sh[0], sh[1], sh[2], sh[3], size[0], size[1], stepH,
                stepW, bilinear, align), x.grad().toArray(), gradAtol(o), rtol(o), what + " grad x");
          }
        }
      }
    }
  }

  // ---- bad input ------------------------------------------------------------------------

  private static void assertRejects(String argName, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith(argName + ":"), () -> "expected the message to name " + argName + ": " + e.getMessage());
  }

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    InterpolateOptions up = InterpolateOptions.size(4, 4);
    try (Scope s = Scope.open()) {
      Tensor rank3 = Tensor.zeros(d, 2, 4, 4);
      Tensor empty = Tensor.zeros(d, 1, 2, 0, 4);
      Tensor longs = Tensor.empty(d, DType.I64, Shape.of(1, 1, 4, 4));
      for (Tensor bad : new Tensor[] {null, rank3, empty, longs}) assertRejects("x", () -> Interpolate.interpolate(bad, up));
      Tensor x = Tensor.zeros(d, 1, 1, 3, 5);
      assertRejects("options", () -> Interpolate.interpolate(x, null));
      assertRejects("alignCorners", () -> Interpolate.interpolate(x, up.alignCorners(true)));
      // floor(3 * 0.3) = 0 rows.
      assertRejects("scaleH", () -> Interpolate.interpolate(x, InterpolateOptions.scale(0.3, 1)));
      assertRejects("scaleW", () -> Interpolate.interpolate(x, InterpolateOptions.scale(1, 1e10)));
    }
    assertRejects("outH", () -> InterpolateOptions.size(0, 3));
    assertRejects("outW", () -> InterpolateOptions.size(3, -1));
    assertRejects("scaleH", () -> InterpolateOptions.scale(-1.5));
    assertRejects("scaleW", () -> InterpolateOptions.scale(2, Double.NaN));
    assertRejects("scaleH", () -> InterpolateOptions.scale(Double.POSITIVE_INFINITY, 1));
    assertRejects("mode", () -> up.mode(null));
    assertRejects("scaleH", () -> new InterpolateOptions(4, 4, 2.0, 0, Mode.NEAREST, false, false));
  }
}
