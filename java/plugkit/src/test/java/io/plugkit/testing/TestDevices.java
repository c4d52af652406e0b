package io.plugkit.testing;

import io.plugkit.Device;
import io.plugkit.driver.Drivers;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The devices every op test runs on: the CPU always, CUDA device 0 when usable. A CUDA case on a
 * machine without a GPU is skipped with the reason, so reports show it; with
 * {@code PLUGKIT_DEVICE=cuda} (the GPU check) it fails instead, so that check cannot pass by
 * skipping. Use as {@code @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")}
 * and start the test with {@code TestDevices.assumeUsable(device)}.
 */
public final class TestDevices {
  private TestDevices() {}

  public static Stream<Device> all() { return Stream.of(Device.cpu(), Device.cuda(0)); }

  /** True when CUDA cases must run: {@code PLUGKIT_DEVICE=cuda}. */
  public static boolean cudaRequired() { return "cuda".equalsIgnoreCase(System.getenv("PLUGKIT_DEVICE")); }

  public static void assumeUsable(Device d) {
    if (!d.isCuda()) return;
    if (!Drivers.cudaUsable()) {
      if (cudaRequired()) Assertions.fail("CUDA required (PLUGKIT_DEVICE=cuda) but not usable: " + Drivers.cudaProblem());
      Assumptions.abort("CUDA skipped: " + Drivers.cudaProblem());
    }
    SkipSummaryListener.markCudaCase();
  }
}
