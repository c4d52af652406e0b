package io.plugkit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Copies between a tensor and a caller's memory, for {@link Tensor}'s copyFrom/copyTo overloads.
 * The CPU device reads and writes any host memory directly, the Java heap included, and the CUDA
 * driver copies native memory (direct buffers, mapped files, arenas) directly; only Java heap
 * memory on CUDA is staged, since the driver cannot address the heap, through a bounded buffer.
 */
final class HostCopies {
  /** Staging chunk for heap memory on CUDA: 4 MiB is a 1024x1024 F32 image, enough to hide per-copy overhead. */
  private static final long STAGE = 4L << 20;

  private HostCopies() {}

  static void toDevice(Tensor t, MemorySegment src) {
    long bytes = t.byteSize();
    if (bytes == 0) return;
    if (src.isNative() || !t.device().isCuda()) {
      t.driver().copyFromHost(src, t.address(), bytes);
      return;
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment stage = a.allocate(Math.min(bytes, STAGE), 64);
      for (long off = 0; off < bytes; off += stage.byteSize()) {
        long n = Math.min(stage.byteSize(), bytes - off);
        MemorySegment.copy(src, off, stage, 0, n);
        t.driver().copyFromHost(stage, t.address() + off, n);
      }
    }
  }

  static void toHost(Tensor t, MemorySegment dst) {
    long bytes = t.byteSize();
    if (bytes == 0) return;
    if (dst.isNative() || !t.device().isCuda()) {
      t.driver().copyToHost(t.address(), dst, bytes);
      return;
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment stage = a.allocate(Math.min(bytes, STAGE), 64);
      for (long off = 0; off < bytes; off += stage.byteSize()) {
        long n = Math.min(stage.byteSize(), bytes - off);
        t.driver().copyToHost(t.address() + off, stage, n);
        MemorySegment.copy(stage, 0, dst, off, n);
      }
    }
  }

  /** {@code count} floats of {@code array} from {@code offset}, checked; {@code what} names the array argument. */
  static MemorySegment floats(float[] array, int offset, long count, String what) {
    if (array == null) throw new IllegalArgumentException(what + ": expected a float[] but got null");
    if (offset < 0 || offset > array.length || array.length - offset < count) {
      throw new IllegalArgumentException(what + ": expected " + count + " floats from offset " + offset
          + " but the array has " + array.length);
    }
    return MemorySegment.ofArray(array).asSlice(4L * offset, 4L * count);
  }

  /** The next {@code count} floats of {@code buffer} (from its position), checked. */
  static MemorySegment floats(FloatBuffer buffer, long count, boolean write, String what) {
    if (buffer == null) throw new IllegalArgumentException(what + ": expected a FloatBuffer but got null");
    if (buffer.order() != ByteOrder.nativeOrder()) {
      // A byte-for-byte copy of a big-endian view would scramble every value; converting would need a temporary.
      throw new IllegalArgumentException(what + ": expected a FloatBuffer in native byte order (" + ByteOrder.nativeOrder()
          + ") but got " + buffer.order() + "; view the ByteBuffer with .order(ByteOrder.nativeOrder()).asFloatBuffer()");
    }
    if (write && buffer.isReadOnly()) throw new IllegalArgumentException(what + ": expected a writable FloatBuffer but it is read-only");
    if (buffer.remaining() < count) {
      throw new IllegalArgumentException(what + ": expected at least " + count + " floats remaining but got " + buffer.remaining());
    }
    return MemorySegment.ofBuffer(buffer).asSlice(0, 4L * count);
  }

  static void requireSize(MemorySegment segment, long bytes, boolean write, String what) {
    if (segment == null) throw new IllegalArgumentException(what + ": expected a MemorySegment but got null");
    if (write && segment.isReadOnly()) throw new IllegalArgumentException(what + ": expected a writable segment but it is read-only");
    if (segment.byteSize() != bytes) {
      throw new IllegalArgumentException(what + ": expected " + bytes + " bytes but got " + segment.byteSize());
    }
  }

}
