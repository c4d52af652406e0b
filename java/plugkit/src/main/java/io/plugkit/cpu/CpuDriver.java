package io.plugkit.cpu;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Device;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.KernelArgs;
import java.lang.foreign.MemorySegment;

/**
 * The CPU target: the same kernel sources compiled by g++ with OpenMP, OpenBLAS for GEMM, and
 * convolution as im2col + GEMM, one image at a time (so the column buffer is bounded by one
 * image's C*kh*kw*outH*outW floats). Threads: {@code PLUGKIT_THREADS}, else all cores, for every
 * thread that calls in; {@link #limitThreads} caps one thread's calls. Freed
 * blocks of 64 KiB and more are kept for reuse up to {@code PLUGKIT_HOST_CACHE_MB} (default 1024;
 * 0 turns the cache off), since fresh large blocks fault on every page's first touch.
 */
public final class CpuDriver implements Driver {
  static final Kernel IM2COL = Kernel.of("im2col", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel COL2IM = Kernel.of("col2im", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  private static final long DEFAULT_CACHE_MB = 1024;
  private static final CpuDriver INSTANCE = new CpuDriver();

  private CpuDriver() {
    ThreadPolicy.setThreads(threadsFromEnvironment());
    HostLibrary.setCacheLimit(cacheLimitFromEnvironment());
  }

  public static CpuDriver instance() { return INSTANCE; }

  private static int threadsFromEnvironment() {
    String env = System.getenv("PLUGKIT_THREADS");
    if (env == null || env.isBlank()) return Runtime.getRuntime().availableProcessors();
    try {
      int t = Integer.parseInt(env.trim());
      if (t >= 1) return t;
    } catch (NumberFormatException ignored) {
      // fall through to the error below
    }
    throw new IllegalArgumentException("PLUGKIT_THREADS: expected a whole number >= 1 but got " + env);
  }

  private static long cacheLimitFromEnvironment() {
    String env = System.getenv("PLUGKIT_HOST_CACHE_MB");
    if (env == null || env.isBlank()) return DEFAULT_CACHE_MB << 20;
    try {
      long mb = Long.parseLong(env.trim());
      if (mb >= 0 && mb < (1L << 43)) return mb << 20;
    } catch (NumberFormatException ignored) {
      // fall through to the error below
    }
    throw new IllegalArgumentException("PLUGKIT_HOST_CACHE_MB: expected a whole number of MiB >= 0 but got " + env);
  }

  /** Frees the cached blocks now and keeps at most {@code bytes} of freed blocks from then on (0: none). */
  public void setCacheLimit(long bytes) {
    if (bytes < 0) throw new IllegalArgumentException("bytes: expected >= 0 but got " + bytes);
    HostLibrary.setCacheLimit(bytes);
  }

  /** Bytes of freed blocks the cache holds for reuse (not counted as live tensor memory). */
  public long cachedBytes() { return HostLibrary.cachedBytes(); }

  /**
   * Sets the threads of the kernels and of GEMM (one OpenMP team serves both) for every thread of
   * the process, from its next call on. Each thread that calls in leads a team of its own, so with
   * many request threads at once, prefer 1 (or {@link #limitThreads}). Results are the same bits
   * at any thread count.
   */
  public void setThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads: expected >= 1 but got " + threads);
    ThreadPolicy.setThreads(threads);
  }

  /** The threads a call from the calling thread runs on now: {@link #setThreads}'s, capped by its limit. */
  public int threads() { return ThreadPolicy.team(); }

  /**
   * Caps the threads of the calling Java thread's CPU calls at {@code threads} until the returned
   * limit is closed; for servers that run each request on one thread
   * ({@code try (var t = CpuDriver.limitThreads(1)) {...}}) beside work that uses all cores.
   * Holds for a virtual thread whichever carrier runs it.
   */
  public static ThreadLimit limitThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads: expected >= 1 but got " + threads);
    return new ThreadLimit(threads);
  }

  @Override public Device device() { return Device.cpu(); }

  @Override public long allocate(long bytes) {
    long p = HostLibrary.alloc(bytes);
    if (p == 0) throw new OutOfMemoryError("plugkit: host allocation of " + bytes + " bytes failed");
    return p;
  }

  @Override public void free(long address, long bytes) { HostLibrary.free(address); }

  @Override public void copyFromHost(MemorySegment src, long dst, long bytes) {
    MemorySegment.copy(src, 0, MemorySegment.ofAddress(dst).reinterpret(bytes), 0, bytes);
  }

  @Override public void copyToHost(long src, MemorySegment dst, long bytes) {
    MemorySegment.copy(MemorySegment.ofAddress(src).reinterpret(bytes), 0, dst, 0, bytes);
  }

  @Override public void copy(long src, long dst, long bytes) {
    MemorySegment.copy(MemorySegment.ofAddress(src).reinterpret(bytes), 0, MemorySegment.ofAddress(dst).reinterpret(bytes), 0, bytes);
  }

  @Override public void launch(Kernel kernel, long n, Object... args) {
    KernelArgs.validate(kernel, n, args);
    if (n == 0) return;
    HostLibrary.launch(ThreadPolicy.team(), kernel, n, args);
  }

