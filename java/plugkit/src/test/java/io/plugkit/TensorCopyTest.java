package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.testing.TestDevices;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Copies between tensors and a caller's float[], FloatBuffer (heap, direct) and MemorySegment (heap, native). */
class TensorCopyTest {
  private static float[] ramp(int n, float start) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = start + i * 0.25f;
    return v;
  }

  private static void rejects(Executable call, String prefix) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith(prefix), "expected '" + prefix + "...' but got: " + e.getMessage());
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void floatArraysWithOffsets(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.empty(d, 2, 3, 5);
      float[] src = ramp(40, -3f);
      t.copyFrom(src, 7);
      float[] dst = new float[35];
      t.copyTo(dst, 5);
      for (int i = 0; i < 30; i++) assertEquals(src[7 + i], dst[5 + i], "value " + i);
      assertEquals(0f, dst[4]);
      t.copyFrom(src, 10); // exactly the tail of the array
      rejects(() -> t.copyFrom(src, 11), "src: expected 30 floats from offset 11 but the array has 40");
      rejects(() -> t.copyFrom(src, -1), "src: expected 30 floats from offset -1");
      rejects(() -> t.copyFrom(new float[29], 0), "src:");
      rejects(() -> t.copyFrom((float[]) null, 0), "src: expected a float[] but got null");
      rejects(() -> t.copyTo(new float[30], 1), "dst: expected 30 floats from offset 1 but the array has 30");
      rejects(() -> Tensor.ofLongs(d, new long[] {1}).copyFrom(new float[1], 0), "copyFrom: expected an F32 tensor");
      Tensor empty = Tensor.empty(d, 0, 4);
      empty.copyFrom(new float[0], 0);
      empty.copyTo(new float[0], 0);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void floatBuffersHeapAndDirect(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.empty(d, 4, 6);
      FloatBuffer heapIn = FloatBuffer.wrap(ramp(30, 1f));
      heapIn.position(3);
      t.copyFrom(heapIn);
      assertEquals(27, heapIn.position(), "a copy advances the position as a bulk get does");
      FloatBuffer direct = ByteBuffer.allocateDirect(4 * 26).order(ByteOrder.nativeOrder()).asFloatBuffer();
      direct.position(2);
      t.copyTo(direct);
      assertEquals(26, direct.position());
      float[] out = new float[24];
      direct.position(2);
      direct.get(out);
      assertArrayEquals(java.util.Arrays.copyOfRange(ramp(30, 1f), 3, 27), out);

      direct.position(2);
      t.copyFrom(FloatBuffer.wrap(new float[24]));
      t.copyFrom(direct);
      FloatBuffer heapOut = FloatBuffer.allocate(24);
      t.copyTo(heapOut);
      assertArrayEquals(out, heapOut.array(), "direct in, heap out");

      FloatBuffer bigEndian = ByteBuffer.allocateDirect(4 * 24).asFloatBuffer();
      rejects(() -> t.copyFrom(bigEndian), "src: expected a FloatBuffer in native byte order");
      rejects(() -> t.copyTo(FloatBuffer.allocate(24).asReadOnlyBuffer()), "dst: expected a writable FloatBuffer");
      rejects(() -> t.copyFrom(FloatBuffer.allocate(23)), "src: expected at least 24 floats remaining but got 23");
      rejects(() -> t.copyTo(FloatBuffer.allocate(30).position(7)), "dst: expected at least 24 floats remaining but got 23");
      rejects(() -> t.copyTo((FloatBuffer) null), "dst: expected a FloatBuffer but got null");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void memorySegmentsHeapAndNative(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open(); Arena arena = Arena.ofConfined()) {
      Tensor t = Tensor.empty(d, 3, 4);
      MemorySegment in = arena.allocate(48);
      for (int i = 0; i < 12; i++) in.setAtIndex(ValueLayout.JAVA_FLOAT, i, i - 5.5f);
      t.copyFrom(in);
      float[] heap = new float[12];
      t.copyTo(MemorySegment.ofArray(heap));
      assertArrayEquals(in.toArray(ValueLayout.JAVA_FLOAT), heap);
      MemorySegment out = arena.allocate(48);
      t.copyTo(out);
      assertArrayEquals(heap, out.toArray(ValueLayout.JAVA_FLOAT));
      Tensor counts = Tensor.ofLongs(d, new long[] {3, -9}, 2);
      long[] longs = new long[2];
      counts.copyTo(MemorySegment.ofArray(longs));
      assertArrayEquals(new long[] {3, -9}, longs, "any dtype copies its raw bytes");
      rejects(() -> t.copyTo(arena.allocate(44)), "dst: expected 48 bytes but got 44");
      rejects(() -> t.copyTo(out.asReadOnly()), "dst: expected a writable segment");
      rejects(() -> t.copyTo((MemorySegment) null), "dst: expected a MemorySegment but got null");
    }
  }

  /** 6 MiB from and to the Java heap: on CUDA that is staged in 4 MiB chunks, so the second chunk is checked too. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void largeHeapCopiesCrossTheStagingChunk(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      int n = 3 << 19;
      float[] src = ramp(n, 0f);
      Tensor t = Tensor.empty(d, n);
      t.copyFrom(src, 0);
      float[] dst = new float[n];
      t.copyTo(dst, 0);
      assertArrayEquals(src, dst);
      assertArrayEquals(src, t.toArray());
    }
  }
}
