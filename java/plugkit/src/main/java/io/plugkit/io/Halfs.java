package io.plugkit.io;

import io.plugkit.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Widening of stored element types to float (safetensors data is little-endian). */
final class Halfs {
  private Halfs() {}

  static float[] toFloats(DType dtype, byte[] data) {
    ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[data.length / dtype.byteSize()];
    for (int i = 0; i < out.length; i++) {
      out[i] = switch (dtype) {
        case F32 -> b.getFloat(4 * i);
        case F16 -> Float.float16ToFloat(b.getShort(2 * i));
        case BF16 -> Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
        case I64 -> (float) b.getLong(8 * i);
      };
    }
    return out;
  }
}
