package io.plugkit;

import io.plugkit.driver.Driver;
import java.util.concurrent.atomic.AtomicLong;

/** A block of device memory shared by a tensor and its views; freed when the last of them is. */
final class Storage {
  private static final AtomicLong LIVE_COUNT = new AtomicLong();
  private static final AtomicLong LIVE_BYTES = new AtomicLong();
  private static final AtomicLong PEAK_BYTES = new AtomicLong();
  private static final AtomicLong SERIALS = new AtomicLong();

  final Driver driver;
  final long bytes;
  private final long address;
  /** Allocation order: larger is newer. */
  final long serial = SERIALS.incrementAndGet();
  private int refs = 1;

  Storage(Driver driver, long bytes) {
    this.driver = driver;
    this.bytes = bytes;
    this.address = driver.allocate(Math.max(bytes, 4));
    LIVE_COUNT.incrementAndGet();
    PEAK_BYTES.accumulateAndGet(LIVE_BYTES.addAndGet(bytes), Math::max);
  }

  long address() { return address; }

  /** True when more than one tensor (a view) uses this storage. */
  synchronized boolean shared() { return refs > 1; }

  static long lastSerial() { return SERIALS.get(); }

  synchronized void retain() {
    if (refs <= 0) throw new IllegalStateException("tensor storage was already freed");
    refs++;
  }

  synchronized void release() {
    if (--refs == 0) {
      driver.free(address, bytes);
      LIVE_COUNT.decrementAndGet();
      LIVE_BYTES.addAndGet(-bytes);
    }
  }

  static long liveCount() { return LIVE_COUNT.get(); }

  static long liveBytes() { return LIVE_BYTES.get(); }

  static long peakBytes() { return PEAK_BYTES.get(); }

  static void resetPeak() { PEAK_BYTES.set(LIVE_BYTES.get()); }
}
