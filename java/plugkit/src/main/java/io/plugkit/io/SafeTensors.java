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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
 * JSON header mapping names to {dtype, shape, data_offsets}, then the raw little-endian data.
 * Reading validates everything before copying: the header length against the file size, every
 * offset pair against the data size and against dtype x shape, and overlaps; a corrupt or
 * truncated file gets an {@link IllegalArgumentException} naming the problem.
 */
public final class SafeTensors {
  /** Header size limit (100 MB, as the reference implementation), so a corrupt length cannot exhaust memory. */
  private static final long MAX_HEADER = 100_000_000L;

  private SafeTensors() {}

  /** A tensor entry of a file: its dtype, shape and bytes, before it reaches a device. */
  public record Entry(DType dtype, Shape shape, byte[] data) {
    /** The values as floats (F32, F16 and BF16 are widened; I64 is converted). */
    public float[] toFloats() { return Halfs.toFloats(dtype, data); }
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

  public static Contents read(Path file) {
    try {
      return parse(Files.readAllBytes(file), file.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + file, e);
    }
  }

  /** Parses the bytes of a safetensors file; {@code source} names it in errors. */
  public static Contents parse(byte[] bytes, String source) {
    if (bytes.length < 8) throw corrupt(source, "file of " + bytes.length + " bytes is shorter than the 8-byte header length");
    long headerLen = MemorySegment.ofArray(bytes).get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
    if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > bytes.length - 8) {
      throw corrupt(source, "header length " + headerLen + " does not fit the file of " + bytes.length + " bytes");
    }
    String json = new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8);
    Object root;
    try {
      root = Json.parse(json);
    } catch (IllegalArgumentException e) {
      throw corrupt(source, "header is not valid JSON: " + e.getMessage());
    }
    if (!(root instanceof Map<?, ?> header)) throw corrupt(source, "header is not a JSON object");
    long dataStart = 8 + headerLen;
    long dataLen = bytes.length - dataStart;
    Map<String, Entry> tensors = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    List<long[]> ranges = new ArrayList<>();
    for (var e : header.entrySet()) {
      String name = (String) e.getKey();
      if (name.equals("__metadata__")) {
        if (!(e.getValue() instanceof Map<?, ?> m)) throw corrupt(source, "__metadata__ is not an object");
        for (var kv : m.entrySet()) {
          if (!(kv.getValue() instanceof String v)) throw corrupt(source, "__metadata__ value of " + kv.getKey() + " is not a string");
          metadata.put((String) kv.getKey(), v);
        }
        continue;
      }
      if (!(e.getValue() instanceof Map<?, ?> info)) throw corrupt(source, "entry " + name + " is not an object");
      DType dtype;
      try {
        dtype = DType.fromSafetensors(String.valueOf(info.get("dtype")));
      } catch (IllegalArgumentException ex) {
        throw corrupt(source, "entry " + name + ": " + ex.getMessage());
      }
      int[] dims = longList(info.get("shape"), source, name + ".shape");
      long[] offsets = toLongs(info.get("data_offsets"), source, name + ".data_offsets");
      if (offsets.length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLen) {
        throw corrupt(source, "entry " + name + ": data_offsets " + java.util.Arrays.toString(offsets)
            + " outside the data section of " + dataLen + " bytes");
      }
      Shape shape;
      try {
        shape = Shape.of(dims);
      } catch (IllegalArgumentException | ArithmeticException ex) {
        throw corrupt(source, "entry " + name + ": bad shape " + java.util.Arrays.toString(dims));
      }
      // Exact arithmetic: a huge shape whose byte count wraps around must not pass as small.
      long expected;
      try {
        expected = Math.multiplyExact(shape.numel(), (long) dtype.byteSize());
      } catch (ArithmeticException ex) {
        throw corrupt(source, "entry " + name + ": shape " + shape + " is too large");
      }
      if (offsets[1] - offsets[0] != expected) {
        throw corrupt(source, "entry " + name + ": " + (offsets[1] - offsets[0]) + " bytes of data for " + dtype + shape
            + ", which needs " + expected);
      }
      ranges.add(offsets);
      byte[] data = java.util.Arrays.copyOfRange(bytes, (int) (dataStart + offsets[0]), (int) (dataStart + offsets[1]));
      tensors.put(name, new Entry(dtype, shape, data));
    }
    // As the reference reader: the entries tile the data section exactly (no overlap, gap or tail).
    ranges.sort((a, b) -> Long.compare(a[0], b[0]));
    long end = 0;
    for (long[] r : ranges) {
      if (r[0] != end) {
        throw corrupt(source, "data_offsets " + java.util.Arrays.toString(r) + " do not follow the previous entry's end " + end
            + " (overlap or gap)");
      }
      end = r[1];
    }
    if (end != dataLen) throw corrupt(source, "entries cover " + end + " bytes but the data section has " + dataLen);
    return new Contents(tensors, metadata);
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

  private static int[] longList(Object o, String source, String what) {
    long[] l = toLongs(o, source, what);
    int[] out = new int[l.length];
    for (int i = 0; i < l.length; i++) {
      if (l[i] < 0 || l[i] > Integer.MAX_VALUE) throw corrupt(source, what + " has dimension " + l[i]);
      out[i] = (int) l[i];
    }
    return out;
  }

  private static long[] toLongs(Object o, String source, String what) {
    if (!(o instanceof List<?> list)) throw corrupt(source, what + " is not a list of integers");
    long[] out = new long[list.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(list.get(i) instanceof Long v)) throw corrupt(source, what + " is not a list of integers");
      out[i] = v;
    }
    return out;
  }

  private static IllegalArgumentException corrupt(String source, String why) {
    return new IllegalArgumentException("safetensors file " + source + " is corrupt: " + why);
  }
}
