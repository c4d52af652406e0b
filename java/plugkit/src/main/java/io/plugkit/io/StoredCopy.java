package io.plugkit.io;

import io.plugkit.DType;
import io.plugkit.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Copies stored safetensors data (a mapped file slice or a Java array) into an F32 or I64 tensor.
 * The same element type goes to the device in one copy, straight from {@code src}; other types
 * are converted through a bounded native buffer, so a multi-GiB F16 tensor never needs a
 * temporary of its full size.
 */
final class StoredCopy {
  /** Elements converted per chunk: 1 Mi values (4-8 MiB), big enough that per-copy overhead vanishes. */
  private static final long CHUNK = 1 << 20;

  private StoredCopy() {}

  static void into(Tensor target, DType stored, MemorySegment src) {
    DType to = target.dtype();
    if (to != DType.F32 && to != DType.I64) {
      throw new IllegalArgumentException("target: expected an F32 or I64 tensor but got " + to);
    }
    if (stored == to) {
      target.copyFrom(src);
      return;
    }
    long n = target.numel();
    if (n == 0) return;
    int width = to.byteSize();
    long chunk = Math.min(n, CHUNK);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment buf = arena.allocate(chunk * width, 64);
      for (long start = 0; start < n; start += chunk) {
        long m = Math.min(chunk, n - start);
        for (long i = 0; i < m; i++) {
          // I64 from a float type: truncated, as PyTorch's copy_ into an integer tensor.
          if (to == DType.F32) buf.setAtIndex(ValueLayout.JAVA_FLOAT, i, Halfs.toFloat(stored, src, start + i));
          else buf.setAtIndex(ValueLayout.JAVA_LONG, i, (long) Halfs.toFloat(stored, src, start + i));
        }
        target.driver().copyFromHost(buf, target.address() + start * width, m * width);
      }
    }
  }
}
