package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Padding.Mode;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class PaddingTest {
  // The forward copies values (or the constant): exact. The gradient sums the output gradients
  // that read a value: at most 9 for reflect and circular, up to a whole border corner for
  // replicate (8 x 7 values in replicate_wide), in float. The kernel visits them in output order,
  // as PyTorch's CPU scatter does, but circular's gradient comes from autograd through slices
  // in PyTorch (another order) and the reference sums in double: 1e-6 covers a few ulps of sums
  // below ~30.
  private static final double GRAD_ATOL = 1e-6;
  private static final double GRAD_RTOL = 1e-6;

  private static final List<String> CASES = List.of("constant_asym", "constant_value", "constant_negative",
      "constant_crop_only", "constant_crop_past_edge", "constant_crop_to_empty_width", "constant_3d", "constant_batch0",
      "constant_empty_height", "reflect_asym", "reflect_max", "reflect_negative", "reflect_negative_far",
      "reflect_width_one", "reflect_3d", "reflect_batch0", "replicate_asym", "replicate_wide", "replicate_single_pixel",
      "replicate_negative", "replicate_negative_past_edge", "replicate_3d", "replicate_empty_width", "circular_asym",
      "circular_full", "circular_negative", "circular_negative_exact", "circular_batch0");

  private static int[] pad(SafeTensors.Contents fx) {
    return Arrays.stream(fx.metadata().get("pad").split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private static Mode mode(SafeTensors.Contents fx) { return Mode.valueOf(fx.metadata().get("mode").toUpperCase(Locale.ROOT)); }

  private static float value(SafeTensors.Contents fx) { return Float.parseFloat(fx.metadata().get("value")); }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      SafeTensors.Contents fx = Fixtures.load("padding/" + name);
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = Padding.pad2d(x, pad(fx), mode(fx), value(fx));
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " output shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), 0, 0, name + " output");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad x");
      }
    }
  }

  @Test
  void referenceMatchesPyTorch() {
    for (String name : CASES) {
      SafeTensors.Contents fx = Fixtures.load("padding/" + name);
      int[] in = fx.get("in.x").shape().dims();
      int r = in.length;
      int planes = r == 4 ? in[0] * in[1] : in[0];
      float[] x = fx.get("in.x").toFloats();
      assertClose(PaddingReference.run(x, null, planes, in[r - 2], in[r - 1], pad(fx), mode(fx), value(fx)),
          fx.get("out.y").toFloats(), 0, 0, name + " reference output");
      assertClose(PaddingReference.run(x, fx.get("in.gout").toFloats(), planes, in[r - 2], in[r - 1], pad(fx), mode(fx),
          value(fx)), fx.get("grad.x").toFloats(), GRAD_ATOL, GRAD_RTOL, name + " reference grad");
    }
  }

  /** Valid pads for each mode on odd shapes (prime batch, batch 0, 1-wide, non-square). */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{3, 2, 5, 7}, {1, 1, 1, 1}, {2, 3, 1, 6}, {0, 2, 4, 4}, {5, 1, 9, 2}, {2, 7, 3}};
    int[][] pads = {{0, 0, 0, 0}, {1, 0, 0, 2}, {0, 3, 2, 0}, {-1, 2, 1, -1}, {2, 2, 3, 3}, {-2, 0, 0, -1}, {4, -1, -2, 5},
        {6, 7, 8, 9}, {-3, -3, -2, 1}};
    for (int[] sh : shapes) {
      int r = sh.length;
      int h = sh[r - 2];
      int w = sh[r - 1];
      int planes = r == 4 ? sh[0] * sh[1] : sh[0];
      for (int[] pad : pads) {
        for (Mode mode : Mode.values()) {
          float value = mode == Mode.CONSTANT ? 0.75f : 0f;
          String what = Arrays.toString(sh) + " pad " + Arrays.toString(pad) + " " + mode;
          try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(d, 43, -1, 1, sh).requiresGrad(true);
            if (!valid(sh, pad, mode)) {
              assertThrows(IllegalArgumentException.class, () -> Padding.pad2d(x, pad, mode, value), what);
              continue;
            }
            Tensor y = Padding.pad2d(x, pad, mode, value);
            int[] out = sh.clone();
            out[r - 2] = h + pad[2] + pad[3];
            out[r - 1] = w + pad[0] + pad[1];
            assertEquals(Shape.of(out), y.shape(), what);
            assertClose(PaddingReference.run(x.toArray(), null, planes, h, w, pad, mode, value), y.toArray(), 0, 0,
                what + " output");
            Tensor gout = Tensor.uniform(d, 44, -1, 1, y.dims());
            y.backward(gout);
            assertClose(PaddingReference.run(null, gout.toArray(), planes, h, w, pad, mode, value), x.grad().toArray(),
                GRAD_ATOL, GRAD_RTOL, what + " grad x");
          }
        }
      }
    }
  }

  /**
   * PyTorch 1.13's rules (as documented on Padding.pad2d), stated independently of its checks.
   * Checked against F.pad itself on 16,080 shape x pad x mode combinations (pads -5..5, shapes
   * with zero sizes): identical, except circular pads past the other side's crop, which F.pad
   * accepts but fills from uninitialised memory (different results on repeated calls).
   */
  private static boolean valid(int[] sh, int[] pad, Mode mode) {
    int r = sh.length;
    int[] size = {sh[r - 1], sh[r - 1], sh[r - 2], sh[r - 2]};
    long outW = (long) size[0] + pad[0] + pad[1];
    long outH = (long) size[2] + pad[2] + pad[3];
    boolean anyPositive = Arrays.stream(pad).anyMatch(p -> p > 0);
    return switch (mode) {
      case CONSTANT -> size[0] + Math.min(pad[0], 0) + Math.min(pad[1], 0) >= 0
          && size[2] + Math.min(pad[2], 0) + Math.min(pad[3], 0) >= 0 && (!anyPositive || (outW > 0 && outH > 0));
      case REFLECT, REPLICATE -> Arrays.stream(sh, r == 4 ? 1 : 0, r).allMatch(v -> v > 0) && outW >= 0 && outH >= 0
          && outW + outH > 0 && (mode == Mode.REPLICATE || (pad[0] < size[0] && pad[1] < size[0] && pad[2] < size[2]
          && pad[3] < size[2]));
      case CIRCULAR -> {
        if (r != 4 || outW < 0 || outH < 0) yield false;
        for (int k = 0; k < 4; k++) {
          int other = pad[k ^ 1];
          if (pad[k] > size[k] || pad[k] > size[k] + Math.min(pad[k], 0) + Math.min(other, 0)) yield false;
        }
        yield true;
      }
    };
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void gradientFlowsThroughAChain(Device d) {
    TestDevices.assumeUsable(d);
    // pad then crop back with negative pads: the identity, so the gradient is gout itself.
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 45, -1, 1, 2, 3, 5, 4).requiresGrad(true);
      Tensor y = Padding.pad2d(Padding.pad2d(x, new int[] {2, 1, 3, 2}, Mode.REFLECT), -2, -1, -3, -2);
      assertClose(x.toArray(), y.toArray(), 0, 0, "pad then crop");
      Tensor gout = Tensor.uniform(d, 46, -1, 1, 2, 3, 5, 4);
      y.backward(gout);
      assertClose(gout.toArray(), x.grad().toArray(), 0, 0, "grad of pad then crop");
    }
  }

  // ---- bad input ------------------------------------------------------------------------

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 1, 2, 2, 4);
      int[] ok = {1, 1, 1, 1};
      Tensor rank2 = Tensor.zeros(d, 2, 4);
      Tensor rank5 = Tensor.zeros(d, 1, 1, 1, 2, 4);
      Tensor longs = Tensor.empty(d, DType.I64, Shape.of(1, 1, 4, 4));
      for (Tensor bad : new Tensor[] {null, rank2, rank5, longs}) {
        for (Mode m : Mode.values()) assertRejects("x", () -> Padding.pad2d(bad, ok, m, 0f));
      }
      // Circular takes no [C, H, W] input in 1.13 ("Invalid padding size, expected 2 but got 4").
      assertRejects("x", () -> Padding.pad2d(Tensor.zeros(d, 2, 3, 3), ok, Mode.CIRCULAR));
      // Reflect and replicate need C, H, W > 0.
      for (Mode m : new Mode[] {Mode.REFLECT, Mode.REPLICATE}) {
        assertRejects("x", () -> Padding.pad2d(Tensor.zeros(d, 2, 0, 3, 3), ok, m));
        assertRejects("x", () -> Padding.pad2d(Tensor.zeros(d, 2, 1, 0, 3), new int[4], m));
        assertRejects("x", () -> Padding.pad2d(Tensor.zeros(d, 0, 2, 3), ok, m));
      }
      assertRejects("mode", () -> Padding.pad2d(x, ok, null, 0f));
      for (int[] bad : new int[][] {null, {}, {1, 1}, {1, 1, 1}, {1, 1, 1, 1, 0, 0}}) {
        assertRejects("pad", () -> Padding.pad2d(x, bad, Mode.CONSTANT, 0f));
      }
      for (Mode m : new Mode[] {Mode.REFLECT, Mode.REPLICATE, Mode.CIRCULAR}) {
        assertRejects("value", () -> Padding.pad2d(x, ok, m, 1f));
        assertRejects("value", () -> Padding.pad2d(x, ok, m, Float.NaN));
      }
      // Constant: a crop past the input (PyTorch: narrow fails), an empty output next to a
      // positive pad (PyTorch: "resulted in a negative output size").
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-3, -2, 0, 0}));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-5, 3, 0, 0}));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {0, 0, 0, -3}));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-2, -2, 1, 0}));
      assertRejects("pad", () -> Padding.pad2d(Tensor.zeros(d, 1, 1, 0, 3), new int[] {1, 1, 0, 0}));
      // Reflect: every pad below its size (x is 2x4).
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {4, 0, 0, 0}, Mode.REFLECT));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {0, 0, 0, 2}, Mode.REFLECT));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-4, 4, 0, 0}, Mode.REFLECT));
      // Reflect and replicate: output sizes >= 0, not both 0.
      for (Mode m : new Mode[] {Mode.REFLECT, Mode.REPLICATE}) {
        assertRejects("pad", () -> Padding.pad2d(x, new int[] {-3, -2, 0, 0}, m));
        assertRejects("pad", () -> Padding.pad2d(x, new int[] {-2, -2, -1, -1}, m));
      }
      // Circular: at most the size, no negative output, no wrap past the crop.
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {5, 0, 0, 0}, Mode.CIRCULAR));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {0, 0, 3, 0}, Mode.CIRCULAR));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-3, -2, 0, 0}, Mode.CIRCULAR));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {3, -2, 0, 0}, Mode.CIRCULAR));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-4, 1, 0, 0}, Mode.CIRCULAR));
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {-4, 4, 0, 0}, Mode.CIRCULAR));
      // Output sizes past int.
      assertRejects("pad", () -> Padding.pad2d(x, new int[] {Integer.MAX_VALUE, 1, 0, 0}, Mode.REPLICATE));
    }
  }

  @Test
  void acceptsWhatPyTorchAccepts() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 1, 2, 2, 4);
      // Empty outputs PyTorch 1.13 allows.
      assertEquals(Shape.of(1, 2, 0, 0), Padding.pad2d(x, -2, -2, -1, -1).shape());
      assertEquals(Shape.of(1, 2, 3, 0), Padding.pad2d(x, new int[] {-2, -2, 1, 0}, Mode.REFLECT).shape());
      assertEquals(Shape.of(1, 2, 0, 0), Padding.pad2d(x, new int[] {-2, -2, -1, -1}, Mode.CIRCULAR).shape());
      assertEquals(Shape.of(1, 2, 0, 5), Padding.pad2d(Tensor.zeros(d, 1, 2, 0, 3), new int[] {1, 1, 0, 0},
          Mode.CIRCULAR).shape());
      assertEquals(Shape.of(2, 0, 5, 5), Padding.pad2d(Tensor.zeros(d, 2, 0, 3, 3), new int[] {1, 1, 1, 1},
          Mode.CIRCULAR).shape());
      // Replicate has no pad limit; negative value -0 counts as 0 in non-constant modes.
      assertEquals(Shape.of(1, 2, 2, 4), Padding.pad2d(x, new int[] {-4, 4, 0, 0}, Mode.REPLICATE, -0f).shape());
    }
  }
}
