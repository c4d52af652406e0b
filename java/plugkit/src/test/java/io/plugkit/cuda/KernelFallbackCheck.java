package io.plugkit.cuda;

import static io.plugkit.testing.ChildJvm.check;
import static io.plugkit.testing.ChildJvm.exitWithChecks;
import io.plugkit.Device;
import io.plugkit.Doctor;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.UnsupportedFeatureException;

/**
 * One scenario of the kernel loading path against the fake libcuda and NVRTC, run in its own JVM
 * by {@link KernelFallbackTest}: {@code args[0]} names it, {@code args[1]} is the kernel cache
 * folder. Prints one line per check and exits with the number of failures.
 */
public final class KernelFallbackCheck {
  private KernelFallbackCheck() {}

  public static void main(String[] args) {
    String cache = args[1];
    switch (args[0]) {
      case "compile" -> usable("compiled at run time by NVRTC 13.0 (", "for sm_90, cached at " + cache + "/plugkit-");
      case "cached" -> usable("loaded from the NVRTC cache at " + cache + "/plugkit-", "-cuda13000-sm_90.cubin; ");
      case "compile-error" -> unusable("NVRTC: nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION (6):"
          + " fill.cu(5): error: fake compile error");
      case "no-nvrtc" -> unusable("the CUDA kernels cannot be loaded: the driver refused " + KernelModule.FATBIN
          + " (CUDA_ERROR_UNSUPPORTED_PTX_VERSION (222): its PTX 9.0 needs an R580+ driver (CUDA 13.0); this one supports"
          + " CUDA " + args[2] + "), and no NVRTC can compile them at run time (NVRTC not found: no [" + args[3] + "] loads");
      case "old-driver" -> oldDriver();
      default -> throw new IllegalArgumentException("scenario: " + args[0]);
    }
    exitWithChecks();
  }

  /** CUDA opens, says how it got its kernels (both parts in describe() and the Doctor), and runs one. */
  private static void usable(String how, String where) {
    check(Drivers.cudaUsable(), "CUDA usable: " + Drivers.cudaProblem());
    if (!Drivers.cudaUsable()) return;
    String described = Drivers.of(Device.cuda(0)).describe();
    System.out.println(described);
    check(described.contains("; kernels: " + how) && described.contains(where), "describe() says " + how + " ... " + where);
    check(described.contains("the driver refused " + KernelModule.FATBIN + " (CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
        "describe() says why the fatbin was not used");
    check(Doctor.report().contains("; kernels: " + how), "the Doctor says it too");
    try (Scope s = Scope.open()) {
      check(Tensor.full(Device.cuda(0), 1.5f, 7).toArray()[6] == 1.5f, "fill_f32 runs from the NVRTC module");
    }
  }

  private static void unusable(String expected) {
    check(!Drivers.cudaUsable(), "CUDA not usable");
    String problem = String.valueOf(Drivers.cudaProblem());
    System.out.println(problem);
    check(problem.contains(expected), "the problem says: " + expected);
  }

  /**
   * A CUDA 12.4 driver with CUDA 13 libraries only: the fatbin loads (the fake does not check its
   * PTX version), cuBLAS 13 is not taken, and cuDNN built for CUDA 13 is refused with both versions.
   */
  private static void oldDriver() {
    check(Drivers.cudaUsable(), "CUDA usable: " + Drivers.cudaProblem());
    Driver cuda = Drivers.of(Device.cuda(0));
    String described = cuda.describe();
    System.out.println(described);
    check(described.contains("NVIDIA driver supports CUDA 12.4"), "driver version");
    check(described.contains("; cuBLAS: unsupported: cuBLAS not found: no [libcublas.so.12] loads;")
        && described.contains("(the NVIDIA driver supports CUDA 12.4: a newer cuBLAS major would not run on it)"),
        "cuBLAS 13 is not loaded for a 12.4 driver");
    String cudnn = "was built for CUDA 13.0 (cudnnGetCudartVersion 13000) but the NVIDIA driver supports CUDA 12.4";
    check(described.contains(cudnn), "describe() names both CUDA versions for cuDNN");
    try {
      cuda.conv2dForward(new Conv2dGeometry(1, 1, 3, 3, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, 1, 1);
      check(false, "a convolution with a cuDNN for a newer CUDA is refused");
    } catch (UnsupportedFeatureException e) {
      check(e.getMessage().contains(cudnn), e.getMessage());
    }
    String report = Doctor.report();
    check(report.contains("  NVRTC: ") && !report.contains("libnvrtc.so.13"), "the Doctor looks for NVRTC 12 only");
  }
}
