package io.plugkit.ops;

import static io.plugkit.ops.ElementwiseTest.assertMessage;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.GridSample.Mode;
import io.plugkit.ops.GridSample.Padding;
import io.plugkit.ops.GridSampleRef.Grads;
import io.plugkit.ops.GridSampleRef.Problem;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class GridSampleTest {
  // Outputs are sums of at most 16 float products of values in [-1, 1] with weights <= 1.1:
  // a few ulp of float rounding (FMA contraction differs between compilers).
  private static final double OUT_TOL = 1e-5;
  // Gradients add C (<= 3) channels times 16 taps, scaled by size/2 for the grid; 1e-5 absolute
  // plus 1e-4 relative covers the float accumulation with a wide margin against any real bug,
  // whose errors are of the order of the values themselves.
  private static final double GRAD_ATOL = 1e-5;
  private static final double GRAD_RTOL = 1e-4;
  private static final String[] SHAPE_PREFIXES = {"", "h1_", "w1_"};

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchFixturesForEveryModePaddingAndAlignment(Device d) {
    TestDevices.assumeUsable(d);
    for (boolean ordered : new boolean[] {false, true}) {
      for (String prefix : SHAPE_PREFIXES) {
        for (Mode mode : Mode.values()) {
          for (Padding padding : Padding.values()) {
            for (boolean align : new boolean[] {false, true}) {
              String name = prefix + lower(mode.name()) + "_" + lower(padding.name()) + "_align" + (align ? 1 : 0);
              String what = name + (ordered ? " (deterministic)" : "");
              try (Scope s = Scope.open()) {
                SafeTensors.Contents fx = Fixtures.load("grid_sample/" + name);
                assertEquals(lower(mode.name()), fx.metadata().get("mode"));
                assertEquals(lower(padding.name()), fx.metadata().get("padding_mode"));
                assertEquals(align ? "1" : "0", fx.metadata().get("align_corners"));
                Tensor input = fx.tensor("in.input", d).requiresGrad(true);
                Tensor grid = fx.tensor("in.grid", d).requiresGrad(true);
                Tensor out = GridSample.gridSample(input, grid, lower(mode.name()), lower(padding.name()), align);
                assertClose(fx.get("out.output").toFloats(), out.toArray(), OUT_TOL, OUT_TOL, what + " output");
                GridSample.setDeterministic(ordered);
                out.backward(fx.tensor("in.gout", d));
                assertClose(fx.get("grad.input").toFloats(), input.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad input");
                assertClose(fx.get("grad.grid").toFloats(), grid.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad grid");
              } finally {
                GridSample.setDeterministic(false);
              }
            }
          }
        }
      }
    }
  }

  // NaN, +-inf and +-1e30 grid values (fixtures edge_*, PyTorch 1.13 CPU): NaN outputs and grid
  // gradients where PyTorch's weights are NaN, real pixels where its padding clips NaN to 0.
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchOnNonFiniteGridValues(Device d) {
    TestDevices.assumeUsable(d);
    for (boolean ordered : new boolean[] {false, true}) {
      for (Mode mode : Mode.values()) {
        for (Padding padding : Padding.values()) {
          for (boolean align : new boolean[] {false, true}) {
            String name = "edge_" + lower(mode.name()) + "_" + lower(padding.name()) + "_align" + (align ? 1 : 0);
            String what = name + (ordered ? " (deterministic)" : "");
            try (Scope s = Scope.open()) {
              SafeTensors.Contents fx = Fixtures.load("grid_sample/" + name);
              Tensor input = fx.tensor("in.input", d);
              Tensor out = GridSample.gridSample(input, fx.tensor("in.grid", d), mode, padding, align);
              assertClose(fx.get("out.output").toFloats(), out.toArray(), OUT_TOL, OUT_TOL, what + " output");
              Tensor inputB = input.copy().requiresGrad(true);
              Tensor gridB = fx.tensor("in.grid_b", d).requiresGrad(true);
              Tensor outB = GridSample.gridSample(inputB, gridB, mode, padding, align);
              assertClose(fx.get("out.output_b").toFloats(), outB.toArray(), OUT_TOL, OUT_TOL, what + " output_b");
              GridSample.setDeterministic(ordered);
              outB.backward(fx.tensor("in.gout_b", d));
              assertClose(fx.get("grad.input").toFloats(), inputB.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad input");
              assertClose(fx.get("grad.grid").toFloats(), gridB.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad grid");
            } finally {
              GridSample.setDeterministic(false);
            }
          }
        }
      }
    }
  }

  // Where PyTorch 1.13's CPU backward reads out of bounds (bilinear, border or reflection, a NaN
  // coordinate; reflection and +-inf), plugkit's backward is the derivative of the forward, which
  // clips the coordinate to 0: the same gradients as a grid value landing exactly on pixel 0 with
  // align_corners (-1: on the border, so its own grid gradient is 0 as PyTorch counts borders out).
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void clippedNonFiniteCoordinateHasTheGradientOfTheClippedForward(Device d) {
    TestDevices.assumeUsable(d);
    float nan = Float.NaN;
    float inf = Float.POSITIVE_INFINITY;
    for (Padding padding : new Padding[] {Padding.BORDER, Padding.REFLECTION}) {
      for (float bad : padding == Padding.BORDER ? new float[] {nan} : new float[] {nan, inf, -inf}) {
        try (Scope s = Scope.open()) {
          Tensor input = Tensor.uniform(d, 51, -1f, 1f, 1, 2, 3, 4);
          Tensor gout = Tensor.uniform(d, 52, -1f, 1f, 1, 2, 1, 3);
          float[][] grads = new float[2][];
          float[][] gridGrads = new float[2][];
          float[][] outs = new float[2][];
          for (int k = 0; k < 2; k++) {
            float v = k == 0 ? bad : -1f;
            Tensor in = input.copy().requiresGrad(true);
            Tensor grid = Tensor.of(d, new float[] {v, 0.3f, -0.2f, v, v, v}, 1, 1, 3, 2).requiresGrad(true);
            Tensor out = GridSample.gridSample(in, grid, Mode.BILINEAR, padding, true);
            out.backward(gout);
            outs[k] = out.toArray();
            grads[k] = in.grad().toArray();
            gridGrads[k] = grid.grad().toArray();
          }
          String what = padding + " " + bad;
          assertArrayEquals(outs[1], outs[0], what + " output");
          assertArrayEquals(grads[1], grads[0], what + " grad input");
          assertArrayEquals(gridGrads[1], gridGrads[0], what + " grad grid");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchReferenceForEveryModePaddingAndAlignment(Device d) {
    TestDevices.assumeUsable(d);
    int seed = 300;
    for (Mode mode : Mode.values()) {
      for (Padding padding : Padding.values()) {
        for (boolean align : new boolean[] {false, true}) {
          Problem p = new Problem(3, 2, 5, 7, 4, 3, mode, padding, align);
          String what = mode + " " + padding + " align " + align;
          try (Scope s = Scope.open()) {
            // Far outside [-1, 1] so that reflection folds several times.
            Tensor input = Tensor.uniform(d, seed++, -1f, 1f, p.n(), p.c(), p.inH(), p.inW()).requiresGrad(true);
            Tensor grid = Tensor.uniform(d, seed++, -2.5f, 2.5f, p.n(), p.outH(), p.outW(), 2).requiresGrad(true);
            Tensor gout = Tensor.uniform(d, seed++, -1f, 1f, p.n(), p.c(), p.outH(), p.outW());
            Tensor out = GridSample.gridSample(input, grid, mode, padding, align);
            assertArrayEquals(new int[] {3, 2, 4, 3}, out.dims(), what + " shape");
            float[] in = input.toArray();
            float[] g = grid.toArray();
            assertClose(GridSampleRef.forward(p, in, g), out.toArray(), OUT_TOL, OUT_TOL, what + " output");
            out.backward(gout);
            Grads ref = GridSampleRef.backward(p, in, g, gout.toArray());
            assertClose(ref.input(), input.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad input");
            assertClose(ref.grid(), grid.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " grad grid");
          }
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void gradientGoesOnlyWhereRequired(Device d) {
    TestDevices.assumeUsable(d);
    Problem p = new Problem(2, 3, 4, 6, 5, 5, Mode.BICUBIC, Padding.REFLECTION, false);
    for (boolean ordered : new boolean[] {false, true}) {
      try (Scope s = Scope.open()) {
        GridSample.setDeterministic(ordered);
        Tensor input = Tensor.uniform(d, 41, -1f, 1f, 2, 3, 4, 6);
        Tensor grid = Tensor.uniform(d, 42, -1.3f, 1.3f, 2, 5, 5, 2).requiresGrad(true);
        Tensor gout = Tensor.uniform(d, 43, -1f, 1f, 2, 3, 5, 5);
        GridSample.gridSample(input, grid, p.mode(), p.padding(), p.align()).backward(gout);
        Grads ref = GridSampleRef.backward(p, input.toArray(), grid.toArray(), gout.toArray());
        assertNull(input.grad(), "input does not require a gradient");
        assertClose(ref.grid(), grid.grad().toArray(), GRAD_ATOL, GRAD_RTOL, "grad grid alone");

        Tensor input2 = input.copy().requiresGrad(true);
        Tensor grid2 = grid.copy();
        GridSample.gridSample(input2, grid2, p.mode(), p.padding(), p.align()).backward(gout);
        assertNull(grid2.grad(), "grid does not require a gradient");
        assertClose(ref.input(), input2.grad().toArray(), GRAD_ATOL, GRAD_RTOL, "grad input alone");
      } finally {
        GridSample.setDeterministic(false);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void nearestHasZeroGridGradientAndRoundsHalfToEven(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // Win = 5 with align_corners: x = -0.75, -0.25, 0.25, 0.75 land on 0.5, 1.5, 2.5, 3.5.
      Tensor input = Tensor.of(d, new float[] {10, 11, 12, 13, 14}, 1, 1, 1, 5);
      Tensor grid = Tensor.of(d, new float[] {-0.75f, 0, -0.25f, 0, 0.25f, 0, 0.75f, 0}, 1, 1, 4, 2).requiresGrad(true);
      Tensor out = GridSample.gridSample(input, grid, Mode.NEAREST, Padding.ZEROS, true);
      assertArrayEquals(new float[] {10, 12, 12, 14}, out.toArray());
      out.backward(Tensor.ones(d, 1, 1, 1, 4));
      assertArrayEquals(new float[8], grid.grad().toArray());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void identityThetaReturnsTheInput(Device d) {
    TestDevices.assumeUsable(d);
    for (Mode mode : Mode.values()) {
      try (Scope s = Scope.open()) {
        Tensor input = Tensor.uniform(d, 7, -1f, 1f, 2, 3, 5, 8);
        Tensor theta = Tensor.of(d, new float[] {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0}, 2, 2, 3);
        Tensor grid = GridSample.affineGrid(theta, 2, 3, 5, 8, true);
        // With align_corners the identity grid lands on pixel centres to a few ulp, where every
        // mode reads the pixel itself.
        assertClose(input.toArray(), GridSample.gridSample(input, grid, mode, Padding.ZEROS, true).toArray(), 1e-5, 0,
            mode + " identity");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void affineGridMatchesPyTorchAndReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] size : new int[][] {{3, 2, 4, 5}, {2, 1, 1, 3}}) {
      for (boolean align : new boolean[] {false, true}) {
        String name = String.format(Locale.ROOT, "affine_%dx%dx%dx%d_align%d", size[0], size[1], size[2], size[3], align ? 1 : 0);
        try (Scope s = Scope.open()) {
          SafeTensors.Contents fx = Fixtures.load("grid_sample/" + name);
          Tensor theta = fx.tensor("in.theta", d).requiresGrad(true);
          Tensor grid = GridSample.affineGrid(theta, size[0], size[1], size[2], size[3], align);
          assertArrayEquals(new int[] {size[0], size[2], size[3], 2}, grid.dims(), name + " shape");
          // Three products of values <= 1 in magnitude: a few ulp.
          assertClose(fx.get("out.grid").toFloats(), grid.toArray(), 1e-6, 1e-6, name + " grid");
          assertClose(GridSampleRef.affineGrid(theta.toArray(), size[0], size[2], size[3], align), grid.toArray(), 1e-6, 1e-6,
              name + " grid vs reference");
          Tensor gout = fx.tensor("in.gout", d);
          grid.backward(gout);
          // Sums of h*w <= 20 products: float accumulation in the GEMM.
          assertClose(fx.get("grad.theta").toFloats(), theta.grad().toArray(), 1e-5, 1e-5, name + " grad theta");
          assertClose(GridSampleRef.affineGridBackward(gout.toArray(), size[0], size[2], size[3], align),
              theta.grad().toArray(), 1e-5, 1e-5, name + " grad theta vs reference");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void affineGridBackwardOnALargerGrid(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor theta = Tensor.uniform(d, 61, -1f, 1f, 2, 2, 3).requiresGrad(true);
      Tensor grid = GridSample.affineGrid(theta, 2, 4, 23, 17, false);
      Tensor gout = Tensor.uniform(d, 62, -1f, 1f, 2, 23, 17, 2);
      grid.backward(gout);
      assertClose(GridSampleRef.affineGrid(theta.toArray(), 2, 23, 17, false), grid.toArray(), 1e-6, 1e-6, "grid");
      // 391 products per entry, float accumulation: ~1e-5 of the sum's scale.
      assertClose(GridSampleRef.affineGridBackward(gout.toArray(), 2, 23, 17, false), theta.grad().toArray(), 1e-4, 1e-5,
          "grad theta");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void deterministicModeGivesIdenticalBits(Device d) {
    TestDevices.assumeUsable(d);
    // 2 * 40 * 40 locations: enough for the atomic kernel to run on several threads.
    Problem p = new Problem(2, 4, 9, 11, 40, 40, Mode.BILINEAR, Padding.BORDER, false);
    try {
      float[][] runs = new float[2][];
      for (int run = 0; run < 2; run++) {
        try (Scope s = Scope.open()) {
          GridSample.setDeterministic(true);
          Tensor input = Tensor.uniform(d, 71, -1f, 1f, 2, 4, 9, 11).requiresGrad(true);
          // Shrunk into a corner so that many locations sample the same few pixels.
          Tensor grid = Tensor.uniform(d, 72, -1f, -0.6f, 2, 40, 40, 2);
          Tensor gout = Tensor.uniform(d, 73, -1f, 1f, 2, 4, 40, 40);
          GridSample.gridSample(input, grid, p.mode(), p.padding(), p.align()).backward(gout);
          runs[run] = input.grad().toArray();
          Grads ref = GridSampleRef.backward(p, input.toArray(), grid.toArray(), gout.toArray());
          // A pixel gathers up to ~1000 contributions here: float sums of that length.
          assertClose(ref.input(), runs[run], 1e-4, 1e-4, "deterministic grad input vs reference");
        }
      }
      for (int i = 0; i < runs[0].length; i++) {
        assertEquals(Float.floatToRawIntBits(runs[0][i]), Float.floatToRawIntBits(runs[1][i]), "bits of element " + i);
      }
      assertEquals(false, java.util.Arrays.equals(runs[0], new float[runs[0].length]), "a non-trivial gradient");
    } finally {
      GridSample.setDeterministic(false);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchChannelsAndOutput(Device d) {
    TestDevices.assumeUsable(d);
    int[][][] cases = {{{0, 2, 3, 3}, {0, 2, 2, 2}}, {{2, 0, 3, 3}, {2, 2, 2, 2}}, {{2, 2, 3, 3}, {2, 0, 4, 2}}};
    for (int[][] c : cases) {
      try (Scope s = Scope.open()) {
        Tensor input = Tensor.uniform(d, 81, -1f, 1f, c[0]).requiresGrad(true);
        Tensor grid = Tensor.uniform(d, 82, -1f, 1f, c[1]).requiresGrad(true);
        Tensor out = GridSample.gridSample(input, grid, Mode.BILINEAR, Padding.ZEROS, false);
        assertArrayEquals(new int[] {c[0][0], c[0][1], c[1][1], c[1][2]}, out.dims());
        out.backward(Tensor.zeros(d, out.dims()));
        assertArrayEquals(new float[input.toArray().length], input.grad().toArray(), "grad input");
        assertArrayEquals(new float[grid.toArray().length], grid.grad().toArray(), "grad grid");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void extremeGridValuesNeverReadOutsideTheInput(Device d) {
    TestDevices.assumeUsable(d);
    float inf = Float.POSITIVE_INFINITY;
    float[] far = {1e30f, -1e30f, inf, -inf, 3e9f, -3e9f};
    for (Mode mode : Mode.values()) {
      for (Padding padding : Padding.values()) {
        try (Scope s = Scope.open()) {
          Tensor input = Tensor.uniform(d, 91, -1f, 1f, 1, 2, 3, 4).requiresGrad(true);
          float[] g = new float[2 * 8];
          for (int i = 0; i < 6; i++) {
            g[2 * i] = far[i];
            g[2 * i + 1] = far[(i + 1) % 6];
          }
          g[12] = Float.NaN;
          g[15] = Float.NaN;
          Tensor grid = Tensor.of(d, g, 1, 2, 4, 2).requiresGrad(true);
          Tensor out = GridSample.gridSample(input, grid, mode, padding, false);
          out.backward(Tensor.ones(d, 1, 2, 2, 4));
          float[] y = out.toArray();
          if (padding == Padding.ZEROS) {
            // Finite far-away locations read zeros. (With an infinite coordinate bicubic gives NaN,
            // as in PyTorch: its fraction is inf - inf.)
            for (int c = 0; c < 2; c++) {
              for (int i = 0; i < 6; i++) {
                if (Float.isFinite(g[2 * i]) && Float.isFinite(g[2 * i + 1])) {
                  assertEquals(0f, y[c * 8 + i], 0f, mode + " zeros: location " + i);
                }
              }
            }
          }
          assertArrayEquals(new int[] {1, 2, 3, 4}, input.grad().dims(), "grad input computed");
        }
      }
    }
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor input = Tensor.zeros(d, 2, 3, 4, 5);
      Tensor grid = Tensor.zeros(d, 2, 3, 6, 2);
      assertMessage(() -> GridSample.gridSample(null, grid, Mode.BILINEAR, Padding.ZEROS, false), "input: expected a tensor but got null");
      assertMessage(() -> GridSample.gridSample(input, null, Mode.BILINEAR, Padding.ZEROS, false), "grid: expected a tensor but got null");
      assertMessage(() -> GridSample.gridSample(Tensor.zeros(d, 2, 3, 4, 5, 6), grid, Mode.BICUBIC, Padding.ZEROS, false),
          "input: expected rank 4 [N, C, Hin, Win] (only 2-D sampling is supported) but got shape [2, 3, 4, 5, 6]");
      assertMessage(() -> GridSample.gridSample(Tensor.zeros(d, 3, 4, 5), grid, Mode.BILINEAR, Padding.ZEROS, false),
          "input: expected rank 4");
      assertMessage(() -> GridSample.gridSample(input, Tensor.zeros(d, 2, 6, 2), Mode.BILINEAR, Padding.ZEROS, false),
          "grid: expected shape [N, Hout, Wout, 2] but got [2, 6, 2]");
      assertMessage(() -> GridSample.gridSample(input, Tensor.zeros(d, 2, 3, 6, 3), Mode.BILINEAR, Padding.ZEROS, false),
          "grid: expected shape [N, Hout, Wout, 2] but got [2, 3, 6, 3]");
      assertMessage(() -> GridSample.gridSample(input, Tensor.zeros(d, 3, 3, 6, 2), Mode.BILINEAR, Padding.ZEROS, false),
          "grid: expected batch size 2 (that of input [2, 3, 4, 5]) but got shape [3, 3, 6, 2]");
      assertMessage(() -> GridSample.gridSample(Tensor.zeros(d, 2, 3, 0, 5), grid, Mode.BILINEAR, Padding.ZEROS, false),
          "input: expected non-empty spatial dims Hin, Win but got shape [2, 3, 0, 5]");
      assertMessage(() -> GridSample.gridSample(input, grid, (Mode) null, Padding.ZEROS, false),
          "mode: expected BILINEAR, NEAREST or BICUBIC but got null");
      assertMessage(() -> GridSample.gridSample(input, grid, Mode.NEAREST, (Padding) null, false),
          "paddingMode: expected ZEROS, BORDER or REFLECTION but got null");
      assertMessage(() -> GridSample.gridSample(input, grid, "trilinear", "zeros", false),
          "mode: expected 'bilinear', 'nearest' or 'bicubic' but got 'trilinear'");
      assertMessage(() -> GridSample.gridSample(input, grid, "bilinear", "mirror", false),
          "paddingMode: expected 'zeros', 'border' or 'reflection' but got 'mirror'");
      assertMessage(() -> GridSample.gridSample(input, grid, "BILINEAR", "zeros", false),
          "mode: expected 'bilinear', 'nearest' or 'bicubic' but got 'BILINEAR'");
      Tensor freed = Tensor.zeros(d, 2, 3, 6, 2);
      freed.close();
      assertMessage(() -> GridSample.gridSample(input, freed, Mode.BILINEAR, Padding.ZEROS, false), "grid: expected a live tensor");

      Tensor theta = Tensor.zeros(d, 2, 2, 3);
      assertMessage(() -> GridSample.affineGrid(null, 2, 3, 4, 5, false), "theta: expected a tensor but got null");
      assertMessage(() -> GridSample.affineGrid(Tensor.zeros(d, 2, 3, 3), 2, 3, 4, 5, false),
          "theta: expected shape [2, 2, 3] (a batch of n 2-D affine matrices) but got [2, 3, 3]");
      assertMessage(() -> GridSample.affineGrid(theta, 3, 3, 4, 5, false),
          "theta: expected shape [3, 2, 3] (a batch of n 2-D affine matrices) but got [2, 2, 3]");
      assertMessage(() -> GridSample.affineGrid(Tensor.zeros(d, 2, 6), 2, 3, 4, 5, false), "theta: expected shape [2, 2, 3]");
      assertMessage(() -> GridSample.affineGrid(theta, 2, 0, 4, 5, false), "c: expected > 0 but got 0");
      assertMessage(() -> GridSample.affineGrid(theta, 2, 3, -1, 5, false), "h: expected > 0 but got -1");
      assertMessage(() -> GridSample.affineGrid(theta, 2, 3, 4, 0, false), "w: expected > 0 but got 0");
      assertMessage(() -> GridSample.affineGrid(theta, 0, 3, 4, 5, false), "n: expected > 0 but got 0");
    }
  }

  private static String lower(String s) { return s.toLowerCase(Locale.ROOT); }
}
