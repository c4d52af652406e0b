package io.plugkit.ops;

import io.plugkit.Device;
import io.plugkit.driver.Driver;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The per-geometry choice between {@link AtrousConv}'s kernel and the standard path: both run twice
 * to warm up, then three times each, interleaved and timed after a synchronize; the faster minimum
 * wins and is cached per device and geometry. The {@link #RECHECK_AFTER}th use measures once more,
 * warm, and that choice stays for the life of the process. Thread-safe: a geometry is measured
 * once at first, other threads asking for it meanwhile wait for that result.
 */
final class AtrousChoice {
  private static final ConcurrentHashMap<Key, Choice> CACHE = new ConcurrentHashMap<>();
  /**
   * Uses of a geometry before its second, final measurement. A first measurement in a cold JVM,
   * whose JIT threads share the cores, once picked the standard path for a 3x3 conv that runs 1.7x
   * faster on the tap kernels (1 of 4 bench runs); measured again warm it picks right.
   */
  static final int RECHECK_AFTER = 50;
  /** Timed rounds, interleaved so a burst of load elsewhere hits both sides; each side's minimum counts. */
  private static final int ROUNDS = 3;
  /**
   * Untimed runs of each side first. One was too few: a cold JVM's first calls of a path run 2-3x
   * slow for a few calls (r12 1x256x33x33: the atrous kernel 8.6 ms on its second call, 4.3 on its
   * third, against the standard path's 7.5 and 6.5), and batch 1 picked the slower path.
   */
  private static final int WARMUP = 2;
  private static volatile AtrousConv.Path forced = fromProperty();

  private record Key(Device device, Object geometry) {}

  /** The current choice, and the uses left before it is measured again. */
  private static final class Choice {
    private volatile boolean atrous;
    private final AtomicInteger untilRecheck = new AtomicInteger(RECHECK_AFTER);

    Choice(boolean atrous) { this.atrous = atrous; }
  }

  private AtrousChoice() {}

  private static AtrousConv.Path fromProperty() {
    String p = System.getProperty("plugkit.atrous.path", "auto").trim();
    try {
      return AtrousConv.Path.valueOf(p.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("plugkit.atrous.path: expected auto, atrous or standard but got " + p, e);
    }
  }

  static AtrousConv.Path force(AtrousConv.Path path) {
    if (path == null) throw new IllegalArgumentException("path: expected AUTO, ATROUS or STANDARD but got null");
    AtrousConv.Path old = forced;
    forced = path;
    return old;
  }

  static AtrousConv.Path forced() { return forced; }

  /** Whether {@code geometry} (a record) runs the atrous kernel on d's device; measures on first use. */
  static boolean atrous(Driver d, Object geometry, Runnable atrous, Runnable standard) {
    AtrousConv.Path p = forced;
    if (p != AtrousConv.Path.AUTO) return p == AtrousConv.Path.ATROUS;
    Choice c = CACHE.computeIfAbsent(new Key(d.device(), geometry), k -> new Choice(measure(d, atrous, standard)));
    if (c.untilRecheck.get() > 0 && c.untilRecheck.decrementAndGet() == 0) c.atrous = measure(d, atrous, standard);
    return c.atrous;
  }

  /** The cached choice for a geometry, or null when not measured yet (tests). */
  static Boolean cached(Device device, Object geometry) {
    Choice c = CACHE.get(new Key(device, geometry));
    return c == null ? null : c.atrous;
  }

  /** Uses of a measured geometry left before its second measurement (0: done; tests). */
  static int usesBeforeRecheck(Device device, Object geometry) { return CACHE.get(new Key(device, geometry)).untilRecheck.get(); }

  static void clear() { CACHE.clear(); }

  private static boolean measure(Driver d, Runnable atrous, Runnable standard) {
    for (int i = 0; i < WARMUP; i++) {
      atrous.run();
      standard.run();
    }
    long a = Long.MAX_VALUE;
    long s = Long.MAX_VALUE;
    for (int i = 0; i < ROUNDS; i++) {
      a = Math.min(a, time(d, atrous));
      s = Math.min(s, time(d, standard));
    }
    return a <= s;
  }

  private static long time(Driver d, Runnable r) {
    d.synchronize();
    long t0 = System.nanoTime();
    r.run();
    d.synchronize();
    return System.nanoTime() - t0;
  }
}
