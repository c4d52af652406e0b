package io.plugkit.dist;

import io.plugkit.Scope;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one thread per rank (the one-process, one-thread-per-device layout): rank r runs
 * {@code task} with {@code communicators.get(r)} inside a {@link Scope} of its own, and closes its
 * communicator when it ends, normally or not, so that a rank that fails ends the others' waits.
 * Returns each rank's result by rank; tensors made in the task are freed with its scope, so return
 * host data ({@code float[]}), or tensors made in a scope the caller holds.
 */
public final class RankThreads {
  private RankThreads() {}

  /** One rank's work. */
  @FunctionalInterface
  public interface Task<T> {
    T run(Communicator comm) throws Exception;
  }

  /**
   * Runs the ranks and waits for all of them.
   *
   * @throws IllegalStateException when a rank failed: its exception is the cause (the lowest rank
   *     that failed first of all by its own report, the others' are suppressed)
   */
  public static <T> List<T> run(List<? extends Communicator> communicators, Task<T> task) {
    if (communicators == null || communicators.isEmpty()) {
      throw new IllegalArgumentException("communicators: expected one per rank but got " + (communicators == null ? "null" : "none"));
    }
    if (task == null) throw new IllegalArgumentException("task: expected a Task but got null");
    int n = communicators.size();
    List<T> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
    Throwable[] failures = new Throwable[n];
    long[] failedAt = new long[n];
    List<Thread> threads = new ArrayList<>();
    for (int r = 0; r < n; r++) {
      Communicator c = communicators.get(r);
      if (c == null) throw new IllegalArgumentException("communicators: expected a Communicator for rank " + r + " but got null");
      int rank = r;
      threads.add(Thread.ofPlatform().name("plugkit-rank-" + r).start(() -> {
        try (Scope s = Scope.open()) {
          results.set(rank, task.run(c));
        } catch (Throwable t) {
          failedAt[rank] = System.nanoTime(); // before the close below makes the others fail
          failures[rank] = t;
        } finally {
          try {
            c.close();
          } catch (Throwable t) {
            if (failures[rank] == null) {
              failedAt[rank] = System.nanoTime();
              failures[rank] = t;
            }
          }
        }
      }));
    }
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the rank threads", e);
      }
    }
    int first = -1;
    for (int r = 0; r < n; r++) {
      if (failures[r] != null && (first < 0 || failedAt[r] < failedAt[first])) first = r;
    }
    if (first >= 0) {
      IllegalStateException e = new IllegalStateException("rank " + first + " failed: " + failures[first], failures[first]);
      for (int r = 0; r < n; r++) if (r != first && failures[r] != null) e.addSuppressed(failures[r]);
      throw e;
    }
    return results;
  }
}
