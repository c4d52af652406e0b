package io.plugkit.testing;

import io.plugkit.MemoryStats;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The largest {@link MemoryStats#liveBytes()} seen while some work runs, sampled by a spinning
 * thread (plus once before and once after). Sampling can miss a short-lived peak, so it is a lower
 * bound of the true peak: good for showing that memory does reach a size (a long-lived N x N
 * matrix is always seen), and, as an upper bound, only next to exact samples taken in between.
 */
public final class PeakMemory {
  private PeakMemory() {}

  public static long during(Runnable work) {
    AtomicLong peak = new AtomicLong(MemoryStats.liveBytes());
    AtomicBoolean done = new AtomicBoolean();
    Thread sampler = Thread.ofPlatform().daemon().start(() -> {
      while (!done.get()) {
        peak.accumulateAndGet(MemoryStats.liveBytes(), Math::max);
        Thread.onSpinWait();
      }
    });
    try {
      work.run();
    } finally {
      done.set(true);
      try {
        sampler.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return peak.accumulateAndGet(MemoryStats.liveBytes(), Math::max);
  }
}
