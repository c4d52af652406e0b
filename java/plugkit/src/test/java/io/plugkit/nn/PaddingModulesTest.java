package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Padding;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d against PyTorch. */
class PaddingModulesTest {
  // As PaddingTest: the forward copies (exact); gradients are short float sums (a few ulps).
  private static final double GRAD_ATOL = 1e-6;
  private static final double GRAD_RTOL = 1e-6;

  private static final List<String> CASES = List.of("zero_int", "zero_tuple_odd", "zero_negative", "zero_rank2",
      "zero_rank5", "zero_batch0", "constant_int", "constant_tuple", "constant_3d", "constant_batch0", "reflection_int",
      "reflection_tuple_odd", "reflection_3d", "reflection_negative", "reflection_batch0", "replication_int",
      "replication_wide", "replication_3d", "replication_batch0", "circular_int", "circular_tuple_odd", "circular_full",
      "circular_3d", "circular_negative", "circular_batch0");

  /** The module a fixture names, built from its metadata through the int or the 4-value constructor. */
  private static Pad2d module(SafeTensors.Contents fx) {
    String p = fx.metadata().get("padding");
    float value = Float.parseFloat(fx.metadata().get("value"));
    boolean one = !p.contains(",");
    int single = one ? Integer.parseInt(p) : 0;
    int[] four = one ? null : Arrays.stream(p.split(",")).mapToInt(Integer::parseInt).toArray();
    return switch (fx.metadata().get("module")) {
      case "ZeroPad2d" -> one ? new ZeroPad2d(single) : new ZeroPad2d(four);
      case "ConstantPad2d" -> one ? new ConstantPad2d(single, value) : new ConstantPad2d(four, value);
      case "ReflectionPad2d" -> one ? new ReflectionPad2d(single) : new ReflectionPad2d(four);
      case "ReplicationPad2d" -> one ? new ReplicationPad2d(single) : new ReplicationPad2d(four);
      case "CircularPad2d" -> one ? new CircularPad2d(single) : new CircularPad2d(four);
      default -> throw new IllegalStateException("unknown module " + fx.metadata().get("module"));
    };
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      SafeTensors.Contents fx = Fixtures.load("padding_modules/" + name);
      try (Scope s = Scope.open()) {
        Pad2d m = module(fx);
        assertTrue(m.stateDict().isEmpty(), name + ": no parameters or buffers");
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = m.forward(x);
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " output shape");
        assertEquals(d, y.device(), name + " device");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), 0, 0, name + " output");
        y.backward(fx.tensor("in.gout", d));
        assertEquals(x.shape(), x.grad().shape(), name + " grad shape");
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad x");
      }
    }
  }

  /** One int means that int on all four sides; each module is its mode of pad2d. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void intPaddingIsFourEqualSidesOfPad2d(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 71, -1, 1, 3, 2, 5, 7);
      int[] two = {2, 2, 2, 2};
      Object[][] cases = {
          {new ZeroPad2d(2), Padding.Mode.CONSTANT, 0f}, {new ConstantPad2d(2, -3.5f), Padding.Mode.CONSTANT, -3.5f},
          {new ReflectionPad2d(2), Padding.Mode.REFLECT, 0f}, {new ReplicationPad2d(2), Padding.Mode.REPLICATE, 0f},
          {new CircularPad2d(2), Padding.Mode.CIRCULAR, 0f}};
      for (Object[] c : cases) {
        Pad2d m = (Pad2d) c[0];
        assertArrayEquals(two, m.padding(), m.toString());
        Tensor want = Padding.pad2d(x, two, (Padding.Mode) c[1], (float) c[2]);
        assertClose(want.toArray(), m.forward(x).toArray(), 0, 0, m.toString());
      }
    }
  }

  @Test
  void describesItselfAsPyTorch() {
    assertEquals("ZeroPad2d((1, 2, 3, 4))", new ZeroPad2d(new int[] {1, 2, 3, 4}).toString());
    assertEquals("ConstantPad2d(padding=(2, 2, 2, 2), value=1.5)", new ConstantPad2d(2, 1.5f).toString());
    assertEquals("ReflectionPad2d((1, 0, 2, 3))", new ReflectionPad2d(new int[] {1, 0, 2, 3}).toString());
    assertEquals("CircularPad2d((1, 1, 1, 1))", new CircularPad2d(1).toString());
    assertTrue(new ZeroPad2d(1) instanceof ConstantPad2d, "ZeroPad2d is a ConstantPad2d, as in PyTorch");
    assertEquals(0f, new ZeroPad2d(1).value());
  }

  @Test
  void keepsItsOwnCopyOfThePadding() {
    int[] p = {1, 2, 3, 4};
    ReflectionPad2d m = new ReflectionPad2d(p);
    p[0] = 9;
    m.padding()[1] = 9;
    assertArrayEquals(new int[] {1, 2, 3, 4}, m.padding());
  }

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    for (int[] bad : new int[][] {null, {}, {1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1}}) {
      assertRejects("padding", () -> new ZeroPad2d(bad));
      assertRejects("padding", () -> new ConstantPad2d(bad, 1f));
      assertRejects("padding", () -> new ReflectionPad2d(bad));
      assertRejects("padding", () -> new ReplicationPad2d(bad));
      assertRejects("padding", () -> new CircularPad2d(bad));
    }
    try (Scope s = Scope.open()) {
      Tensor longs = Tensor.empty(d, DType.I64, Shape.of(1, 1, 4, 4));
      List<Pad2d> all = List.of(new ZeroPad2d(1), new ConstantPad2d(1, 2f), new ReflectionPad2d(1), new ReplicationPad2d(1),
          new CircularPad2d(1));
      for (Pad2d m : all) {
        assertRejects("x", () -> m.forward(null));
        assertRejects("x", () -> m.forward(longs));
        assertRejects("x", () -> m.forward(Tensor.zeros(d, 5)));
      }
      // Constant takes any rank >= 2; the other modes [C, H, W] or [N, C, H, W] only (PyTorch 1.13 and 2.1).
      for (Pad2d m : all.subList(2, 5)) {
        assertRejects("x", () -> m.forward(Tensor.zeros(d, 4, 4)));
        assertRejects("x", () -> m.forward(Tensor.zeros(d, 1, 1, 1, 4, 4)));
      }
      Tensor x = Tensor.zeros(d, 1, 2, 3, 4);
      // Reflect: pads below the size (H is 3); circular: at most the size; constant: crops within the input.
      assertRejects("pad", () -> new ReflectionPad2d(3).forward(x));
      assertRejects("pad", () -> new ReflectionPad2d(new int[] {0, 0, 0, 3}).forward(x));
      assertRejects("pad", () -> new CircularPad2d(4).forward(x));
      assertRejects("pad", () -> new CircularPad2d(new int[] {0, 0, 4, 0}).forward(Tensor.zeros(d, 2, 3, 4)));
      assertRejects("pad", () -> new ZeroPad2d(new int[] {-3, -2, 0, 0}).forward(x));
      assertRejects("pad", () -> new ConstantPad2d(new int[] {0, 0, -4, 0}, 1f).forward(Tensor.zeros(d, 3, 4)));
      // Reflect and replicate need non-empty C, H, W; zero sizes are fine for constant.
      assertRejects("x", () -> new ReplicationPad2d(1).forward(Tensor.zeros(d, 1, 2, 0, 4)));
      assertRejects("x", () -> new ReflectionPad2d(1).forward(Tensor.zeros(d, 0, 3, 4)));
      assertEquals(Shape.of(2, 0, 5, 6), new ZeroPad2d(1).forward(Tensor.zeros(d, 2, 0, 3, 4)).shape());
    }
  }
}
