package io.plugkit.driver;

import io.plugkit.Device;
import java.lang.foreign.MemorySegment;

/**
 * What the op layer needs from a device. Two implementations: the CPU driver (host-compiled
 * kernels, OpenBLAS) and the CUDA driver (fatbin kernels, cuBLAS, cuDNN). Addresses are plain
 * longs: host addresses on the CPU, device pointers on CUDA. All calls are ordered on the
 * calling thread's stream; {@link #synchronize()} waits for them.
 */
public interface Driver {
  Device device();

  /** Allocates {@code bytes} (contents undefined). */
  long allocate(long bytes);

  void free(long address, long bytes);

  void copyFromHost(MemorySegment src, long dst, long bytes);

  void copyToHost(long src, MemorySegment dst, long bytes);

  void copy(long src, long dst, long bytes);

  /**
   * Runs {@code kernel} over {@code n} work items. {@code args} follow {@link Kernel#params()}:
   * a Long for PTR and I64, an Integer for I32, a Float for F32.
   */
  void launch(Kernel kernel, long n, Object... args);

  /**
   * Row-major single-precision GEMM, {@code batch} times with the given element strides between
   * matrices: {@code C = alpha * op(A) * op(B) + beta * C}, op(A) is m x k, op(B) is k x n.
   */
  void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long strideA,
      long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch);

  /** y = conv(x, w), no bias. */
  void conv2dForward(Conv2dGeometry g, long x, long w, long y);

  /** dx = conv_transpose(dy, w). Overwrites dx. */
  void conv2dBackwardData(Conv2dGeometry g, long dy, long w, long dx);

  /** dw = correlation of x and dy. Overwrites dw. */
  void conv2dBackwardFilter(Conv2dGeometry g, long x, long dy, long dw);

  void synchronize();

  /**
   * Memory plugkit did not allocate ({@code Tensor.wrap}) is about to back a tensor. Returns
   * whether the driver now tracks it (pass that to {@link #releaseForeign}). The CPU driver needs
   * nothing; CUDA orders it like its own blocks, owned by the calling thread's current stream.
   */
  default boolean adoptForeign(long address, long bytes) { return false; }

  /**
   * The last tensor on wrapped memory is gone: returns once no work of this driver uses it any
   * more (CUDA waits on the host for every stream that used it). Never frees the memory.
   */
  default void releaseForeign(long address, long bytes, boolean registered) {}

  /** The raw {@code CUstream} the calling thread's work goes to now; 0 on the CPU. */
  default long currentStream() { return 0; }

  /** A one-line description: library versions and paths. */
  String describe();
}
