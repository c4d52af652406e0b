package io.plugkit;

import io.plugkit.cpu.CpuDriver;
import io.plugkit.cuda.Cublas;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.cuda.Cudnn;
import io.plugkit.cuda.LibraryLocator;
import io.plugkit.cuda.Nvrtc;
import io.plugkit.driver.Drivers;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Prints what plugkit finds on this machine: the JDK, the CPU driver (threads, OpenBLAS), and
 * either the CUDA device with its driver and library versions and paths, or exactly why CUDA is
 * not usable. Run {@code java --enable-native-access=ALL-UNNAMED -cp plugkit.jar:... io.plugkit.Doctor}.
 */
public final class Doctor {
  private static final List<String> VARIABLES = List.of("PLUGKIT_DEVICE", "PLUGKIT_THREADS", "PLUGKIT_OPENBLAS",
      LibraryLocator.LIBS_VARIABLE, "PLUGKIT_KERNEL_CACHE", "PLUGKIT_CUDA_TF32", "PLUGKIT_CUDA_POOL_KEEP_MB",
      "PLUGKIT_CUDNN_WORKSPACE_MB", "PLUGKIT_EMULATED_DEVICES", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX");

  /** The libraries plugkit may load, by soname: for cuBLAS and NVRTC, those of the CUDA majors this driver runs. */
  private static Map<String, List<String>> libraries(int driverVersion) {
    Map<String, List<String>> libraries = new LinkedHashMap<>();
    libraries.put("libcuda", CudaLibrary.SONAMES);
    libraries.put("cuBLAS", Cublas.sonames(driverVersion));
    libraries.put("cuBLASLt", Cublas.ltSonames(driverVersion));
    libraries.put("cuDNN", Cudnn.SONAMES);
    libraries.put("NVRTC", Nvrtc.sonames(driverVersion));
    libraries.put("NCCL", io.plugkit.dist.Nccl.SONAMES);
    return libraries;
  }

  /** cuDriverGetVersion, or 0 where libcuda does not load. */
  private static int driverVersion() {
    try {
      return CudaLibrary.instance().driverVersion();
    } catch (RuntimeException | LinkageError e) {
      return 0;
    }
  }

  private Doctor() {}

  public static void main(String[] args) { System.out.print(report()); }

  /** The whole report, one fact per line. */
  public static String report() {
    StringBuilder sb = new StringBuilder("plugkit doctor\n");
    sb.append("Java: ").append(System.getProperty("java.version")).append(" (").append(System.getProperty("java.vendor"))
        .append(", ").append(System.getProperty("java.home")).append(")\n");
    sb.append("OS: ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.version")).append(' ')
        .append(System.getProperty("os.arch")).append(", ").append(Runtime.getRuntime().availableProcessors())
        .append(" cores\n");
    sb.append("Environment:");
    boolean any = false;
    for (String v : VARIABLES) {
      String value = System.getenv(v);
      if (value != null) {
        sb.append("\n  ").append(v).append('=').append(value);
        any = true;
      }
    }
    sb.append(any ? "\n" : " none of the variables plugkit reads is set\n");

    sb.append("CPU: ");
    try {
      sb.append(CpuDriver.instance().describe()).append('\n');
    } catch (RuntimeException | LinkageError e) {
      sb.append("not usable: ").append(e).append('\n');
    }

    sb.append("CUDA: ");
    if (Drivers.cudaUsable()) {
      try {
        sb.append(Drivers.of(Device.cuda(0)).describe()).append('\n');
      } catch (RuntimeException | LinkageError e) {
        sb.append("device 0 opened but could not be described: ").append(e).append('\n');
      }
    } else {
      sb.append("not usable: ").append(Drivers.cudaProblem()).append('\n');
    }

    sb.append("NCCL (multi-GPU): ");
    try {
      io.plugkit.dist.Nccl nccl = io.plugkit.dist.Nccl.instance();
      sb.append(io.plugkit.dist.Nccl.dotted(nccl.version())).append(" at ").append(nccl.location()).append('\n');
    } catch (RuntimeException | LinkageError e) {
      sb.append("not usable: ").append(e.getMessage()).append('\n');
    }

    LibraryLocator locator = LibraryLocator.system();
    int driverVersion = driverVersion();
    sb.append("CUDA library files found (besides whatever the system loader resolves by soname)")
        .append(driverVersion > 0 ? ", of the CUDA majors the driver runs" : "").append(":\n");
    for (Map.Entry<String, List<String>> lib : libraries(driverVersion).entrySet()) {
      List<Path> files = locator.files(lib.getValue());
      sb.append("  ").append(lib.getKey()).append(": ").append(files.isEmpty() ? "no file in the searched folders" : files.toString())
          .append('\n');
    }
    sb.append("Search order: ").append(locator.describeSearch()).append('\n');
    return sb.toString();
  }
}
