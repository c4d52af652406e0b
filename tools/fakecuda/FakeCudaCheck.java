package io.plugkit.cuda;

import static io.plugkit.driver.ArgKind.*;
import io.plugkit.*;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.driver.*;
import java.lang.foreign.*;
import java.util.*;

/**
 * Drives the CUDA driver end to end against the fake libraries of this folder (host memory
 * stands for device memory; the fake cuBLAS and cuDNN compute naive GEMM and convolution), and
 * compares with the CPU driver: every FFM signature, argument order, the row-major GEMM mapping,
 * cuDNN descriptors and algorithm choice, the pool's cross-thread rule and virtual-thread lanes.
 * It proves the plumbing, not the GPU: the kernels themselves need a real device.
 */
public class FakeCudaCheck {
  static int failures = 0;
  static void check(boolean ok, String what) { System.out.println((ok ? "ok   " : "FAIL ") + what); if (!ok) failures++; }

  static long upload(Driver d, float[] v) {
    long p = d.allocate(4L * v.length);
    try (Arena a = Arena.ofConfined()) { MemorySegment s = a.allocate(4L * v.length); MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length); d.copyFromHost(s, p, 4L * v.length); }
    return p;
  }
  static float[] download(Driver d, long p, int n) {
    float[] out = new float[n];
    try (Arena a = Arena.ofConfined()) { MemorySegment s = a.allocate(4L * n); d.copyToHost(p, s, 4L * n); MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, out, 0, n); }
    return out;
  }
  static float[] rand(Random r, int n) { float[] v = new float[n]; for (int i = 0; i < n; i++) v[i] = r.nextFloat() - 0.5f; return v; }
  static float maxDiff(float[] a, float[] b) { float m = 0; for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return a.length == b.length ? m : Float.NaN; }

  public static void main(String[] args) throws Exception {
    check(Drivers.cudaUsable(), "cuda usable: " + Drivers.cudaProblem());
    Driver cuda = Drivers.of(Device.cuda(0));
    Driver cpu = CpuDriver.instance();
    System.out.println(cuda.describe());
    check(Device.best().isCuda(), "best is cuda");

    try (Scope s = Scope.open()) {
      Tensor t = Tensor.full(Device.cuda(0), 2.5f, 3, 4);
      check(Arrays.equals(t.toArray(), new float[12]) == false && t.toArray()[11] == 2.5f, "full on cuda");
      Tensor u = t.plus(t);
      check(u.toArray()[5] == 5f, "plus on cuda (axpy)");
      Tensor c = u.to(Device.cpu());
      check(c.toArray()[0] == 5f, "to cpu");
      Tensor back = c.to(Device.cuda(0)).copy();
      check(back.toArray()[7] == 5f, "to cuda + copy");
    }

    // Argument packing, read back by the fake kernel "probe".
    Kernel probe = Kernel.of("probe", PTR, I32, F32, I64);
    cuda.launch(probe, 1000, 0xabcdefL, -5, 1.25f, 1L << 40);
    cuda.launch(probe, 1L << 40, 1L, 1, 1f, 1L);
    cuda.launch(probe, 0, 1L, 1, 1f, 1L);
    try { cuda.launch(probe, 5, 1L, 1L, 1f, 1L); check(false, "bad arg"); } catch (IllegalArgumentException e) { check(e.getMessage().contains("argument 1"), e.getMessage()); }
    try { cuda.launch(Kernel.of("missing_kernel", PTR), 5, 1L); check(false, "missing kernel"); } catch (UnsupportedFeatureException e) { check(e.getMessage().contains("missing_kernel"), e.getMessage()); }

    Random r = new Random(1);
    // GEMM against the CPU driver, all transposes, batch 3, padded leading dimensions.
    for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true}) {
      int m = 5, n = 7, k = 3, batch = 3;
      int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 1;
      long sA = (long) (ta ? k : m) * lda, sB = (long) (tb ? n : k) * ldb, sC = (long) m * ldc;
      float[] a = rand(r, (int) sA * batch), b = rand(r, (int) sB * batch), c = rand(r, (int) sC * batch);
      float[] want, got;
      long pa = upload(cpu, a), pb = upload(cpu, b), pc = upload(cpu, c);
      cpu.gemm(ta, tb, m, n, k, 0.5f, pa, lda, sA, pb, ldb, sB, 0f, pc, ldc, sC, batch);
      want = download(cpu, pc, c.length);
      cpu.free(pa, 0); cpu.free(pb, 0); cpu.free(pc, 0);
      long ga = upload(cuda, a), gb = upload(cuda, b), gc = upload(cuda, c);
      cuda.gemm(ta, tb, m, n, k, 0.5f, ga, lda, sA, gb, ldb, sB, 0f, gc, ldc, sC, batch);
      got = download(cuda, gc, c.length);
      cuda.free(ga, 0); cuda.free(gb, 0); cuda.free(gc, 0);
      // Padding columns of C keep beta*C = 0 semantics only inside the matrix; compare the matrix entries.
      float md = 0;
      for (int t = 0; t < batch; t++) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) { int idx = (int) (t * sC + i * ldc + j); md = Math.max(md, Math.abs(want[idx] - got[idx])); }
      check(md < 1e-5, "gemm ta=" + ta + " tb=" + tb + " maxdiff " + md);
    }

    // Convolutions against the CPU driver: groups 2, stride 2x1, pad 1x2, dilation 2x1, 3x2 kernel.
    Conv2dGeometry g = new Conv2dGeometry(3, 4, 9, 8, 6, 3, 2, 2, 1, 1, 2, 2, 1, 2);
    int xs = 3 * 4 * 9 * 8, ws = 6 * 2 * 3 * 2, ys = 3 * 6 * g.outH() * g.outW();
    float[] x = rand(r, xs), w = rand(r, ws), dy = rand(r, ys);
    for (String dir : List.of("fwd", "bwdData", "bwdFilter")) {
      float[][] res = new float[2][];
      Driver[] ds = {cpu, cuda};
      for (int i = 0; i < 2; i++) {
        Driver d = ds[i];
        long px = upload(d, x), pw = upload(d, w), pdy = upload(d, dy);
        switch (dir) {
          case "fwd" -> { long py = d.allocate(4L * ys); d.conv2dForward(g, px, pw, py); res[i] = download(d, py, ys); d.free(py, 0); }
          case "bwdData" -> { long pdx = d.allocate(4L * xs); d.conv2dBackwardData(g, pdy, pw, pdx); res[i] = download(d, pdx, xs); d.free(pdx, 0); }
          default -> { long pdw = d.allocate(4L * ws); d.conv2dBackwardFilter(g, px, pdy, pdw); res[i] = download(d, pdw, ws); d.free(pdw, 0); }
        }
        d.free(px, 0); d.free(pw, 0); d.free(pdy, 0);
      }
      check(maxDiff(res[0], res[1]) < 1e-5, "conv " + dir + " maxdiff " + maxDiff(res[0], res[1]));
    }
    Conv2dGeometry empty = new Conv2dGeometry(0, 4, 9, 8, 6, 3, 2, 2, 1, 1, 2, 2, 1, 2);
    long pdw = upload(cuda, rand(r, ws));
    cuda.conv2dBackwardFilter(empty, 0, 0, pdw);
    check(maxDiff(download(cuda, pdw, ws), new float[ws]) == 0, "bwd filter with batch 0 zeroes dw");
    cuda.conv2dForward(empty, 0, 0, 0);
    cuda.free(pdw, 0);

    // Cross-thread: allocate on main, use on another thread, free on a third.
    long shared = upload(cuda, new float[] {1, 2, 3, 4});
    System.out.println("-- other thread uses the block (expect one wait on the owner stream)");
    Thread t1 = new Thread(() -> { cuda.launch(Kernel.of("fill_f32", PTR, F32), 4, shared, 9f); cuda.launch(Kernel.of("fill_f32", PTR, F32), 4, shared, 9f); cuda.synchronize(); });
    t1.start(); t1.join();
    System.out.println("-- third thread frees (expect waits on owner and user)");
    Thread t2 = new Thread(() -> cuda.free(shared, 16));
    t2.start(); t2.join();
    try { cuda.free(shared, 16); check(false, "double free"); } catch (IllegalArgumentException e) { check(e.getMessage().startsWith("address: expected a block"), e.getMessage()); }
    check(((CudaDriver) cuda).liveBlocks() == 0, "no live blocks: " + ((CudaDriver) cuda).liveBlocks());
    // Virtual threads: many, each with its own scope; results must be right and streams bounded.
    var bad = new java.util.concurrent.atomic.AtomicInteger();
    try (var ex = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 300; i++) {
        int id = i;
        ex.submit(() -> {
          try (Scope s = Scope.open()) {
            Tensor t = Tensor.full(Device.cuda(0), id, 5);
            Tensor u = t.plus(t);
            float[] v = u.toArray();
            if (v[4] != 2f * id) bad.incrementAndGet();
          } catch (Throwable e) { e.printStackTrace(); bad.incrementAndGet(); }
        });
      }
    }
    check(bad.get() == 0, "300 virtual threads, wrong results: " + bad.get());
    Thread.ofVirtual().start(() -> System.out.println("describe from a virtual thread: " + cuda.describe().substring(0, 30))).join();
    check(((CudaDriver) cuda).liveBlocks() == 0, "no live blocks after virtual threads: " + ((CudaDriver) cuda).liveBlocks());
    System.out.println(Doctor.report());
    System.out.println(failures == 0 ? "ALL OK" : failures + " FAILURES");
    System.exit(failures == 0 ? 0 : 1);
  }
}
