package io.plugkit.driver;

import java.util.List;

/**
 * A kernel's name and parameter kinds, declared once in Java and checked against the kernel
 * sources by a test. Every kernel also takes a leading {@code int64_t n} (the work-item count)
 * that is not listed here: the launcher passes it on both targets.
 *
 * @param blockSize the CUDA block size the kernel assumes, or 0 for the default (256)
 */
public record Kernel(String name, List<ArgKind> params, int blockSize) {
  public static Kernel of(String name, ArgKind... params) { return new Kernel(name, List.of(params), 0); }

  /**
   * A kernel whose CUDA variant uses block cooperation: each of its n work items is handled by a
   * whole block of exactly {@code blockSize} threads (a multiple of 32), so the CUDA launcher
   * starts min(n, cap) blocks and the kernel strides over items by gridDim.x. Its host variant
   * (beside it under {@code #if PK_GPU}) runs one item per loop iteration.
   */
  public static Kernel withBlock(String name, int blockSize, ArgKind... params) {
    return new Kernel(name, List.of(params), blockSize);
  }
}
