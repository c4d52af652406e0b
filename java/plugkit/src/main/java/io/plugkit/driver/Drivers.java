package io.plugkit.driver;

import io.plugkit.Device;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.cuda.CudaDriver;
import java.util.concurrent.ConcurrentHashMap;

/** The driver of each device, created once on first use. */
public final class Drivers {
  private static final ConcurrentHashMap<Integer, Driver> CUDA = new ConcurrentHashMap<>();
  private static volatile String cudaProblem;
  private static volatile boolean cudaProbed;

  private Drivers() {}

  public static Driver of(Device device) {
    if (!device.isCuda()) return CpuDriver.instance();
    requireCuda();
    return CUDA.computeIfAbsent(device.index(), CudaDriver::open);
  }

  /** True when CUDA device 0 can be opened; the reason it cannot is kept for {@link #cudaProblem()}. */
  public static boolean cudaUsable() {
    if (!cudaProbed) {
      synchronized (Drivers.class) {
        if (!cudaProbed) {
          try {
            CUDA.computeIfAbsent(0, CudaDriver::open);
          } catch (RuntimeException | LinkageError e) {
            cudaProblem = e.getMessage();
          }
          cudaProbed = true;
        }
      }
    }
    return cudaProblem == null;
  }

  /** Why CUDA is not usable, or null when it is. */
  public static String cudaProblem() {
    cudaUsable();
    return cudaProblem;
  }

  public static void requireCuda() {
    if (!cudaUsable()) throw new UnsupportedFeatureException("CUDA is not usable here: " + cudaProblem);
  }
}
