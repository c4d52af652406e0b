package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.driver.Drivers;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * Times a case: warm-up runs (at least the given count and two seconds, at most 2000, and then on
 * until the JIT has compiled nothing for half a second, ten seconds at most), then the timed
 * repeats, each ended by synchronizing the device and timed by the host clock (System.nanoTime):
 * on CUDA this includes the launch overhead, as PyTorch's side (torch.cuda.synchronize) does.
 */
public final class Harness {
  public enum Mode { FWD, FWDBWD }

  /**
   * Median, minimum and maximum milliseconds of one case in one mode, and every timed run (sorted;
   * empty when only the summary is known).
   */
  public record Timing(double medianMs, double minMs, double maxMs, double[] samplesMs) {
    public Timing(double medianMs, double minMs) { this(medianMs, minMs, Double.NaN, new double[0]); }

    /** From the timed runs (any order). */
    public static Timing of(double[] ms) {
      double[] sorted = ms.clone();
      Arrays.sort(sorted);
      return new Timing(median(sorted), sorted[0], sorted[sorted.length - 1], sorted);
    }

    /** (max - min) / median: how far the repeats spread; NaN when max is unknown. */
    public double spread() { return (maxMs - minMs) / medianMs; }

    /**
     * (third quartile - first quartile) / median, quartiles linearly interpolated: the spread of the
     * bulk of the runs, which one run interrupted by another process does not move. Without the
     * samples, {@link #spread()}.
     */
    public double iqrSpread() {
      if (samplesMs.length < 2) return spread();
      return (quantile(samplesMs, 0.75) - quantile(samplesMs, 0.25)) / medianMs;
    }
  }

  /** The q-quantile of sorted values, linearly interpolated between neighbours. */
  static double quantile(double[] sorted, double q) {
    double pos = q * (sorted.length - 1);
    int lo = (int) Math.floor(pos);
    int hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
  }

  /** The median of sorted values (the mean of the middle two for an even count). */
  static double median(double[] sorted) {
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private static final long WARMUP_NANOS = 2_000_000_000L;
  private static final int MAX_WARMUP_RUNS = 2000;
  /**
   * Warm-up also waits for this long without JIT compilation, up to MAX_WARMUP_NANOS: a compile
   * thread takes one of the cores the kernels use. ASPP 1x256x33x33 forward, 150 runs at a time
   * from a cold JVM: median 12.0, 11.1, 11.0, 10.8 ms, the 95th percentile 17.7, 16.3, 13.1, 12.6.
   */
  private static final long QUIET_NANOS = 500_000_000L;
  private static final long MAX_WARMUP_NANOS = 10_000_000_000L;
  private static final CompilationMXBean JIT = ManagementFactory.getCompilationMXBean();

  private Harness() {}

  public static Timing time(BenchCase c, Device device, Mode mode, int warmup, int repeats) {
    try (Scope setup = Scope.open()) {
      BenchCase.Workload w = c.setup().apply(device);
      Tensor g;
      try (var off = GradMode.disable()) {
        g = Tensor.uniform(device, 99, 0f, 1f, w.forward().get().dims());
      }
      Runnable step = mode == Mode.FWD ? () -> {
        try (Scope s = Scope.open(); var off = GradMode.disable()) {
          w.forward().get();
        }
      } : () -> {
        // As the PyTorch side: every leaf's gradient dropped first (leaf.grad = None), so a step
        // starts fresh gradients instead of adding into the previous step's.
        for (Tensor leaf : w.leaves()) leaf.clearGrad();
        try (Scope s = Scope.open()) {
          w.forward().get().backward(g);
        }
      };
      var driver = Drivers.of(device);
      // At least `warmup` runs and two seconds, then until the JIT is quiet: it compiles the FFM call
      // paths over hundreds of launches, and its background compiles take a core the kernels use.
      long warmStart = System.nanoTime();
      long lastCompile = warmStart;
      long compiled = jitMillis();
      for (int i = 0; ; i++) {
        long now = System.nanoTime();
        long jit = jitMillis();
        if (jit != compiled) {
          compiled = jit;
          lastCompile = now;
        }
        boolean counted = i >= warmup && (now - warmStart >= WARMUP_NANOS || i >= MAX_WARMUP_RUNS);
        if (counted && (now - lastCompile >= QUIET_NANOS || now - warmStart >= MAX_WARMUP_NANOS)) break;
        step.run();
      }
      driver.synchronize();
      double[] ms = new double[repeats];
      for (int i = 0; i < repeats; i++) {
        long t0 = System.nanoTime();
        step.run();
        driver.synchronize();
        ms[i] = (System.nanoTime() - t0) / 1e6;
      }
      return Timing.of(ms);
    }
  }

  /** Milliseconds the JIT has spent compiling so far (0 where the JVM does not say). */
  private static long jitMillis() {
    return JIT != null && JIT.isCompilationTimeMonitoringSupported() ? JIT.getTotalCompilationTime() : 0;
  }
}
