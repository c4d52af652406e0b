package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.GridSample;
import io.plugkit.ops.MaxPool2dOptions;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SpatialTransformerTest {
  private static final List<String> KEYS = List.of("localization.0.weight", "localization.0.bias", "localization.3.weight",
      "localization.3.bias", "fc_loc.0.weight", "fc_loc.0.bias", "fc_loc.2.weight", "fc_loc.2.bias");

  /** The layout of tools/fixtures/fx_grid_sample.py's SmallStn: [N, 1, 12, 14] -> 6 features. */
  private static SpatialTransformer small(Device d) {
    Sequential localization = new Sequential(
        new Conv2d(1, 4, 5, 5, 1, true, d), new MaxPool2d(MaxPool2dOptions.kernel(2)), new ReLU(),
        new Conv2d(4, 6, 3, 3, 1, true, d), new MaxPool2d(MaxPool2dOptions.kernel(2)), new ReLU());
    return new SpatialTransformer(localization, 6, 8, d);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void namesAndShapesFollowTheTutorial(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Map<String, Tensor> params = SpatialTransformer.tutorial(d).namedParameters();
      assertEquals(KEYS, List.copyOf(params.keySet()));
      assertArrayEquals(new int[] {8, 1, 7, 7}, params.get("localization.0.weight").dims());
      assertArrayEquals(new int[] {10, 8, 5, 5}, params.get("localization.3.weight").dims());
      assertArrayEquals(new int[] {32, 90}, params.get("fc_loc.0.weight").dims());
      assertArrayEquals(new int[] {6, 32}, params.get("fc_loc.2.weight").dims());
      assertArrayEquals(new float[6 * 32], params.get("fc_loc.2.weight").toArray());
      assertArrayEquals(new float[] {1, 0, 0, 0, 1, 0}, params.get("fc_loc.2.bias").toArray());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void untrainedModuleReturnsItsInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 5, -1f, 1f, 3, 1, 28, 28);
      SpatialTransformer stn = SpatialTransformer.tutorial(d);
      assertClose(new float[] {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0}, stn.theta(x).toArray(), 0, 0, "theta");
      // The identity grid without align_corners lands on pixel centres to a few ulp.
      assertClose(x.toArray(), stn.forward(x).toArray(), 1e-5, 0, "identity at initialisation");
      Tensor y = stn.alignCorners(true).padding(GridSample.Padding.BORDER).forward(x);
      assertClose(x.toArray(), y.toArray(), 1e-5, 0, "identity with align_corners");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorchForwardAndBackward(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SpatialTransformer stn = small(d);
      stn.loadStateDict(Fixtures.load("grid_sample/stn_weights"), true);
      SafeTensors.Contents fx = Fixtures.load("grid_sample/stn");
      Tensor x = fx.tensor("in.x", d).requiresGrad(true);
      Tensor y = stn.forward(x);
      // conv, pool, two linears, affine_grid, grid_sample in float: a few ulp through each.
      assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-5, 1e-5, "y");
      y.backward(fx.tensor("in.gout", d));
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-5, 1e-4, "grad x");
      for (var e : stn.namedParameters().entrySet()) {
        // Gradients of the localisation net sum over every output pixel (336) through the grid.
        assertClose(fx.get("grad." + e.getKey()).toFloats(), e.getValue().grad().toArray(), 1e-4, 1e-4, "grad " + e.getKey());
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void outputSizeAndBadInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SpatialTransformer stn = small(d).outputSize(5, 9).mode(GridSample.Mode.BICUBIC);
      assertArrayEquals(new int[] {2, 1, 5, 9}, stn.forward(Tensor.zeros(d, 2, 1, 12, 14)).dims());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> stn.forward(Tensor.zeros(d, 2, 1, 20, 20)));
      assertTrue(e.getMessage().contains("x: the localization net turns [2, 1, 20, 20] into [2, 6, 3, 3], 54 features per image,"
          + " but fc_loc expects features = 6"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> stn.forward(Tensor.zeros(d, 1, 12, 14)));
      assertTrue(e.getMessage().startsWith("x: expected rank 4 [N, C, H, W]"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> new SpatialTransformer(null, 6, 8, d));
      assertTrue(e.getMessage().startsWith("localization:"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> stn.outputSize(0, 3));
      assertTrue(e.getMessage().startsWith("outputSize:"), e.getMessage());
    }
  }
}
