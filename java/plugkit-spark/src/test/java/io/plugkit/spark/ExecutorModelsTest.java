package io.plugkit.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.Linear;
import io.plugkit.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The per-JVM model cache without Spark: one build under concurrent acquires, leases, eviction. */
class ExecutorModelsTest {
  private static ExecutorModels.Key key() { return new ExecutorModels.Key(UUID.randomUUID().toString(), 0, Device.cpu()); }

  @Test
  void concurrentAcquiresBuildOnceAndShareTheModel() throws Exception {
    ExecutorModels.Key key = key();
    AtomicInteger builds = new AtomicInteger();
    CountDownLatch start = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<Module>> got = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        got.add(pool.submit(() -> {
          start.await();
          try (ExecutorModels.Lease lease = ExecutorModels.acquire(key, () -> {
            builds.incrementAndGet();
            sleep(50); // a slow build: the other threads wait for it instead of building their own
            return new Linear(2, 3, true, Device.cpu());
          })) {
            return lease.model();
          }
        }));
      }
      start.countDown();
      Module first = got.get(0).get(30, TimeUnit.SECONDS);
      for (Future<Module> f : got) assertSame(first, f.get(30, TimeUnit.SECONDS));
      assertEquals(1, builds.get());
    } finally {
      pool.shutdownNow();
      ExecutorModels.retire(key.scorerId());
    }
  }

  @Test
  void retireFreesTheModelOnlyAfterTheLastLease() throws Exception {
    ExecutorModels.Key key = key();
    ExecutorModels.Lease lease = ExecutorModels.acquire(key, () -> new Linear(2, 3, true, Device.cpu()));
    Tensor w = lease.model().parameters().get(0);
    ExecutorModels.retire(key.scorerId());
    Thread.sleep(50);
    assertFalse(w.isFreed(), "a model in use is not freed");
    lease.close();
    lease.close(); // idempotent
    assertTrue(waitFreed(w), "freed by its holder thread once idle and retired");
  }

  @Test
  void idleModelsBeyondTheCapacityAreEvictedLeastRecentlyUsedFirst() throws Exception {
    int cap = ExecutorModels.capacity();
    List<ExecutorModels.Key> keys = new ArrayList<>();
    List<Tensor> weights = new ArrayList<>();
    try {
      for (int i = 0; i < cap + 1; i++) {
        ExecutorModels.Key k = key();
        keys.add(k);
        try (ExecutorModels.Lease l = ExecutorModels.acquire(k, () -> new Linear(2, 3, true, Device.cpu()))) {
          weights.add(l.model().parameters().get(0));
        }
      }
      assertTrue(waitFreed(weights.get(0)), "the least recently used idle model goes first");
      for (int i = 1; i <= cap; i++) assertFalse(weights.get(i).isFreed());
    } finally {
      for (ExecutorModels.Key k : keys) ExecutorModels.retire(k.scorerId());
    }
  }

  @Test
  void aFailedBuildReachesEveryWaiterAndIsNotCached() {
    ExecutorModels.Key key = key();
    int size = ExecutorModels.size();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> ExecutorModels.acquire(key, () -> { throw new IllegalStateException("boom"); }));
    assertEquals("boom", e.getMessage());
    assertEquals(size, ExecutorModels.size());
    try (ExecutorModels.Lease l = ExecutorModels.acquire(key, () -> new Linear(1, 1, true, Device.cpu()))) {
      assertEquals(size + 1, ExecutorModels.size(), "a retry builds again");
    } finally {
      ExecutorModels.retire(key.scorerId());
    }
  }

  private static boolean waitFreed(Tensor t) throws InterruptedException {
    for (int i = 0; i < 200 && !t.isFreed(); i++) Thread.sleep(10);
    return t.isFreed();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
