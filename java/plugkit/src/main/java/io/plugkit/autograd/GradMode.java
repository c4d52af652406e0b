package io.plugkit.autograd;

/**
 * Whether ops record their backward on this thread. Off for inference:
 * {@code try (var off = GradMode.disable()) { ... }}.
 */
public final class GradMode {
  private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});

  private GradMode() {}

  public static boolean isEnabled() { return ENABLED.get()[0]; }

  /** Turns recording off until the returned handle closes, which restores the previous mode. */
  public static Restore disable() { return set(false); }

  public static Restore enable() { return set(true); }

  private static Restore set(boolean on) {
    boolean[] cell = ENABLED.get();
    boolean before = cell[0];
    cell[0] = on;
    return () -> cell[0] = before;
  }

  /** Restores the previous grad mode. */
  public interface Restore extends AutoCloseable {
    @Override void close();
  }
}
