package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.driver.Drivers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** What a result file says about where and how it was measured. */
public final class RunInfo {
  private RunInfo() {}

  public static Map<String, Object> capture(Device device, int threads, int warmup, int repeats, Roofs roofs,
      String torchVersion) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("date", Instant.now().toString());
    m.put("cpu", cpuModel());
    m.put("cores", Runtime.getRuntime().availableProcessors());
    m.put("threads", threads);
    m.put("device", device.toString());
    // The driver's own line: OpenBLAS's build config, or CUDA driver, cuBLAS, cuDNN versions.
    m.put("libraries", Drivers.of(device).describe());
    // Set, it picks OpenBLAS's kernels (e.g. Haswell's AVX2 GEMM on an AVX-512 CPU); null when unset.
    m.put("openblas_coretype", openblasCoretype());
    m.put("jdk", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
    m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
    m.put("commit", gitCommit());
    m.put("dtype", "F32");
    m.put("warmup", warmup);
    m.put("repeats", repeats);
    m.put("timing", "host clock (System.nanoTime) around each run, ended by a device synchronize");
    m.put("torch", torchVersion);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("gflops", roofs.gflops());
    r.put("gbps", roofs.gbps());
    r.put("gemm", roofs.gemmShape());
    r.put("copy", roofs.copyShape());
    r.put("cached", roofs.cached());
    m.put("roofs", r);
    return m;
  }

  /** The key a machine's roofs are cached under. */
  public static String roofKey(Device device, int threads) {
    // The libraries' versions without their paths (the CPU driver unpacks OpenBLAS to a fresh temp folder).
    return cpuModel() + " | " + Runtime.getRuntime().availableProcessors() + " cores | " + device + " | "
        + threads + " threads | " + Drivers.of(device).describe().replaceAll(" at /\\S*", "")
        // The GEMM roof depends on it (182 against 294 GFLOP/s on the 2-thread AVX-512 VM with Haswell set).
        + " | OPENBLAS_CORETYPE " + (openblasCoretype() == null ? "unset" : openblasCoretype());
  }

  /** OPENBLAS_CORETYPE from the environment (OpenBLAS reads it when it loads), null when unset or empty. */
  public static String openblasCoretype() {
    String v = System.getenv("OPENBLAS_CORETYPE");
    return v == null || v.isBlank() ? null : v.trim();
  }

  /** The header line saying OPENBLAS_CORETYPE is set, or null when it is not. */
  static String openblasCoretypeNote() {
    String v = openblasCoretype();
    return v == null ? null : "OPENBLAS_CORETYPE=" + v + " is set: OpenBLAS runs " + v + "'s kernels, not the ones it would"
        + " pick for this CPU (GEMM rates and the GEMM roof follow it; `env -u OPENBLAS_CORETYPE make bench ...` measures"
        + " with the CPU's own)";
  }

  static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
        if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
      }
    } catch (IOException | RuntimeException ignored) {
      // Not Linux: fall through to the JVM's architecture name.
    }
    return System.getProperty("os.arch");
  }

  static String gitCommit() {
    try {
      Process p = new ProcessBuilder("git", "describe", "--always", "--dirty", "--abbrev=40")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 && !out.isEmpty()) return out;
    } catch (IOException e) {
      return "unknown (" + e.getMessage() + ")";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return "unknown";
  }
}
