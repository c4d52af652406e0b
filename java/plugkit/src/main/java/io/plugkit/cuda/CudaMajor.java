package io.plugkit.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Which CUDA library majors a driver can run. A driver runs the libraries of its own CUDA major
 * and of older ones (backward compatibility), never of a newer one: libcublas.so.13 on a 12.x
 * driver fails at its first call. So libraries are tried newest usable major first, down to 12
 * (the oldest this plugkit binds; it asks libcuda for the CUDA 12.0 ABI).
 */
final class CudaMajor {
  static final int OLDEST = 12;
  /** The majors tried when the driver is not known (the Doctor without libcuda): every one plugkit knows. */
  private static final int NEWEST_KNOWN = 13;

  private CudaMajor() {}

  /** The majors a driver reporting {@code driverVersion} (cuDriverGetVersion; 0: unknown) runs, best first. */
  static List<Integer> usable(int driverVersion) {
    int newest = driverVersion <= 0 ? NEWEST_KNOWN : driverVersion / 1000;
    List<Integer> out = new ArrayList<>();
    for (int m = newest; m >= OLDEST; m--) out.add(m);
    return out;
  }

  /** {@code stem + major} for each usable major, best first: {@code libcublas.so.13, libcublas.so.12}. */
  static List<String> sonames(String stem, int driverVersion) {
    return usable(driverVersion).stream().map(m -> stem + m).toList();
  }

  /** "CUDA 12.4" for 12040. */
  static String dotted(int cudaVersion) { return "CUDA " + cudaVersion / 1000 + "." + cudaVersion % 1000 / 10; }
}
