package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.plugkit.Device;
import io.plugkit.Doctor;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.UnsupportedFeatureException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * On a machine without an NVIDIA driver (CI, this one) CUDA must report why, and everything
 * must fall back to the CPU. Skipped where libcuda loads.
 */
class CudaUnavailableTest {
  @BeforeEach void onlyWithoutLibcuda() {
    boolean libcuda;
    try {
      CudaLibrary.instance();
      libcuda = true;
    } catch (UnsupportedFeatureException e) {
      libcuda = false;
    }
    assumeFalse(libcuda, "libcuda loads here: these checks are for machines without the NVIDIA driver");
  }

  @Test void cudaIsNotUsableAndTheProblemNamesLibcudaAndWhereItLooked() {
    assertFalse(Drivers.cudaUsable());
    String problem = Drivers.cudaProblem();
    assertTrue(problem.contains("libcuda.so.1"), problem);
    assertTrue(problem.contains("system loader"), problem);
  }

  @Test void openingTheDriverThrowsUnsupported() {
    var e = assertThrows(UnsupportedFeatureException.class, () -> CudaDriver.open(0));
    assertTrue(e.getMessage().startsWith("unsupported: CUDA driver (libcuda) not found"), e.getMessage());
  }

  @Test void bestDeviceIsTheCpu() {
    assumeFalse("cuda".equalsIgnoreCase(System.getenv("PLUGKIT_DEVICE")), "PLUGKIT_DEVICE=cuda forces CUDA");
    assertEquals(Device.cpu(), Device.best());
  }

  @Test void doctorReportsTheCpuDriverAndWhyCudaIsUnusable() {
    String report = Doctor.report();
    assertTrue(report.contains("CPU: CPU driver: "), report);
    assertTrue(report.contains("OpenBLAS"), report);
    assertTrue(report.contains("CUDA: not usable: unsupported: CUDA driver (libcuda) not found"), report);
    assertTrue(report.contains("Search order: "), report);
    assertTrue(report.contains("cuDNN: "), report);
  }
}
