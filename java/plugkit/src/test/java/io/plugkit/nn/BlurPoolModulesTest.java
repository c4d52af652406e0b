package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.BlurPool.PadType;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** BlurPool, MaxBlurPool and BlurConv against PyTorch modules with antialiased-cnns' state dicts. */
class BlurPoolModulesTest {
  // As in BlurPoolTest: a few ulps of values below ~4 (BlurConv adds a 27-term convolution first).
  private static final double ATOL = 4e-6;
  private static final double RTOL = 1e-5;

  private static Map<String, SafeTensors.Entry> state(SafeTensors.Contents fx, String prefix) {
    Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
    String p = prefix + ".state.";
    fx.tensors().forEach((k, v) -> { if (k.startsWith(p)) out.put(k.substring(p.length()), v); });
    return out;
  }

  private static void check(Device d, SafeTensors.Contents fx, String prefix, Module m, List<String> keys) {
    assertEquals(keys, List.copyOf(m.stateDict().keySet()), prefix + " state dict keys");
    Map<String, SafeTensors.Entry> state = state(fx, prefix);
    assertEquals(keys, List.copyOf(state.keySet()), prefix + " PyTorch state dict keys");
    // The filter made here equals PyTorch's bit for bit (its taps are exact in float).
    String filt = keys.get(keys.size() - 1);
    assertClose(state.get(filt).toFloats(), m.stateDict().get(filt).toArray(), 0, 0, prefix + " filt");
    m.loadStateDict(state, true);
    Tensor x = fx.tensor(prefix + ".in.x", d).requiresGrad(true);
    Tensor y = m.forward(x);
    assertEquals(fx.get(prefix + ".out.y").shape(), y.shape(), prefix + " shape");
    assertClose(fx.get(prefix + ".out.y").toFloats(), y.toArray(), ATOL, RTOL, prefix + " output");
    y.backward(fx.tensor(prefix + ".in.gout", d));
    assertClose(fx.get(prefix + ".grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, prefix + " grad x");
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void modulesMatchPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents fx = Fixtures.load("blur_pool/modules");
    try (Scope s = Scope.open()) {
      check(d, fx, "blur", new BlurPool(5, PadType.REFLECT, 4, 2, 0, d), List.of("filt"));
      check(d, fx, "max_blur", new MaxBlurPool(5, PadType.REFLECT, 3, 2, 0, d), List.of("1.filt"));
      check(d, fx, "blur_conv", new BlurConv(3, 5, 3, 1, PadType.REFLECT, 5, 2, d), List.of("0.weight", "0.bias", "2.filt"));
    }
  }

  @Test
  void rejectsBadArguments() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      BlurPool blur = new BlurPool(3, PadType.REFLECT, 3, 2, 0, d);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> blur.forward(Tensor.zeros(d, 1, 4, 6, 6)));
      assertTrue(e.getMessage().startsWith("x: expected 3 channels"), e.getMessage());
      MaxBlurPool maxBlur = new MaxBlurPool(2, PadType.ZERO, 2, 2, 0, d);
      assertThrows(IllegalArgumentException.class, () -> maxBlur.forward(Tensor.zeros(d, 1, 3, 6, 6)));
      assertThrows(IllegalArgumentException.class, () -> new BlurPool(0));
      e = assertThrows(IllegalArgumentException.class, () -> new BlurPool(3, PadType.REFLECT, 8, 2, 0, d));
      assertTrue(e.getMessage().startsWith("filtSize:"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> new MaxBlurPool(3, PadType.REFLECT, 3, 0, 0, d));
      assertTrue(e.getMessage().startsWith("stride:"), e.getMessage());
    }
  }
}
