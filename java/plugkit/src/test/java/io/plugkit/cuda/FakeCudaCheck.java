package io.plugkit.cuda;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;
import static io.plugkit.testing.ChildJvm.check;
import static io.plugkit.testing.ChildJvm.exitWithChecks;

import io.plugkit.Device;
import io.plugkit.Doctor;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Drives the CUDA driver end to end against the fake libcuda, libcublas and libcudnn of
 * {@code src/test/resources/io/plugkit/cuda/fake} (host memory stands for device memory; the fake
 * cuBLAS and cuDNN compute naive GEMM and convolution; the fake libcuda runs three known kernels
 * on the host) and compares with the CPU driver. It proves the plumbing: every FFM signature and
 * argument order, the row-major GEMM mapping, cuDNN descriptors and algorithm choice, the pool's
 * cross-thread rule and the virtual-thread lanes. The kernels themselves need a real GPU.
 * Run in its own JVM by {@link FakeCudaDriverTest} (libcuda is loaded once per process); prints
 * one line per check and exits with the number of failures.
 */
public final class FakeCudaCheck {
  private FakeCudaCheck() {}

  public static void main(String[] args) throws Exception {
    check(Drivers.cudaUsable(), Drivers.cudaUsable() ? "CUDA usable" : "CUDA not usable: " + Drivers.cudaProblem());
    Driver cuda = Drivers.of(Device.cuda(0));
    System.out.println(cuda.describe());
    check(Device.best().isCuda(), "best device is CUDA");
    tensors();
    launches(cuda);
    gemm(cuda);
    convolutions(cuda);
    algorithmFallback(cuda);
    errors(cuda);
    crossThread(cuda);
    virtualThreads(cuda);
    String report = Doctor.report();
    check(report.contains("CUDA: CUDA driver: cuda:0 Fake H200"), "Doctor describes the device");
    check(report.contains("; kernels: fatbin ("), "Doctor says the kernels came from the fatbin");
    check(report.contains("; cuDNN 9.10.2 for CUDA 13.0 at "), "Doctor names cuDNN's CUDA version");
    exitWithChecks();
  }

