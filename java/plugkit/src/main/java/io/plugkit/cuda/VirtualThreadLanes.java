package io.plugkit.cuda;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Supplier;

/**
 * Where virtual threads' device calls run. CUDA keeps the current context per OS thread, and a
 * virtual thread may resume on another carrier between two calls; a stream and handles per
 * virtual thread would also grow without bound in a server that starts one per request. So a
 * virtual thread's call runs on a lane: one of a few platform threads per device, picked by the
 * thread's id, so one virtual thread's work always lands on the same lane, hence the same
 * stream, in order. The caller waits (uninterruptibly: the lane may be using the caller's
 * memory) and gets the lane's result or exception.
 */
final class VirtualThreadLanes {
  private final String name;
  private final AtomicReferenceArray<ExecutorService> lanes;

  VirtualThreadLanes(String name, int count) {
    this.name = name;
    this.lanes = new AtomicReferenceArray<>(count);
  }

  /** The lane count for this machine: one per core, at least 2, at most 16 (each holds a stream and handles). */
  static int defaultCount() { return Math.min(16, Math.max(2, Runtime.getRuntime().availableProcessors())); }

  void run(Runnable work) {
    call(() -> {
      work.run();
      return null;
    });
  }

  <T> T call(Supplier<T> work) {
    Future<T> result = lane((int) Long.remainderUnsigned(Thread.currentThread().threadId(), lanes.length()))
        .submit(work::get);
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return result.get();
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (ExecutionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof RuntimeException r) throw r;
          if (cause instanceof Error err) throw err;
          throw new IllegalStateException(cause);
        }
      }
    } finally {
      if (interrupted) Thread.currentThread().interrupt();
    }
  }

  private ExecutorService lane(int index) {
    ExecutorService lane = lanes.get(index);
    if (lane != null) return lane;
    synchronized (this) {
      lane = lanes.get(index);
      if (lane == null) {
        lane = Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, name + "-lane-" + index);
          t.setDaemon(true);
          return t;
        });
        lanes.set(index, lane);
      }
      return lane;
    }
  }
}
