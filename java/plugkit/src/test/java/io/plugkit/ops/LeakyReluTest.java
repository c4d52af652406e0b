package io.plugkit.ops;

import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class LeakyReluTest {
  /** One float product or a copy per value: bit for bit (signed zeros included), NaN matching NaN. */
  private static void assertBits(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what + ": element count");
    for (int i = 0; i < expected.length; i++) {
      if (Float.isNaN(expected[i]) && Float.isNaN(actual[i])) continue;
      if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
        fail(what + ": element " + i + " expected " + expected[i] + " but got " + actual[i]);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorchAtEdgesAndAnySlope(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : new String[] {"edges_0.01", "edges_0.1", "edges_0", "edges_neg0.5", "edges_2.5", "random_3x7x5"}) {
      SafeTensors.Contents fx = Fixtures.load("leaky_relu/" + name);
      float slope = Float.parseFloat(fx.metadata().get("slope"));
      try (Scope s = Scope.open()) {
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = Activations.leakyRelu(x, slope);
        assertBits(fx.get("out.y").toFloats(), y.toArray(), name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertBits(fx.get("grad.x").toFloats(), x.grad().toArray(), name + " grad x");
      }
    }
  }

  /** Random values, zeros and NaNs at slopes PyTorch accepts (NaN and infinite ones too), against Java. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesReferenceForAnySlope(Device d) {
    TestDevices.assumeUsable(d);
    SplittableRandom rnd = new SplittableRandom(7);
    float[] slopes = {0.1f, -3f, 1f, Float.NaN, Float.POSITIVE_INFINITY, 1e-30f};
    int[][] shapes = {{1, 3, 5}, {2, 5, 7, 9}, {1}, {0, 4}, {40000}};
    for (float slope : slopes) {
      for (int[] shape : shapes) {
        int len = 1;
        for (int v : shape) len *= v;
        float[] xv = new float[len];
        float[] g = new float[len];
        for (int i = 0; i < len; i++) {
          int k = rnd.nextInt(10);
          xv[i] = k == 0 ? 0f : k == 1 ? -0f : k == 2 ? Float.NaN : (float) rnd.nextDouble(-5, 5);
          g[i] = (float) rnd.nextDouble(-1, 1);
        }
        float[] ey = new float[len];
        float[] eg = new float[len];
        for (int i = 0; i < len; i++) {
          ey[i] = xv[i] > 0 ? xv[i] : xv[i] * slope;
          eg[i] = xv[i] > 0 ? g[i] : g[i] * slope;
        }
        String what = "slope " + slope + " shape " + java.util.Arrays.toString(shape);
        try (Scope s = Scope.open()) {
          Tensor x = Tensor.of(d, xv, shape).requiresGrad(true);
          Tensor y = Activations.leakyRelu(x, slope);
          assertEquals(x.shape(), y.shape(), what);
          assertBits(ey, y.toArray(), what + " y");
          y.backward(Tensor.of(d, g, shape));
          assertBits(eg, x.grad().toArray(), what + " grad");
        }
      }
    }
  }

  /** nn.LeakyReLU: PyTorch's default slope 0.01, no state, the op's values. */
  @Test
  void moduleAppliesTheOp() {
    try (Scope s = Scope.open()) {
      io.plugkit.nn.LeakyReLU dflt = new io.plugkit.nn.LeakyReLU();
      assertEquals(0.01f, dflt.negativeSlope());
      assertEquals(0, dflt.stateDict().size());
      Tensor x = Tensor.of(Device.cpu(), new float[] {-2f, 0f, 3f, -0.5f}, 4);
      assertBits(new float[] {-2f * 0.25f, 0f, 3f, -0.5f * 0.25f}, new io.plugkit.nn.LeakyReLU(0.25f).forward(x).toArray(), "module");
      assertBits(new float[] {-2f * 0.01f, 0f, 3f, -0.5f * 0.01f}, dflt.forward(x).toArray(), "default module");
    }
  }

  @Test
  void rejectsBadInput() {
    try (Scope s = Scope.open()) {
      assertRejects("x", () -> Activations.leakyRelu(null, 0.1f));
      assertRejects("x", () -> Activations.leakyRelu(Tensor.empty(Device.cpu(), DType.I64, Shape.of(2)), 0.1f));
    }
  }
}
