package io.plugkit.io;

import io.plugkit.DType;
import io.plugkit.Shape;

/**
 * One tensor of a safetensors header: its dtype, shape and {@code data_offsets} (bytes
 * {@code [begin, end)} of the data section, validated against dtype x shape and the file).
 */
public record TensorInfo(DType dtype, Shape shape, long begin, long end) {
  public long byteSize() { return end - begin; }
}
