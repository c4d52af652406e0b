package io.plugkit.io;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header mapping names to {dtype, shape, data_offsets}, then the raw little-endian data.
 * Reading validates everything before copying (see {@link SafeTensorsHeader}): a corrupt or
 * truncated file gets an {@link IllegalArgumentException} naming the problem.
 *
 * <p>{@link #read} and {@link #parse} copy every tensor into a Java array: fine for fixtures and
 * small files. For model weights, and for any file of 2 GiB or more, use {@link SafeTensorsFile},
 * which maps the file and copies each tensor straight to its device.
 */
public final class SafeTensors {
  private SafeTensors() {}

  /** A tensor entry of a file: its dtype, shape and bytes, before it reaches a device. */
  public record Entry(DType dtype, Shape shape, byte[] data) {
    /** The values as floats (F32, F16 and BF16 are widened; I64 is converted). */
    public float[] toFloats() { return Halfs.toFloats(dtype, data); }

    /** Overwrites {@code target} (F32 or I64, of this entry's size) with these values, converting the element type. */
    public void copyInto(Tensor target) {
      if (target == null) throw new IllegalArgumentException("target: expected a tensor but got null");
      StoredCopy.into(target, dtype, MemorySegment.ofArray(data));
    }
  }

  /** A parsed file: tensors in file order, and the string metadata. */
  public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {
    public Entry get(String name) {
      Entry e = tensors.get(name);
      if (e == null) throw new IllegalArgumentException("name: no tensor '" + name + "' in the file (it has " + tensors.keySet() + ")");
      return e;
    }

    /** The named tensor as an F32 tensor on {@code device}, in the current scope. */
    public Tensor tensor(String name, Device device) {
      Entry e = get(name);
      return Tensor.of(device, e.toFloats(), e.shape().dims());
    }
  }

  /** Reads a whole file into Java arrays (each tensor must be under 2 GiB; see {@link SafeTensorsFile} otherwise). */
  public static Contents read(Path file) {
    try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
      Map<String, Entry> tensors = new LinkedHashMap<>();
      for (var e : f.tensors().entrySet()) {
        TensorInfo t = e.getValue();
        if (t.byteSize() > Integer.MAX_VALUE - 8) {
          throw new IllegalArgumentException("file: tensor " + e.getKey() + " of " + file + " has " + t.byteSize()
              + " bytes, more than a Java array holds; load it with SafeTensorsFile");
        }
        tensors.put(e.getKey(), new Entry(t.dtype(), t.shape(), f.bytes(e.getKey()).toArray(ValueLayout.JAVA_BYTE)));
      }
      return new Contents(tensors, f.metadata());
    }
  }

  /** Parses the bytes of a safetensors file; {@code source} names it in errors. */
  public static Contents parse(byte[] bytes, String source) {
    MemorySegment file = MemorySegment.ofArray(bytes);
    SafeTensorsHeader header = SafeTensorsHeader.parse(file, source);
    Map<String, Entry> tensors = new LinkedHashMap<>();
    for (var e : header.tensors().entrySet()) {
      TensorInfo t = e.getValue();
      byte[] data = file.asSlice(header.dataStart() + t.begin(), t.byteSize()).toArray(ValueLayout.JAVA_BYTE);
      tensors.put(e.getKey(), new Entry(t.dtype(), t.shape(), data));
    }
    return new Contents(tensors, header.metadata());
  }

  /** Writes tensors (any device; copied to the host) and string metadata. */
  public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
    StringBuilder h = new StringBuilder("{");
    if (!metadata.isEmpty()) {
      h.append("\"__metadata__\":{");
      boolean first = true;
      for (var kv : metadata.entrySet()) {
        if (!first) h.append(',');
        first = false;
        h.append(Json.quote(kv.getKey())).append(':').append(Json.quote(kv.getValue()));
      }
      h.append('}');
    }
    long offset = 0;
    List<byte[]> blobs = new ArrayList<>();
    for (var kv : tensors.entrySet()) {
      Tensor t = kv.getValue();
      byte[] data = t.toBytes();
      blobs.add(data);
      if (h.length() > 1) h.append(',');
      h.append(Json.quote(kv.getKey())).append(":{\"dtype\":\"").append(t.dtype().safetensorsName())
          .append("\",\"shape\":").append(java.util.Arrays.toString(t.dims()).replace(" ", ""))
          .append(",\"data_offsets\":[").append(offset).append(',').append(offset + data.length).append("]}");
      offset += data.length;
    }
    h.append('}');
    // Pad the header's UTF-8 bytes (not chars: names may be non-ASCII) with spaces to a multiple
    // of 8, so the data section is aligned, as the reference writer does.
    byte[] unpadded = h.toString().getBytes(StandardCharsets.UTF_8);
    byte[] header = java.util.Arrays.copyOf(unpadded, (unpadded.length + 7) / 8 * 8);
    java.util.Arrays.fill(header, unpadded.length, header.length, (byte) ' ');
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING); Arena arena = Arena.ofConfined()) {
      MemorySegment len = arena.allocate(8);
      len.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, header.length);
      ch.write(len.asByteBuffer());
      ch.write(java.nio.ByteBuffer.wrap(header));
      for (byte[] b : blobs) ch.write(java.nio.ByteBuffer.wrap(b));
    } catch (IOException e) {
      throw new UncheckedIOException("could not write " + file, e);
    }
  }
}
