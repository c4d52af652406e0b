package io.plugkit.cuda;

import static io.plugkit.testing.ChildJvm.check;
import static io.plugkit.testing.ChildJvm.exitWithChecks;

import io.plugkit.Device;
import io.plugkit.Doctor;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.UnsupportedFeatureException;

/**
 * What a machine without an NVIDIA driver must see: CUDA unusable with the reason, the CPU as
 * the best device, doctor saying why. Run by {@link CudaUnavailableTest} in a JVM that is not
 * pointed at the emulated device; prints one line per check, or SKIP where a libcuda loads anyway.
 */
public final class CudaUnavailableCheck {
  private CudaUnavailableCheck() {}

  public static void main(String[] args) {
    try {
      CudaLibrary.instance();
      System.out.println("SKIP libcuda loads here: these checks are for machines without the NVIDIA driver");
      return;
    } catch (UnsupportedFeatureException expected) {
      // the case under test
    }
    check(!Drivers.cudaUsable(), "CUDA is not usable");
    String problem = Drivers.cudaProblem();
    check(problem.contains("libcuda.so.1") && problem.contains("system loader"),
        "the problem names libcuda and where it looked: " + problem);
    try {
      CudaDriver.open(0);
      check(false, "opening the driver throws");
    } catch (UnsupportedFeatureException e) {
      check(e.getMessage().startsWith("unsupported: CUDA driver (libcuda) not found"), e.getMessage());
    }
    check(Device.best().equals(Device.cpu()), "the best device is the CPU");
    String report = Doctor.report();
    check(report.contains("CPU: CPU driver: ") && report.contains("OpenBLAS"), "doctor reports the CPU driver");
    check(report.contains("CUDA: not usable: unsupported: CUDA driver (libcuda) not found"),
        "doctor says why CUDA is not usable");
    check(report.contains("Search order: ") && report.contains("cuDNN: "), "doctor lists the search");
    exitWithChecks();
  }
}
