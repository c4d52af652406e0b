package io.plugkit.cuda;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Device;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.NativeException;

/**
 * Launches a kernel on device 1 with a block of device 0 (no peer access): a fault, sticky for
 * the process, so {@link MultiDeviceTest} runs it in its own JVM.
 */
public final class MultiDeviceFaultCheck {
  private MultiDeviceFaultCheck() {}

  public static void main(String[] args) {
    Driver d0 = Drivers.of(Device.cuda(0));
    Driver d1 = Drivers.of(Device.cuda(1));
    long block = d0.allocate(4L * 64);
    d0.synchronize();
    try {
      d1.launch(Kernel.of("fill_f32", PTR, F32), 64, block, 1f);
      d1.synchronize();
      System.out.println("NO FAULT");
    } catch (NativeException e) {
      System.out.println("FAULT " + e.getMessage());
    }
  }
}
