package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Elementwise;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DeformConvModulesTest {
  // Float32 against torchvision's float32 through two convolutions (offset conv, then the
  // deformable one): sums of at most 36 products of values <= ~1.
  private static final double ATOL = 5e-5;
  private static final double RTOL = 1e-4;
  private static final Conv.Options FIXTURE_OPTIONS = Conv.Options.DEFAULT.stride(1, 2).padding(1).dilation(2, 1).groups(2);

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void loadsMmcvNamesAndMatchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (boolean v2 : new boolean[] {false, true}) {
      String name = v2 ? "module_v2" : "module_v1";
      try (Scope s = Scope.open()) {
        Module m = v2 ? new ModulatedDeformConv2d(4, 6, 3, 3, FIXTURE_OPTIONS, 2, true, d)
            : new DeformConv2d(4, 6, 3, 3, FIXTURE_OPTIONS, 2, false, d);
        List<String> keys = v2 ? List.of("weight", "bias", "conv_offset.weight", "conv_offset.bias")
            : List.of("weight", "conv_offset.weight", "conv_offset.bias");
        assertEquals(keys, List.copyOf(m.stateDict().keySet()), name + " state dict names");
        SafeTensors.Contents fx = Fixtures.load("deform_conv/" + name);
        Map<String, SafeTensors.Entry> state = new LinkedHashMap<>();
        for (String k : keys) state.put(k, fx.get("state." + k));
        m.loadStateDict(state, true);
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = m.forward(x);
        assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " grad x");
        Map<String, Tensor> params = m.namedParameters();
        for (String k : keys) {
          assertClose(fx.get("grad." + k).toFloats(), params.get(k).grad().toArray(), ATOL, RTOL, name + " grad " + k);
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void freshLayersAreConvolutions(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Conv.Options options = Conv.Options.DEFAULT.padding(1).stride(2);
      Tensor x = Tensor.uniform(d, 7, -1f, 1f, 2, 4, 6, 5);
      DeformConv2d v1 = new DeformConv2d(4, 3, 3, 3, options, 2, false, d);
      Tensor conv = Conv.conv2d(x, v1.weight().tensor(), null, options);
      assertClose(conv.toArray(), v1.forward(x).toArray(), 1e-5, 1e-5, "v1 with zero offsets");
      ModulatedDeformConv2d v2 = new ModulatedDeformConv2d(4, 3, 3, 3, options, 1, true, d);
      // sigmoid(0) = 0.5 weights every sample; the bias starts at zero.
      Tensor half = Elementwise.mulScalar(Conv.conv2d(x, v2.weight().tensor(), null, options), 0.5f);
      assertClose(half.toArray(), v2.forward(x).toArray(), 1e-5, 1e-5, "v2 with zero offsets and mask logits");
      float bound = (float) (1 / Math.sqrt(4 * 3 * 3));
      for (float w : v2.weight().tensor().toArray()) assertTrue(Math.abs(w) <= bound, "mmcv init bound");
    }
  }

  @Test
  void rejectsBadArguments() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      assertMessage(() -> new DeformConv2d(0, 4, 3), "inChannels, outChannels: expected > 0");
      assertMessage(() -> new ModulatedDeformConv2d(4, 4, 0), "kernel: expected sizes > 0");
      assertMessage(() -> new DeformConv2d(4, 6, 3, 3, Conv.Options.DEFAULT.groups(4), 1, false, d), "groups: expected a divisor");
      assertMessage(() -> new ModulatedDeformConv2d(4, 6, 3, 3, Conv.Options.DEFAULT, 3, true, d), "offsetGroups: expected a positive divisor");
      assertMessage(() -> new DeformConv2d(4, 6, 3, 3, null, 1, false, d), "options: expected conv options");
    }
  }

  private static void assertMessage(org.junit.jupiter.api.function.Executable call, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
  }
}
