package io.plugkit.cpu;

/**
 * A cap on the CPU threads of the calls made by one Java thread, from {@link CpuDriver#limitThreads}
 * until {@link #close}. Limits nest (an inner one can only lower the cap) and must be closed on
 * their thread, innermost first, as try-with-resources does.
 */
public final class ThreadLimit implements AutoCloseable {
  private static final ThreadLocal<ThreadLimit> CURRENT = new ThreadLocal<>();

  private final Thread owner = Thread.currentThread();
  private final ThreadLimit outer = CURRENT.get();
  private final int threads;
  private boolean closed;

  ThreadLimit(int threads) {
    this.threads = outer == null ? threads : Math.min(threads, outer.threads);
    CURRENT.set(this);
  }

  /** The cap of the calling thread, or 0 when it has none. */
  static int current() {
    ThreadLimit l = CURRENT.get();
    return l == null ? 0 : l.threads;
  }

  /** The cap this limit puts on its thread (at most its outer limit's). */
  public int threads() { return threads; }

  @Override public void close() {
    if (closed) return;
    if (Thread.currentThread() != owner) {
      throw new IllegalStateException("ThreadLimit: closed on " + Thread.currentThread() + " but opened on " + owner);
    }
    if (CURRENT.get() != this) throw new IllegalStateException("ThreadLimit: closed before a limit opened inside it");
    closed = true;
    if (outer == null) CURRENT.remove();
    else CURRENT.set(outer);
  }
}
