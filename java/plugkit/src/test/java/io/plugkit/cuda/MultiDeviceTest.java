package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Drivers;
import io.plugkit.testing.ChildJvm;
import io.plugkit.testing.TestDevices;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * CUDA devices other than 0, and threads that use several devices: on the emulated device with
 * PLUGKIT_EMULATED_DEVICES (the root pom sets 4), or on a machine with several GPUs.
 */
class MultiDeviceTest {
  @BeforeAll static void needsTwoDevices() {
    assumeTrue(Drivers.cudaUsable(), () -> "CUDA skipped: " + Drivers.cudaProblem());
    assumeTrue(CudaLibrary.instance().deviceCount() >= 2, "needs two CUDA devices");
  }

  /** Counts each test as a CUDA case in the summary (and fails it where PLUGKIT_DEVICE=cuda finds no CUDA). */
  @BeforeEach void cudaCase() { TestDevices.assumeUsable(Device.cuda(0)); }

  private static float[] data(int n, float base) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = base + i * 0.25f - 3f;
    return v;
  }

  /** x + x, then + x again, on a device: kernels, an allocation and a copy back. */
  private static float[] work(Device d, float base) { return work(d, base, 37); }

  private static float[] work(Device d, float base, int n) {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, data(n, base), n);
      return x.plus(x).plus(x).toArray();
    }
  }

  @Test void oneThreadUsesTwoDevicesInTurnAndEachComputesWhatTheCpuDoes() {
    assertTrue(Drivers.of(Device.cuda(1)).describe().contains("cuda:1"));
    for (int round = 0; round < 3; round++) {
      for (int dev : new int[] {1, 0, 1}) {
        assertArrayEquals(work(Device.cpu(), round + dev), work(Device.cuda(dev), round + dev), "device " + dev);
      }
    }
    // Tensors of both devices alive at once, used alternately by one thread.
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(Device.cuda(0), data(11, 1), 11);
      Tensor b = Tensor.of(Device.cuda(1), data(11, 2), 11);
      Tensor a2 = a.plus(a);
      Tensor b2 = b.plus(b);
      Tensor a3 = a2.plus(a);
      Tensor b3 = b2.plus(b);
      assertArrayEquals(work(Device.cpu(), 1, 11), a3.toArray());
      assertArrayEquals(work(Device.cpu(), 2, 11), b3.toArray());
      assertArrayEquals(work(Device.cpu(), 2, 11), b3.to(Device.cuda(0)).toArray(), "copied across devices through the host");
    }
  }

  @Test void threadsOnDifferentDevicesAtOnce() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      Future<?>[] f = new Future<?>[4];
      for (int t = 0; t < 4; t++) {
        int dev = t % 2;
        float base = t;
        f[t] = pool.submit(() -> {
          for (int i = 0; i < 5; i++) assertArrayEquals(work(Device.cpu(), base + i), work(Device.cuda(dev), base + i));
        });
      }
      for (Future<?> x : f) x.get(60, TimeUnit.SECONDS);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test void aKernelGivenAnotherDevicesMemoryFaults() throws Exception {
    assumeTrue(Drivers.of(Device.cuda(0)).describe().contains("emulated CUDA device"), "the emulated device says why");
    String out = ChildJvm.run(null, MultiDeviceFaultCheck.class, Map.of(), 0);
    assertTrue(out.contains("CUDA_ERROR_ILLEGAL_ADDRESS (700)"), out);
    assertTrue(out.contains("is memory of device 0, used on device 1 (peer access is not enabled)"), out);
  }
}
