package io.plugkit.spark;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.nn.Module;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The models of this JVM (a Spark executor, or the driver in local mode): one per scorer,
 * broadcast and device, built by the first task that needs it and shared by every later task and
 * partition, on any task thread (a frozen module's forward only reads it).
 *
 * <p>Lifetime: a {@link Scope} owns a model's tensors, and a Scope must close on the thread that
 * opened it, so each model is built on a small daemon thread of its own that opens the scope,
 * builds, and then waits until the model is dropped to close it. A model is dropped when its
 * scorer is closed on this JVM ({@link #retire}), or, least recently used first, when more than
 * {@link #capacity()} models are cached and it is idle; never while a task holds a {@link Lease}.
 * A failed build is not cached: the exception goes to every task waiting for it, and a retried
 * task builds again.
 */
final class ExecutorModels {
  /** {@code -Dplugkit.spark.cachedModels=N} (executor JVM option): idle models kept per JVM. */
  static final String CAPACITY_PROPERTY = "plugkit.spark.cachedModels";

  record Key(String scorerId, long broadcastId, Device device) {}

  private static final Map<Key, Entry> ENTRIES = new LinkedHashMap<>(16, 0.75f, true); // access order: LRU first
  private static final AtomicLong BUILDS = new AtomicLong();

  private ExecutorModels() {}

  /** The model of {@code key}, built with {@code build} (on the holder thread) if this JVM has none. */
  static Lease acquire(Key key, Supplier<Module> build) {
    Entry e;
    boolean created = false;
    synchronized (ExecutorModels.class) {
      e = ENTRIES.get(key);
      if (e == null) {
        e = new Entry(key);
        ENTRIES.put(key, e);
        created = true;
      }
      e.users++;
    }
    if (created) {
      try {
        e.start(build);
      } catch (Throwable t) { // no holder thread (out of threads or memory): fail the waiters too
        e.model.completeExceptionally(t);
      }
    }
    try {
      return new Lease(e, e.model.join());
    } catch (CompletionException | java.util.concurrent.CancellationException x) {
      release(e);
      Throwable cause = x.getCause() != null ? x.getCause() : x;
      if (cause instanceof RuntimeException r) throw r;
      if (cause instanceof Error err) throw err;
      throw new IllegalStateException("building the model failed", cause);
    }
  }

  /** Models built in this JVM so far (a rebuilt model counts again). */
  static long builds() { return BUILDS.get(); }

  /** Models cached in this JVM now. */
  static synchronized int size() { return ENTRIES.size(); }

  static int capacity() { return Math.max(1, Integer.getInteger(CAPACITY_PROPERTY, 2)); }

  /** Drops every model of {@code scorerId} in this JVM: at once when idle, else when its last lease closes. */
  static void retire(String scorerId) {
    List<Entry> drop = new ArrayList<>();
    synchronized (ExecutorModels.class) {
      for (var it = ENTRIES.values().iterator(); it.hasNext(); ) {
        Entry e = it.next();
        if (e.key.scorerId().equals(scorerId)) {
          it.remove();
          e.retired = true;
          if (e.users == 0) drop.add(e);
        }
      }
    }
    drop.forEach(Entry::drop);
  }

  private static void release(Entry e) {
    List<Entry> drop = new ArrayList<>();
    synchronized (ExecutorModels.class) {
      e.users--;
      boolean failed = e.model.isCompletedExceptionally();
      if (failed && ENTRIES.get(e.key) == e) ENTRIES.remove(e.key);
      if (e.users == 0 && (e.retired || failed)) drop.add(e);
      // Over capacity: drop idle models, least recently used first.
      int excess = ENTRIES.size() - capacity();
      for (var it = ENTRIES.values().iterator(); excess > 0 && it.hasNext(); ) {
        Entry o = it.next();
        if (o.users == 0 && o.model.isDone()) {
          it.remove();
          o.retired = true;
          drop.add(o);
          excess--;
        }
      }
    }
    drop.forEach(Entry::drop);
  }

  /** A task's use of a cached model; close it when the task no longer runs the model (idempotent). */
  static final class Lease implements AutoCloseable {
    private final Entry entry;
    private final Module model;
    private boolean closed;

    private Lease(Entry entry, Module model) {
      this.entry = entry;
      this.model = model;
    }

    Module model() { return model; }

    @Override public synchronized void close() {
      if (closed) return;
      closed = true;
      release(entry);
    }
  }

  private static final class Entry {
    final Key key;
    final CompletableFuture<Module> model = new CompletableFuture<>();
    final CountDownLatch dropped = new CountDownLatch(1);
    int users; // guarded by ExecutorModels.class
    boolean retired; // guarded by ExecutorModels.class

    Entry(Key key) { this.key = key; }

    void start(Supplier<Module> build) {
      Thread.ofPlatform().daemon().name("plugkit-model-" + key.broadcastId() + "-" + key.device()).start(() -> {
        try (Scope scope = Scope.open()) {
          try {
            BUILDS.incrementAndGet();
            model.complete(build.get());
          } catch (Throwable t) {
            model.completeExceptionally(t);
            return; // the scope frees what the failed build made
          }
          awaitDrop();
        }
      });
    }

    private void awaitDrop() {
      while (true) {
        try {
          dropped.await();
          return;
        } catch (InterruptedException ignored) {
          // Only a drop frees the model: tasks may still be using it.
        }
      }
    }

    void drop() { dropped.countDown(); }
  }
}