  private static void tensors() {
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.full(Device.cuda(0), 2.5f, 3, 4);
      check(t.toArray()[11] == 2.5f, "full on CUDA (fill_f32 launch, copy to host)");
      check(t.plus(t).toArray()[5] == 5f, "plus on CUDA (add_f32)");
      check(t.to(Device.cpu()).toArray()[0] == 2.5f, "CUDA to CPU");
      check(t.to(Device.cpu()).to(Device.cuda(0)).copy().toArray()[7] == 2.5f, "CPU to CUDA, device copy");
    }
  }

  /** The fake kernel "probe" prints what cuLaunchKernel received; the test reads it back. */
  private static void launches(Driver cuda) {
    Kernel probe = Kernel.of("probe", PTR, I32, F32, I64);
    cuda.launch(probe, 1000, 0xabcdefL, -5, 1.25f, 1L << 40);
    cuda.launch(probe, 1L << 40, 1L, 1, 1f, 1L);
    cuda.launch(probe, 0, 1L, 1, 1f, 1L);
    try {
      cuda.launch(probe, 5, 1L, 1L, 1f, 1L);
      check(false, "an I64 for an I32 is rejected");
    } catch (IllegalArgumentException e) {
      check(e.getMessage().equals("kernel probe: argument 1 (I32): expected Integer but got Long 1"), e.getMessage());
    }
    try {
      cuda.launch(Kernel.of("missing_kernel", PTR), 5, 1L);
      check(false, "a kernel missing from the fatbin is unsupported");
    } catch (UnsupportedFeatureException e) {
      check(e.getMessage().contains("kernel missing_kernel is not in"), e.getMessage());
    }
  }

  private static void gemm(Driver cuda) {
    Driver cpu = CpuDriver.instance();
    Random r = new Random(1);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        int m = 5;
        int n = 7;
        int k = 3;
        int batch = 3;
        int lda = (ta ? m : k) + 1;
        int ldb = (tb ? k : n) + 2;
        int ldc = n + 1;
        long sa = (long) (ta ? k : m) * lda;
        long sb = (long) (tb ? n : k) * ldb;
        long sc = (long) m * ldc;
        float[] a = random(r, (int) sa * batch);
        float[] b = random(r, (int) sb * batch);
        float[] c = random(r, (int) sc * batch);
        float[][] out = new float[2][];
        Driver[] drivers = {cpu, cuda};
        for (int i = 0; i < 2; i++) {
          Driver d = drivers[i];
          long pa = upload(d, a);
          long pb = upload(d, b);
          long pc = upload(d, c);
          d.gemm(ta, tb, m, n, k, 0.5f, pa, lda, sa, pb, ldb, sb, 0.25f, pc, ldc, sc, batch);
          out[i] = download(d, pc, c.length);
          d.free(pa, 0);
          d.free(pb, 0);
          d.free(pc, 0);
        }
        // 1e-5: both sum 3 products of numbers below 0.5 in different orders.
        check(maxDiff(out[0], out[1]) < 1e-5, "gemm transA=" + ta + " transB=" + tb + " max diff " + maxDiff(out[0], out[1]));
      }
    }
  }

  /** Groups 2, stride 2x1, padding 1x2, dilation 2x1, a 3x2 kernel: every descriptor field differs. */
  private static void convolutions(Driver cuda) {
    Random r = new Random(2);
    Conv2dGeometry g = new Conv2dGeometry(3, 4, 9, 8, 6, 3, 2, 2, 1, 1, 2, 2, 1, 2);
    int xs = 3 * 4 * 9 * 8;
    int ws = 6 * 2 * 3 * 2;
    int ys = 3 * 6 * g.outH() * g.outW();
    float[] x = random(r, xs);
    float[] w = random(r, ws);
    float[] dy = random(r, ys);
    for (String direction : List.of("forward", "backward data", "backward filter")) {
      float[][] out = convolveOnBoth(cuda, g, x, w, dy, direction);
      // 1e-5: sums of at most 24 products of numbers below 0.5, accumulated in different orders.
      check(maxDiff(out[0], out[1]) < 1e-5, "conv2d " + direction + " max diff " + maxDiff(out[0], out[1]));
    }
    Conv2dGeometry empty = new Conv2dGeometry(0, 4, 9, 8, 6, 3, 2, 2, 1, 1, 2, 2, 1, 2);
    long dw = upload(cuda, random(r, ws));
    cuda.conv2dBackwardFilter(empty, 0, 0, dw);
    check(maxDiff(download(cuda, dw, ws), new float[ws]) == 0, "batch 0: backward filter zeroes dw");
    cuda.conv2dForward(empty, 0, 0, 0);
    cuda.free(dw, 0);
  }

  /**
   * The fake cuDNN ranks algo 2 first, which fails at run time on 1x1 kernels: algo 0 must run
   * instead, twice (the test reads the log: the second call starts with algo 0).
   */
  private static void algorithmFallback(Driver cuda) {
    Random r = new Random(3);
    Conv2dGeometry g = new Conv2dGeometry(2, 3, 5, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    float[] x = random(r, 2 * 3 * 5 * 4);
    float[] w = random(r, 4 * 3);
    for (int call = 0; call < 2; call++) {
      float[][] out = convolveOnBoth(cuda, g, x, w, null, "forward");
      // 1e-5: sums of 3 products of numbers below 0.5.
      check(maxDiff(out[0], out[1]) < 1e-5, "1x1 conv after the first algorithm failed, call " + call);
    }
  }

  /** One convolution direction on the CPU driver and on CUDA: the two results. */
  private static float[][] convolveOnBoth(Driver cuda, Conv2dGeometry g, float[] x, float[] w, float[] dy,
      String direction) {
    int xs = g.n() * g.inChannels() * g.inH() * g.inW();
    int ws = g.outChannels() * g.inChannelsPerGroup() * g.kernelH() * g.kernelW();
    int ys = g.n() * g.outChannels() * g.outH() * g.outW();
    float[][] out = new float[2][];
    Driver[] drivers = {CpuDriver.instance(), cuda};
    for (int i = 0; i < 2; i++) {
      Driver d = drivers[i];
      long px = upload(d, x);
      long pw = upload(d, w);
      long pdy = dy == null ? 0 : upload(d, dy);
      int size = direction.equals("forward") ? ys : direction.equals("backward data") ? xs : ws;
      long result = d.allocate(4L * size);
      switch (direction) {
        case "forward" -> d.conv2dForward(g, px, pw, result);
        case "backward data" -> d.conv2dBackwardData(g, pdy, pw, result);
        default -> d.conv2dBackwardFilter(g, px, pdy, result);
      }
      out[i] = download(d, result, size);
      for (long p : new long[] {px, pw, pdy, result}) if (p != 0) d.free(p, 0);
    }
    return out;
  }

  /** Each library's failure arrives as a NativeException with its error name and text; nothing leaks. */
  private static void errors(Driver cuda) {
    try {
      cuda.allocate(2L << 40);
      check(false, "an allocation the device cannot hold fails");
    } catch (NativeException e) {
      check(e.getMessage().contains("cuMemAllocAsync(2199023255552 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (2)"),
          e.getMessage());
    }
    long a = upload(cuda, new float[48]);
    long b = upload(cuda, new float[48]);
    long c = upload(cuda, new float[48]);
    try {
      cuda.gemm(false, false, 1, 1, 1, 1f, a, 1, 1, b, 1, 1, 0f, c, 1, 1, 13);
      check(false, "a cuBLAS failure is reported");
    } catch (NativeException e) {
      check(e.getMessage().equals("cuBLAS: cublasSgemmStridedBatched failed: CUBLAS_STATUS_FAKE (7): fake cublas status"),
          e.getMessage());
    }
    try {
      cuda.conv2dForward(new Conv2dGeometry(1, 3, 4, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1, 3), a, b, c);
      check(false, "a cuDNN failure is reported");
    } catch (NativeException e) {
      // Both algorithms that fit were tried; each one's error is in the message.
      String m = e.getMessage();
      check(m.startsWith("cuDNN: cudnnConvolutionForward failed: CUDNN_STATUS_FAKE (9): every ranked algorithm failed for ")
          && m.contains("algo 2 (4096 bytes of workspace): cuDNN: cudnnConvolutionForward failed: CUDNN_STATUS_FAKE (9):"
              + " fake: groups 3 unsupported by algo 2")
          && m.contains("algo 0 (0 bytes of workspace): cuDNN: cudnnConvolutionForward failed: CUDNN_STATUS_FAKE (9):"
              + " fake: groups 3 unsupported by algo 0"), m);
    }
    for (long p : new long[] {a, b, c}) cuda.free(p, 0);
    check(((CudaDriver) cuda).liveBlocks() == 0, "no live blocks after failures (the workspace was freed)");
  }

  /** Allocated on this thread, used on a second, freed on a third; the fake libcuda logs the event waits. */
  private static void crossThread(Driver cuda) throws InterruptedException {
    long shared = upload(cuda, new float[] {1, 2, 3, 4});
    Thread user = new Thread(() -> {
      cuda.launch(Kernel.of("fill_f32", PTR, F32), 4, shared, 9f);
      cuda.synchronize();
    });
    user.start();
    user.join();
    check(download(cuda, shared, 4)[3] == 9f, "a block written on another thread reads back");
    Thread freer = new Thread(() -> cuda.free(shared, 16));
    freer.start();
    freer.join();
    try {
      cuda.free(shared, 16);
      check(false, "a second free is rejected");
    } catch (IllegalArgumentException e) {
      check(e.getMessage().startsWith("address: expected a block allocated by this CUDA driver"), e.getMessage());
    }
    check(((CudaDriver) cuda).liveBlocks() == 0, "no live blocks: " + ((CudaDriver) cuda).liveBlocks());
  }

  private static void virtualThreads(Driver cuda) throws InterruptedException {
    AtomicInteger wrong = new AtomicInteger();
    try (var executor = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 300; i++) {
        int id = i;
        executor.submit(() -> {
          try (Scope s = Scope.open()) {
            Tensor t = Tensor.full(Device.cuda(0), id, 5);
            if (t.plus(t).toArray()[4] != 2f * id) wrong.incrementAndGet();
          } catch (RuntimeException e) {
            e.printStackTrace();
            wrong.incrementAndGet();
          }
        });
      }
    }
    check(wrong.get() == 0, "300 virtual threads: " + wrong.get() + " wrong");
    String[] described = new String[1];
    Thread.ofVirtual().start(() -> described[0] = cuda.describe()).join();
    check(described[0].startsWith("CUDA driver: cuda:0 Fake H200"), "describe from a virtual thread");
    check(((CudaDriver) cuda).liveBlocks() == 0, "no live blocks after virtual threads");
  }

  private static long upload(Driver d, float[] v) {
    long p = d.allocate(4L * v.length);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(4L * v.length);
      MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
      d.copyFromHost(s, p, 4L * v.length);
    }
    return p;
  }

  private static float[] download(Driver d, long p, int n) {
    float[] out = new float[n];
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(4L * n);
      d.copyToHost(p, s, 4L * n);
      MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, out, 0, n);
    }
    return out;
  }

  private static float[] random(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = r.nextFloat() - 0.5f;
    return v;
  }

  private static float maxDiff(float[] a, float[] b) {
    if (a.length != b.length) return Float.NaN;
    float m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }
}
