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
 *
 * <p>Cost: an atomic instruction takes about 20 ns on the VMs measured, as much as the rest of a
 * 1-element kernel launch, so the counters are packed to need as few as the checks allow: the
 * allocation serial doubles as the count of allocations (live count = allocated - freed), and the
 * views and pins share one word (one atomic per pin, per drop, per tensor freed).
 */
final class Storage {
  /** Storages ever allocated; also the serial of the newest. */
  private static final AtomicLong ALLOCATED = new AtomicLong();
  private static final AtomicLong FREED = new AtomicLong();
  private static final AtomicLong LIVE_BYTES = new AtomicLong();
  private static final AtomicLong PEAK_BYTES = new AtomicLong();
  private static final VarHandle STATE;
  /** One live tensor in {@link #state}. */
  private static final long VIEW = 1L << 32;

  static {
    try {
      STATE = MethodHandles.lookup().findVarHandle(Storage.class, "state", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  final Driver driver;
  final long bytes;
  private final long address;
  /** Allocation order: larger is newer. */
  final long serial;
  /** Memory plugkit did not allocate ({@link Tensor#wrap}): run once instead of a free; else null. */
  private final Runnable onRelease;
  /** Whether the driver tracks the foreign memory (see {@link Driver#adoptForeign}). */
  private final boolean registered;
  /**
   * Live tensors on this storage (high 32 bits) and pins of native calls (low 32 bits); 0 means
   * freed, and it never rises again. Changed by CAS or atomic add only.
   */
  @SuppressWarnings("unused") private volatile long state = VIEW;

  Storage(Driver driver, long bytes) {
    this.driver = driver;
    this.bytes = bytes;
    this.address = driver.allocate(Math.max(bytes, 4));
    this.onRelease = null;
    this.registered = false;
    this.serial = ALLOCATED.incrementAndGet();
    countLive(bytes);
  }

  /**
   * Storage on memory plugkit did not allocate: never freed through the driver; when the last
   * hold goes, the driver waits until no work uses it and {@code onRelease} runs, once, on that
   * thread. Counted in the live figures like any storage while it backs a tensor.
   */
  Storage(Driver driver, long bytes, long address, Runnable onRelease) {
    this.driver = driver;
    this.bytes = bytes;
    this.address = address;
    this.onRelease = onRelease;
    this.registered = driver.adoptForeign(address, bytes); // may reject an overlap: before anything is counted
    this.serial = ALLOCATED.incrementAndGet();
    countLive(bytes);
  }

  private static void countLive(long bytes) {
    long live = LIVE_BYTES.addAndGet(bytes);
    if (live > PEAK_BYTES.get()) PEAK_BYTES.accumulateAndGet(live, Math::max); // a CAS only when it may rise
  }

  long address() { return address; }

  /** True when more than one tensor (a view) uses this storage. */
  boolean shared() { return (state >>> 32) > 1; }

  static long lastSerial() { return ALLOCATED.get(); }

  /**
   * Takes a hold unless the storage is already freed (false then). A CAS, not an increment: a
   * hold taken after the count reached 0 would keep freed memory "alive".
   */
  boolean pin() { return add(1); }

  /** Drops a hold; the last one frees the block. */
  void unpin() {
    if ((long) STATE.getAndAdd(this, -1L) == 1) freeNow();
  }

  /** A new view: one more tensor holds the storage. */
  boolean retain() { return add(VIEW); }

  /** A tensor on this storage was freed; the last hold frees the block. */
  void release() {
    if ((long) STATE.getAndAdd(this, -VIEW) == VIEW) freeNow();
  }

  private boolean add(long delta) {
    long s;
    do {
      s = state;
      if (s == 0) return false;
    } while (!STATE.weakCompareAndSet(this, s, s + delta));
    return true;
  }

  private void freeNow() {
    if (onRelease != null) {
      try {
        driver.releaseForeign(address, bytes, registered);
      } finally {
        FREED.incrementAndGet();
        LIVE_BYTES.addAndGet(-bytes);
        onRelease.run(); // even after a device fault: the owner's memory is no longer plugkit's
      }
      return;
    }
    driver.free(address, bytes);
    FREED.incrementAndGet();
    LIVE_BYTES.addAndGet(-bytes);
  }

  static long liveCount() {
    long freed = FREED.get(); // first: a free counted here has its allocation counted below
    return ALLOCATED.get() - freed;
  }

  static long liveBytes() { return LIVE_BYTES.get(); }

  static long peakBytes() { return PEAK_BYTES.get(); }

  static void resetPeak() { PEAK_BYTES.set(LIVE_BYTES.get()); }
}
