package io.plugkit.ops;

import io.plugkit.Device;
import io.plugkit.driver.Driver;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The per-geometry choice between {@link AtrousConv}'s kernel and the standard path: both run twice
 * to warm up, then three times each, interleaved and timed after a synchronize; the faster minimum wins and is cached per
 * device and geometry for the life of the process. Thread-safe: a geometry is measured once, other
 * threads asking for it meanwhile wait for that result.
 */
final class AtrousChoice {
  private static final ConcurrentHashMap<Key, Boolean> CACHE = new ConcurrentHashMap<>();
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
    return CACHE.computeIfAbsent(new Key(d.device(), geometry), k -> measure(d, atrous, standard));
  }

  /** The cached choice for a geometry, or null when not measured yet (tests). */
  static Boolean cached(Device device, Object geometry) { return CACHE.get(new Key(device, geometry)); }

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
