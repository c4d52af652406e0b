package io.plugkit.spark;

import io.plugkit.Device;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The threads that run forwards on a CUDA device, a fixed few per device and JVM. plugkit gives
 * each platform thread its own stream and cuBLAS/cuDNN handles for the life of the driver, and
 * Spark's task threads come and go (its task pool drops idle threads after a minute): run on task
 * threads, a long-lived executor would gather a stream and handles per thread it ever had.
 */
final class DeviceThreads {
  /** Two per device: one task's copies can overlap another's kernels. */
  static final int PER_DEVICE = 2;

  private static final ConcurrentHashMap<Device, ExecutorService> POOLS = new ConcurrentHashMap<>();

  private DeviceThreads() {}

  /** Runs {@code work} on one of {@code device}'s threads and waits for it. */
  static <T> T run(Device device, Callable<T> work) {
    ExecutorService pool = POOLS.computeIfAbsent(device, d -> Executors.newFixedThreadPool(PER_DEVICE,
        Thread.ofPlatform().daemon().name("plugkit-spark-" + d + "-", 0).factory()));
    Future<T> f = pool.submit(work);
    try {
      return f.get();
    } catch (InterruptedException e) {
      // The work reads only this task's own buffer and ends by itself; the task is being killed.
      Thread.currentThread().interrupt();
      throw new IllegalStateException("plugkit-spark: interrupted while the forward ran on " + device, e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof RuntimeException r) throw r;
      if (c instanceof Error err) throw err;
      throw new IllegalStateException(c);
    }
  }
}