  @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
      long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch) {
    if (m == 0 || n == 0) return;
    int threads = ThreadPolicy.team();
    for (int i = 0; i < batch; i++) {
      OpenBlas.sgemm(threads, transA, transB, m, n, k, alpha, a + 4L * i * strideA, lda, b + 4L * i * strideB, ldb, beta,
          c + 4L * i * strideC, ldc);
    }
  }

  @Override public void conv2dForward(Conv2dGeometry g, long x, long w, long y) {
    Plan pl = new Plan(g);
    long col = pl.direct() ? 0 : allocate(4L * g.groups() * pl.kdim() * pl.outHw());
    try {
      for (int img = 0; img < g.n(); img++) {
        long xi = x + 4L * img * pl.inImage();
        long src = pl.direct() ? xi : im2col(g, xi, col);
        // Per group: y_g [og, outHw] = w_g [og, kdim] x col_g [kdim, outHw]; strided over groups.
        gemm(false, false, pl.og(), pl.outHw(), pl.kdim(), 1f, w, pl.kdim(), (long) pl.og() * pl.kdim(), src,
            pl.outHw(), (long) pl.kdim() * pl.outHw(), 0f, y + 4L * img * pl.outImage(), pl.outHw(),
            (long) pl.og() * pl.outHw(), g.groups());
      }
    } finally {
      if (!pl.direct()) free(col, 0);
    }
  }

  @Override public void conv2dBackwardData(Conv2dGeometry g, long dy, long w, long dx) {
    Plan pl = new Plan(g);
    long col = pl.direct() ? 0 : allocate(4L * g.groups() * pl.kdim() * pl.outHw());
    try {
      for (int img = 0; img < g.n(); img++) {
        long target = pl.direct() ? dx + 4L * img * pl.inImage() : col;
        // col_g [kdim, outHw] = w_g^T [kdim, og] x dy_g [og, outHw]
        gemm(true, false, pl.kdim(), pl.outHw(), pl.og(), 1f, w, pl.kdim(), (long) pl.og() * pl.kdim(),
            dy + 4L * img * pl.outImage(), pl.outHw(), (long) pl.og() * pl.outHw(), 0f, target, pl.outHw(),
            (long) pl.kdim() * pl.outHw(), g.groups());
        if (!pl.direct()) {
          launch(COL2IM, (long) g.inChannels() * g.inH(), col, dx + 4L * img * pl.inImage(), g.inChannels(), g.inH(),
              g.inW(), g.kernelH(), g.kernelW(), g.padH(), g.padW(), g.strideH(), g.strideW(), g.dilationH(),
              g.dilationW(), g.outH(), g.outW());
        }
      }
    } finally {
      if (!pl.direct()) free(col, 0);
    }
  }

  @Override public void conv2dBackwardFilter(Conv2dGeometry g, long x, long dy, long dw) {
    Plan pl = new Plan(g);
    long col = pl.direct() ? 0 : allocate(4L * g.groups() * pl.kdim() * pl.outHw());
    try {
      if (g.n() == 0) {
        MemorySegment.ofAddress(dw).reinterpret(4L * g.outChannels() * pl.kdim()).fill((byte) 0);
      }
      for (int img = 0; img < g.n(); img++) {
        long xi = x + 4L * img * pl.inImage();
        long src = pl.direct() ? xi : im2col(g, xi, col);
        // dw_g [og, kdim] (+)= dy_g [og, outHw] x col_g^T [outHw, kdim]
        gemm(false, true, pl.og(), pl.kdim(), pl.outHw(), 1f, dy + 4L * img * pl.outImage(), pl.outHw(),
            (long) pl.og() * pl.outHw(), src, pl.outHw(), (long) pl.kdim() * pl.outHw(), img == 0 ? 0f : 1f, dw,
            pl.kdim(), (long) pl.og() * pl.kdim(), g.groups());
      }
    } finally {
      if (!pl.direct()) free(col, 0);
    }
  }

  /**
   * The GEMM view of a conv: per group, weight [og, kdim] x columns [kdim, outHw]; a 1x1 kernel
   * with stride 1 and no padding reads the image as its own column matrix (direct).
   */
  private record Plan(int outHw, int og, int kdim, long inImage, long outImage, boolean direct) {
    Plan(Conv2dGeometry g) {
      this(g.outH() * g.outW(), g.outChannelsPerGroup(), g.inChannelsPerGroup() * g.kernelH() * g.kernelW(),
          (long) g.inChannels() * g.inH() * g.inW(), (long) g.outChannels() * g.outH() * g.outW(), isPointwise(g));
    }
  }

  private long im2col(Conv2dGeometry g, long xi, long col) {
    long rows = (long) g.inChannels() * g.kernelH() * g.kernelW() * g.outH();
    launch(IM2COL, rows, xi, col, g.inChannels(), g.inH(), g.inW(), g.kernelH(), g.kernelW(), g.padH(), g.padW(),
        g.strideH(), g.strideW(), g.dilationH(), g.dilationW(), g.outH(), g.outW());
    return col;
  }

  /** A 1x1 kernel with stride 1 and no padding reads the image as its own column matrix. */
  private static boolean isPointwise(Conv2dGeometry g) {
    return g.kernelH() == 1 && g.kernelW() == 1 && g.strideH() == 1 && g.strideW() == 1 && g.padH() == 0
        && g.padW() == 0;
  }

  @Override public void synchronize() {}

  @Override public String describe() {
    return "CPU driver: " + threads() + " threads; " + OpenBlas.describe();
  }
}
