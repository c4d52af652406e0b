package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Linear;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The machine's two roofs, measured through plugkit's own paths: peak FP32 FLOP/s from a large square
 * matmul (the CPU driver's OpenBLAS sgemm, cuBLAS on CUDA) and memory bandwidth from a large
 * elementwise add (read a, read b, write a + b: 12 bytes per element, a triad's traffic). Each is the
 * best of several timed runs (host clock after a device synchronize). Cached in a JSON file per
 * machine, device, driver libraries and thread count, so later runs on the same machine reuse them.
 * A roof is a peak and other processes only ever lower a measurement, so the cache keeps the highest
 * value measured for each (on a shared machine, one measurement can come out several times too low).
 */
public record Roofs(double gflops, double gbps, String gemmShape, String copyShape, boolean cached) {

  /** The default cache: ~/.cache/plugkit/bench-roofs.json. */
  public static Path defaultCache() {
    return Path.of(System.getProperty("user.home"), ".cache", "plugkit", "bench-roofs.json");
  }

  /**
   * The roofs for this key from {@code cache}; measured now when not cached or {@code remeasure}, and
   * then stored there (unless cache is null) as the higher of the new and the cached value of each.
   */
  public static Roofs get(Device device, String key, Path cache, boolean remeasure) {
    return get(device, key, cache, remeasure, defaultGemmSize(device), defaultVectorSize(device));
  }

  /** CPU: 2048^3 (17 GFLOP) keeps OpenBLAS in its steady state; the GPU needs more to fill it. */
  public static int defaultGemmSize(Device device) { return device.isCuda() ? 8192 : 2048; }

  /**
   * 6 Mi floats = 24 MiB per array: well past the last-level cache, yet under glibc's largest mmap
   * threshold (32 MiB), so after the first run the output comes from the heap instead of fresh
   * page-faulting pages (the cases' outputs are allocated the same way). 32 Mi floats on CUDA.
   */
  public static int defaultVectorSize(Device device) { return device.isCuda() ? 32 << 20 : 6 << 20; }

  /** As {@link #get(Device, String, Path, boolean)} with the roof kernels' sizes given (the key should name them). */
  public static Roofs get(Device device, String key, Path cache, boolean remeasure, int gemmSize, int vectorSize) {
    Map<String, Object> all = new LinkedHashMap<>();
    if (cache != null && Files.isReadable(cache)) {
      try {
        if (Json.parse(Files.readString(cache)) instanceof Map<?, ?> m) {
          m.forEach((k, v) -> all.put(String.valueOf(k), v));
        }
      } catch (IOException | IllegalArgumentException e) {
        System.err.println("bench: ignoring unreadable roof cache " + cache + ": " + e.getMessage());
      }
    }
    Roofs old = all.get(key) instanceof Map<?, ?> c && c.get("gflops") instanceof Double f && c.get("gbps") instanceof Double b
        ? new Roofs(f, b, String.valueOf(c.get("gemm")), String.valueOf(c.get("copy")), true) : null;
    if (old != null && !remeasure) return old;
    Roofs now = measure(device, gemmSize, vectorSize);
    if (old != null) {
      System.out.printf(java.util.Locale.ROOT, "roofs measured now: GEMM %.1f GFLOP/s, memory %.1f GB/s; cached: %.1f, %.1f;"
          + " keeping the higher of each%n", now.gflops, now.gbps, old.gflops, old.gbps);
    }
    Roofs r = old == null ? now : new Roofs(Math.max(now.gflops, old.gflops), Math.max(now.gbps, old.gbps), now.gemmShape,
        now.copyShape, now.gflops < old.gflops || now.gbps < old.gbps);
    if (cache != null) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("gflops", r.gflops);
      entry.put("gbps", r.gbps);
      entry.put("gemm", r.gemmShape);
      entry.put("copy", r.copyShape);
      all.put(key, entry);
      try {
        Files.createDirectories(cache.getParent());
        Files.writeString(cache, Json.write(all) + "\n");
      } catch (IOException e) {
        System.err.println("bench: cannot write the roof cache " + cache + ": " + e.getMessage());
      }
    }
    return r;
  }

  /** Measures both roofs on {@code device} now: an s x s x s matmul and an n-element add. */
  public static Roofs measure(Device device, int s, int n) {
    Driver driver = Drivers.of(device);
    try (Scope scope = Scope.open(); var off = GradMode.disable()) {
      Tensor a = Tensor.uniform(device, 1, -1f, 1f, s, s);
      Tensor b = Tensor.uniform(device, 2, -1f, 1f, s, s);
      double gemmSeconds = best(driver, () -> Linear.matmul(a, b), device.isCuda() ? 10 : 8);
      Tensor x = Tensor.uniform(device, 3, -1f, 1f, n);
      Tensor y = Tensor.uniform(device, 4, -1f, 1f, n);
      double addSeconds = best(driver, () -> Elementwise.add(x, y), 20);
      return new Roofs(2.0 * s * s * s / gemmSeconds / 1e9, 12.0 * n / addSeconds / 1e9,
          "matmul " + s + "x" + s + " @ " + s + "x" + s, "add of two " + n + "-element F32 vectors (12 bytes/element)",
          false);
    }
  }

  /** The fastest of {@code runs} timed runs after two warm-up runs, in seconds. */
  private static double best(Driver driver, Runnable op, int runs) {
    for (int i = 0; i < 2; i++) {
      try (Scope s = Scope.open()) {
        op.run();
        driver.synchronize();
      }
    }
    double best = Double.MAX_VALUE;
    for (int i = 0; i < runs; i++) {
      try (Scope s = Scope.open()) {
        long t0 = System.nanoTime();
        op.run();
        driver.synchronize();
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
    }
    return best;
  }
}
