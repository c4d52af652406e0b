package io.plugkit.nn;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.ops.Conv;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Sizes near 2^31: each constructor throws an IllegalArgumentException that names its arguments
 * before anything is allocated (it threw ArithmeticException "integer overflow" from Tensor, or
 * wrapped an int product). The CPU device: nothing is allocated, so the device does not matter.
 */
class ModuleSizeTest {
  private static final int MAX = Integer.MAX_VALUE;
  private static final Device CPU = Device.cpu();

  private static void assertRejected(Executable make, String names) {
    try (Scope s = Scope.open()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, make);
      assertTrue(e.getMessage().startsWith(names + ": expected"), e.getMessage());
    }
  }

  @Test
  void hugeSizesAreIllegalArgumentsNamingTheArguments() {
    assertRejected(() -> new Linear(1 << 16, 1 << 16), "in, out");
    assertRejected(() -> new Linear(MAX, 2, true, CPU), "in, out");
    String conv = "inChannels, outChannels, kernelH, kernelW, groups";
    assertRejected(() -> new Conv2d(1 << 16, 1 << 16, 1), conv);
    assertRejected(() -> new Conv2d(1, 1, 1 << 16), conv);
    assertRejected(() -> new Conv2d(MAX, MAX, MAX, MAX, 1, true, CPU), conv);
    assertRejected(() -> new BatchNorm2d(MAX), "channels");
    assertRejected(() -> new NonLocal2d(MAX, NonLocal2d.Mode.EMBEDDED_GAUSSIAN, CPU), "inChannels, interChannels");
    assertRejected(() -> new NonLocal2d(1, MAX, NonLocal2d.Mode.CONCATENATION, false, false, CPU), "inChannels, interChannels");
    assertRejected(() -> new DeformConv2d(1 << 16, 1 << 16, 3), conv);
    assertRejected(() -> new ModulatedDeformConv2d(8, 8, 1 << 16), conv);
    // The weight fits; the offset conv's 2 * offsetGroups * kh * kw outputs times its weight do not.
    assertRejected(() -> new DeformConv2d(1 << 20, 1 << 20, 32, 32, Conv.Options.DEFAULT.groups(1 << 20), 1 << 20, false,
        CPU), "offsetGroups, kernelH, kernelW");
    assertRejected(() -> new SqueezeExcite(MAX), "channels, options");
    assertRejected(() -> new Cbam(MAX), "channels, options");
  }
}
