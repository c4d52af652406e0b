package io.plugkit.testing;

import io.plugkit.Device;
import io.plugkit.driver.Drivers;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * The devices every op test runs on: the CPU always, CUDA device 0 when usable. A CUDA case on a
 * machine without a GPU is skipped with the reason, so reports show it. Use as
 * {@code @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")} and start the
 * test with {@code TestDevices.assumeUsable(device)}.
 */
public final class TestDevices {
  private TestDevices() {}

  public static Stream<Device> all() { return Stream.of(Device.cpu(), Device.cuda(0)); }

  public static void assumeUsable(Device d) {
    if (d.isCuda()) Assumptions.assumeTrue(Drivers.cudaUsable(), () -> "CUDA skipped: " + Drivers.cudaProblem());
  }
}
