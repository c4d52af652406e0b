package io.plugkit;

import io.plugkit.driver.Driver;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A block of device memory shared by a tensor and its views. It is held by each live tensor on it
 * and by each pin of a native call in progress ({@link Pins}); the block is freed when the last
 * hold goes, so closing a scope while another thread's call reads the block defers the free to the
 * end of that call instead of pulling the memory from under it.
 */
final class Storage {
  private static final AtomicLong LIVE_COUNT = new AtomicLong();
  private static final AtomicLong LIVE_BYTES = new AtomicLong();
  private static final AtomicLong PEAK_BYTES = new AtomicLong();
  private static final AtomicLong SERIALS = new AtomicLong();
  private static final VarHandle HOLDS;

  static {
    try {
      HOLDS = MethodHandles.lookup().findVarHandle(Storage.class, "holds", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  final Driver driver;
  final long bytes;
  private final long address;
  /** Allocation order: larger is newer. */
  final long serial = SERIALS.incrementAndGet();
  /** Live tensors on this storage plus pins; 0 means freed, and it never rises again. */
  @SuppressWarnings("unused") private volatile int holds = 1;
  /** Live tensors (the first one and its views), for {@link #shared()}. */
  private int views = 1;

  Storage(Driver driver, long bytes) {
    this.driver = driver;
    this.bytes = bytes;
    this.address = driver.allocate(Math.max(bytes, 4));
    LIVE_COUNT.incrementAndGet();
    PEAK_BYTES.accumulateAndGet(LIVE_BYTES.addAndGet(bytes), Math::max);
  }

  long address() { return address; }

  /** True when more than one tensor (a view) uses this storage. */
  synchronized boolean shared() { return views > 1; }

  static long lastSerial() { return SERIALS.get(); }

  /**
   * Takes a hold unless the storage is already freed (false then). A CAS, not an increment: a
   * hold taken after the count reached 0 would keep freed memory "alive".
   */
  boolean pin() {
    int h;
    do {
      h = holds;
      if (h <= 0) return false;
    } while (!HOLDS.weakCompareAndSet(this, h, h + 1));
    return true;
  }

  /** Drops a hold; the last one frees the block. */
  void unpin() {
    if ((int) HOLDS.getAndAdd(this, -1) == 1) freeNow();
  }

  /** A new view: one more tensor holds the storage. */
  boolean retain() {
    if (!pin()) return false;
    synchronized (this) {
      views++;
    }
    return true;
  }

  /** A tensor on this storage was freed. */
  void release() {
    synchronized (this) {
      views--;
    }
    unpin();
  }

  private void freeNow() {
    driver.free(address, bytes);
    LIVE_COUNT.decrementAndGet();
    LIVE_BYTES.addAndGet(-bytes);
  }

  static long liveCount() { return LIVE_COUNT.get(); }

  static long liveBytes() { return LIVE_BYTES.get(); }

  static long peakBytes() { return PEAK_BYTES.get(); }

  static void resetPeak() { PEAK_BYTES.set(LIVE_BYTES.get()); }
}
