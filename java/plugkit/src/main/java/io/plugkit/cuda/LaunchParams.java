package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Kernel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

/**
 * What {@code cuLaunchKernel} receives: {@code kernelParams}, an array of pointers, one per
 * kernel parameter, each to that argument's value. The first parameter of every plugkit kernel
 * is {@code int64_t n}; then {@link Kernel#params()} in order. Values sit in 8-byte slots of one
 * block (the driver reads 4 bytes for an int or float parameter, 8 for a pointer or int64_t).
 */
final class LaunchParams {
  /** Threads per block when the kernel does not ask for one: a multiple of the warp, full occupancy on sm_80+. */
  static final int DEFAULT_BLOCK = 256;
  private static final int SLOT = 8;

  private LaunchParams() {}

  /** The {@code void*[]} for a launch; {@code args} must have passed {@link io.plugkit.driver.KernelArgs#validate}. */
  static MemorySegment pack(Kernel kernel, long n, Object[] args, SegmentAllocator allocator) {
    int count = kernel.params().size() + 1;
    MemorySegment values = allocator.allocate((long) SLOT * count, SLOT);
    MemorySegment pointers = allocator.allocate(ADDRESS, count);
    values.set(JAVA_LONG, 0, n);
    pointers.setAtIndex(ADDRESS, 0, values);
    for (int i = 1; i < count; i++) {
      long offset = (long) SLOT * i;
      Object arg = args[i - 1];
      ArgKind kind = kernel.params().get(i - 1);
      switch (kind) {
        case PTR, I64 -> values.set(JAVA_LONG, offset, (Long) arg);
        case I32 -> values.set(JAVA_INT, offset, (Integer) arg);
        case F32 -> values.set(JAVA_FLOAT, offset, (Float) arg);
      }
      pointers.setAtIndex(ADDRESS, i, values.asSlice(offset, kind.byteSize()));
    }
    return pointers;
  }

  /** Threads per block: the kernel's own (block-cooperative kernels need theirs) or the default. */
  static int blockSize(Kernel kernel) { return kernel.blockSize() > 0 ? kernel.blockSize() : DEFAULT_BLOCK; }

  /**
   * Blocks for n items, capped at {@code maxBlocks}: one item per thread for plain kernels, one
   * item per block for block-cooperative ones ({@link Kernel#withBlock}). The kernels stride over
   * their items by the grid, so a capped grid still covers every item; the cap only stops a huge
   * n from launching millions of blocks.
   */
  static int gridSize(Kernel kernel, long n, int maxBlocks) {
    long blocks = kernel.blockSize() > 0 ? n : Math.ceilDiv(n, blockSize(kernel));
    return (int) Math.max(1, Math.min(blocks, maxBlocks));
  }
}
