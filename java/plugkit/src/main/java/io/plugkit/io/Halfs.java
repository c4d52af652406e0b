package io.plugkit.io;

import io.plugkit.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Widening of stored element types to float (safetensors data is little-endian and may be unaligned). */
final class Halfs {
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private Halfs() {}

  static float[] toFloats(DType dtype, byte[] data) {
    MemorySegment src = MemorySegment.ofArray(data);
    float[] out = new float[data.length / dtype.byteSize()];
    for (int i = 0; i < out.length; i++) out[i] = toFloat(dtype, src, i);
    return out;
  }

  /** Element {@code i} of {@code src}, stored as {@code dtype}, as a float. */
  static float toFloat(DType dtype, MemorySegment src, long i) {
    return switch (dtype) {
      case F32 -> src.get(F32, 4 * i);
      case F16 -> Float.float16ToFloat(src.get(I16, 2 * i));
      case BF16 -> Float.intBitsToFloat((src.get(I16, 2 * i) & 0xffff) << 16);
      case I64 -> (float) src.get(I64, 8 * i);
    };
  }
}
