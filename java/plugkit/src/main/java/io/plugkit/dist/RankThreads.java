package io.plugkit.dist;

import io.plugkit.Scope;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Runs one thread per rank (the one-process, one-thread-per-device layout): rank r runs
 * {@code task} with {@code communicators.get(r)} inside a {@link Scope} of its own, and closes its
 * communicator when it ends, normally or not, so that a rank that fails ends the others' waits.
 * Returns each rank's result by rank; tensors made in the task are freed with its scope, so return
 * host data ({@code float[]}), or tensors made in a scope the caller holds.
 *
 * <p>The threads are kept and reused by later runs: the CUDA driver gives every platform thread
 * its own stream and cuBLAS/cuDNN handles for the driver's life, so fresh threads per run would
 * leave a set behind per run (a sweep of many short trainings in one JVM). Only runs at the same
 * time need threads of their own.
 */
public final class RankThreads {
  /** As many threads as ranks ever ran at once (a core thread never times out). */
  private static final ThreadPoolExecutor THREADS = new ThreadPoolExecutor(1, 1, Long.MAX_VALUE, TimeUnit.NANOSECONDS,
      new LinkedBlockingQueue<>(), Thread.ofPlatform().daemon().name("plugkit-rank-thread-", 0).factory());
  /** Ranks of the runs in progress: the pool keeps at least that many threads, so every rank gets one. */
  private static int running;

  private RankThreads() {}

  private static synchronized void reserve(int ranks) {
    running += ranks;
    if (running > THREADS.getMaximumPoolSize()) {
      THREADS.setMaximumPoolSize(running);
      THREADS.setCorePoolSize(running);
    }
  }

  private static synchronized void release(int ranks) { running -= ranks; }

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
    for (int r = 0; r < n; r++) {
      if (communicators.get(r) == null) {
        throw new IllegalArgumentException("communicators: expected a Communicator for rank " + r + " but got null");
      }
    }
    reserve(n);
    try {
      return runRanks(communicators, task);
    } finally {
      release(n);
    }
  }

  private static <T> List<T> runRanks(List<? extends Communicator> communicators, Task<T> task) {
    int n = communicators.size();
    List<T> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
    Throwable[] failures = new Throwable[n];
    long[] failedAt = new long[n];
    List<Future<?>> threads = new ArrayList<>();
    for (int r = 0; r < n; r++) {
      Communicator c = communicators.get(r);
      int rank = r;
      threads.add(THREADS.submit(() -> {
        String name = Thread.currentThread().getName();
        Thread.currentThread().setName("plugkit-rank-" + rank);
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
          Thread.currentThread().setName(name);
        }
      }));
    }
    for (Future<?> t : threads) {
      try {
        t.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the rank threads", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException("a rank thread failed outside its task", e.getCause()); // the task catches all
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
