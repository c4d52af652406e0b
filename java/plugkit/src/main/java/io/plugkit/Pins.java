package io.plugkit;

/**
 * Keeps tensor memory alive while native code uses it, whatever other threads close meanwhile.
 *
 * <p>{@link Tensor#address()} pins the tensor's storage on the calling thread (or throws "was
 * freed"). The pins are dropped when the calling thread's driver call returns: every driver a
 * tensor hands out ({@link Tensor#driver()}) wraps each launch, GEMM, convolution and copy in
 * {@code enter()/exit()}. So {@code d.launch(k, n, x.address(), y.address())} reads memory that
 * cannot be freed, or reused, until the launch has returned, and a free that came in meanwhile
 * happens then, on the thread that held the last pin. On CUDA, returning means enqueued: the
 * free that follows is stream-ordered after that work ({@code DeviceMemory}).
 *
 * <p>An address used across several driver calls (a loop of GEMMs over one operand) needs
 * {@link #hold()} around them, which defers the drop to its close; so does an address given to
 * native code that is not a plugkit driver.
 */
public final class Pins implements AutoCloseable {
  private static final ThreadLocal<Pins> CURRENT = ThreadLocal.withInitial(Pins::new);

  private final Thread thread = Thread.currentThread();
  private Storage[] held = new Storage[8];
  private int count;
  /** Driver calls and holds open on this thread; pins are dropped when it returns to 0. */
  private int depth;

  private Pins() {}

  /**
   * Keeps every storage pinned from now until the returned object is closed (on this thread):
   * {@code try (Pins p = Pins.hold()) { long a = x.address(); ... several driver calls ... }}.
   */
  public static Pins hold() { return enter(); }

  /** Ends a {@link #hold()}; the outermost one drops the pins taken inside it. */
  @Override public void close() {
    if (Thread.currentThread() != thread) {
      throw new IllegalStateException("Pins.hold() must be closed on the thread that opened it (" + thread.getName() + ")");
    }
    exit();
  }

  static Pins enter() {
    Pins p = CURRENT.get();
    p.depth++;
    return p;
  }

  void exit() {
    if (--depth == 0 && count > 0) dropAll();
  }

  /** Records a pin {@code s} already took, to be dropped when this thread's driver call returns. */
  static void add(Storage s) {
    Pins p = CURRENT.get();
    if (p.count == p.held.length) p.held = java.util.Arrays.copyOf(p.held, p.count * 2);
    p.held[p.count++] = s;
  }

  /**
   * An {@code address()} failed: outside any call or hold, the pins this thread took since its last
   * call belong to the statement that is now throwing, and nothing else would drop them.
   */
  static void abandon() {
    Pins p = CURRENT.get();
    if (p.depth == 0 && p.count > 0) p.dropAll();
  }

  /** Pins this thread holds now (tests). */
  static int heldByThisThread() { return CURRENT.get().count; }

  private void dropAll() {
    int n = count;
    count = 0;
    RuntimeException first = null;
    for (int i = 0; i < n; i++) {
      Storage s = held[i];
      held[i] = null;
      try {
        s.unpin(); // may free: the deferred free of a storage closed while pinned
      } catch (RuntimeException e) {
        if (first == null) first = e;
      }
    }
    if (first != null) throw first;
  }
}
