package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class InterpolateTest {
  // Nearest copies values: exact. Its gradient sums up to a few fixture values per pixel in
  // another order than PyTorch: 1e-6. Bilinear: two levels of float weights (products and sums
  // of 4 terms, with or without FMA contraction) differ by a few ulps of values below ~2.
  private static final double NEAREST_GRAD_ATOL = 1e-6;
  private static final double BILINEAR_ATOL = 2e-6;
  private static final double BILINEAR_RTOL = 1e-5;
  // Bicubic: 16 float products with weights up to ~1.2 (and, in the gradient, up to 16 terms per
  // output into shared pixels), in another order than PyTorch's separable sums: 1e-5.
  private static final double BICUBIC_TOL = 1e-5;
  // Area: a float sum of a small window divided by its size.
  private static final double AREA_ATOL = 2e-6;

  private static final List<String> CASES = List.of("nearest_up_size", "nearest_down_size", "nearest_scale_1p5",
      "nearest_scale_1p5_recompute", "nearest_scale_0p5", "nearest_scale_2x3", "nearest_scale_same_size",
      "nearest_scale_0p3", "bilinear_up_size", "bilinear_up_size_align", "bilinear_down_size",
      "bilinear_down_size_align", "bilinear_scale_1p5", "bilinear_scale_1p5_recompute", "bilinear_scale_1p5_align",
      "bilinear_scale_0p5", "bilinear_scale_same_size", "bilinear_to_one_align", "bilinear_to_one", "bilinear_from_one",
      "bilinear_from_one_align", "nearest_from_one",
      "nearest_exact_up_size", "nearest_exact_down_size", "nearest_exact_double", "nearest_exact_scale_1p5",
      "nearest_exact_scale_1p7_recompute", "nearest_exact_scale_0p3", "nearest_exact_scale_same_size",
      "nearest_exact_from_one",
      "bicubic_up_size", "bicubic_up_size_align", "bicubic_down_size", "bicubic_down_size_align", "bicubic_same_size",
      "bicubic_scale_1p5", "bicubic_scale_1p5_false", "bicubic_scale_1p7_recompute", "bicubic_scale_1p7_align",
      "bicubic_scale_1p7_align_recompute", "bicubic_scale_0p45", "bicubic_scale_0p45_recompute",
      "bicubic_scale_same_size", "bicubic_to_one_align", "bicubic_to_one", "bicubic_from_one", "bicubic_from_two_align",
      "area_down_size", "area_up_size", "area_mixed_size", "area_scale_0p5", "area_scale_0p35_false",
      "area_scale_1p7_recompute", "area_to_one");

  private static InterpolateOptions options(Map<String, String> m) {
    InterpolateOptions o;
    if (m.containsKey("size")) {
      String[] s = m.get("size").split(",");
      o = InterpolateOptions.size(Integer.parseInt(s[0]), Integer.parseInt(s[1]));
    } else {
      String[] s = m.get("scale").split(",");
      o = InterpolateOptions.scale(Double.parseDouble(s[0]), Double.parseDouble(s[1]));
    }
    Mode mode = switch (m.get("mode")) {
      case "nearest" -> Mode.NEAREST;
      case "nearest-exact" -> Mode.NEAREST_EXACT;
      case "bilinear" -> Mode.BILINEAR;
      case "bicubic" -> Mode.BICUBIC;
      case "area" -> Mode.AREA;
      default -> throw new IllegalStateException(m.get("mode"));
    };
    return o.mode(mode)
        .alignCorners(m.get("align_corners").equals("1"))
        .recomputeScaleFactor(m.get("recompute_scale_factor").equals("1"));
  }

  private static double outputAtol(InterpolateOptions o) {
    return switch (o.mode()) {
      case NEAREST, NEAREST_EXACT -> 0;
      case BILINEAR -> BILINEAR_ATOL;
      case BICUBIC -> BICUBIC_TOL;
      case AREA -> AREA_ATOL;
    };
  }

  private static double gradAtol(InterpolateOptions o) {
    return switch (o.mode()) {
      case NEAREST, NEAREST_EXACT -> NEAREST_GRAD_ATOL;
      default -> outputAtol(o);
    };
  }

  private static double rtol(InterpolateOptions o) {
    return switch (o.mode()) {
      case NEAREST, NEAREST_EXACT -> 0;
      case BICUBIC -> BICUBIC_TOL;
      default -> BILINEAR_RTOL;
    };
  }

  /** The step the op uses: PyTorch passes the user's scale unless recomputed (area always recomputes). */
  private static Double kernelScale(InterpolateOptions o, boolean height) {
    if (o.hasSize() || o.recomputeScaleFactor() || o.mode() == Mode.AREA) return null;
    return height ? o.scaleH() : o.scaleW();
  }

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
      float stepH = InterpolateReference.step(in[2], out[2], kernelScale(o, true), o.alignCorners());
      float stepW = InterpolateReference.step(in[3], out[3], kernelScale(o, false), o.alignCorners());
      Mode mode = o.mode();
      float[] x = fx.get("in.x").toFloats();
      assertClose(InterpolateReference.run(x, null, in[0], in[1], in[2], in[3], out[2], out[3], stepH, stepW, mode,
          o.alignCorners()), fx.get("out.y").toFloats(), outputAtol(o), rtol(o), name + " reference output");
      assertClose(InterpolateReference.run(x, fx.get("in.gout").toFloats(), in[0], in[1], in[2], in[3], out[2], out[3],
          stepH, stepW, mode, o.alignCorners()), fx.get("grad.x").toFloats(), gradAtol(o), rtol(o),
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
        for (int variant = 0; variant < 7; variant++) {
          Mode mode = new Mode[] {Mode.NEAREST, Mode.BILINEAR, Mode.BILINEAR, Mode.NEAREST_EXACT, Mode.BICUBIC,
              Mode.BICUBIC, Mode.AREA}[variant];
          boolean align = variant == 2 || variant == 5;
          InterpolateOptions o = InterpolateOptions.size(size[0], size[1]).mode(mode).alignCorners(align);
          String what = java.util.Arrays.toString(sh) + " -> " + java.util.Arrays.toString(size) + " variant " + variant;
          try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(d, 41, -1, 1, sh).requiresGrad(true);
            Tensor y = Interpolate.interpolate(x, o);
            assertEquals(Shape.of(sh[0], sh[1], size[0], size[1]), y.shape(), what);
            float stepH = InterpolateReference.step(sh[2], size[0], null, align);
            float stepW = InterpolateReference.step(sh[3], size[1], null, align);
            assertClose(InterpolateReference.run(x.toArray(), null, sh[0], sh[1], sh[2], sh[3], size[0], size[1], stepH,
                stepW, mode, align), y.toArray(), outputAtol(o), rtol(o), what + " output");
            Tensor gout = Tensor.uniform(d, 42, -1, 1, y.dims());
            y.backward(gout);
            assertClose(InterpolateReference.run(null, gout.toArray(), sh[0], sh[1], sh[2], sh[3], size[0], size[1], stepH,
                stepW, mode, align), x.grad().toArray(), gradAtol(o), rtol(o), what + " grad x");
          }
        }
      }
    }
  }

  /** Scale factors (non-integer, up and down, recomputed or not) in every mode and alignment. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesReferenceByScale(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{2, 3, 7, 5}, {1, 2, 16, 9}};
    double[][] scales = {{1.7, 0.45}, {2.0, 3.0}, {0.5, 1.3}, {1.05, 1.0}};
    Mode[] modes = {Mode.NEAREST, Mode.NEAREST_EXACT, Mode.BILINEAR, Mode.BILINEAR, Mode.BICUBIC, Mode.BICUBIC,
        Mode.AREA};
    for (int[] sh : shapes) {
      for (double[] sc : scales) {
        for (int variant = 0; variant < modes.length; variant++) {
          for (boolean recompute : new boolean[] {false, true}) {
            boolean align = variant == 3 || variant == 5;
            InterpolateOptions o = InterpolateOptions.scale(sc[0], sc[1]).mode(modes[variant]).alignCorners(align)
                .recomputeScaleFactor(recompute);
            int outH = (int) Math.floor(sh[2] * sc[0]);
            int outW = (int) Math.floor(sh[3] * sc[1]);
            String what = java.util.Arrays.toString(sh) + " x " + java.util.Arrays.toString(sc) + " " + o;
            try (Scope s = Scope.open()) {
              Tensor x = Tensor.uniform(d, 43, -1, 1, sh).requiresGrad(true);
              Tensor y = Interpolate.interpolate(x, o);
              assertEquals(Shape.of(sh[0], sh[1], outH, outW), y.shape(), what);
              float stepH = InterpolateReference.step(sh[2], outH, kernelScale(o, true), align);
              float stepW = InterpolateReference.step(sh[3], outW, kernelScale(o, false), align);
              assertClose(InterpolateReference.run(x.toArray(), null, sh[0], sh[1], sh[2], sh[3], outH, outW, stepH,
                  stepW, o.mode(), align), y.toArray(), outputAtol(o), rtol(o), what + " output");
              Tensor gout = Tensor.uniform(d, 44, -1, 1, y.dims());
              y.backward(gout);
              assertClose(InterpolateReference.run(null, gout.toArray(), sh[0], sh[1], sh[2], sh[3], outH, outW, stepH,
                  stepW, o.mode(), align), x.grad().toArray(), gradAtol(o), rtol(o), what + " grad x");
            }
          }
        }
      }
    }
  }

  // ---- bad input ------------------------------------------------------------------------

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
      assertRejects("alignCorners", () -> Interpolate.interpolate(x, up.mode(Mode.NEAREST_EXACT).alignCorners(true)));
      assertRejects("alignCorners", () -> Interpolate.interpolate(x, up.mode(Mode.AREA).alignCorners(true)));
      assertRejects("recomputeScaleFactor", () -> Interpolate.interpolate(x, up.mode(Mode.BICUBIC).recomputeScaleFactor(true)));
      assertRejects("scaleH", () -> Interpolate.interpolate(x, InterpolateOptions.scale(0.3, 1).mode(Mode.AREA)));
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
    // Neither a size nor scale factors.
    assertRejects("scaleH", () -> new InterpolateOptions(0, 0, 0, 0, Mode.BICUBIC, false, false));
  }
}
