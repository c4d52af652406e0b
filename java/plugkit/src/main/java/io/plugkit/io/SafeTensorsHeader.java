package io.plugkit.io;

import io.plugkit.DType;
import io.plugkit.Shape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The validated header of a safetensors file held in memory or mapped: an 8-byte little-endian
 * header length, a JSON header mapping names to {dtype, shape, data_offsets}, then the data.
 * Everything is checked before any tensor is read: the header length against the file size,
 * every offset pair against the data size and against dtype x shape (exact arithmetic), and that
 * the entries tile the data section; a corrupt file is an {@link IllegalArgumentException}.
 */
record SafeTensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata, long dataStart) {
  /** Header size limit (100 MB, as the reference implementation), so a corrupt length cannot exhaust memory. */
  private static final long MAX_HEADER = 100_000_000L;

  /** Parses and validates the header of {@code file} (the whole file's bytes); {@code source} names it in errors. */
  static SafeTensorsHeader parse(MemorySegment file, String source) {
    long size = file.byteSize();
    if (size < 8) throw corrupt(source, "file of " + size + " bytes is shorter than the 8-byte header length");
    long headerLen = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
    if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
      throw corrupt(source, "header length " + headerLen + " does not fit the file of " + size + " bytes");
    }
    byte[] jsonBytes = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
    Object root;
    try {
      root = Json.parse(new String(jsonBytes, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw corrupt(source, "header is not valid JSON: " + e.getMessage());
    }
    if (!(root instanceof Map<?, ?> header)) throw corrupt(source, "header is not a JSON object");
    long dataStart = 8 + headerLen;
    long dataLen = size - dataStart;
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
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
      tensors.put(name, entry(name, info, dataLen, source));
    }
    checkTiling(tensors, dataLen, source);
    return new SafeTensorsHeader(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata), dataStart);
  }

  private static TensorInfo entry(String name, Map<?, ?> info, long dataLen, String source) {
    DType dtype;
    try {
      dtype = DType.fromSafetensors(String.valueOf(info.get("dtype")));
    } catch (IllegalArgumentException ex) {
      throw corrupt(source, "entry " + name + ": " + ex.getMessage());
    }
    int[] dims = dims(info.get("shape"), source, name + ".shape");
    long[] offsets = longs(info.get("data_offsets"), source, name + ".data_offsets");
    if (offsets.length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLen) {
      throw corrupt(source, "entry " + name + ": data_offsets " + Arrays.toString(offsets)
          + " outside the data section of " + dataLen + " bytes");
    }
    Shape shape;
    try {
      shape = Shape.of(dims);
    } catch (IllegalArgumentException | ArithmeticException ex) {
      throw corrupt(source, "entry " + name + ": bad shape " + Arrays.toString(dims));
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
    return new TensorInfo(dtype, shape, offsets[0], offsets[1]);
  }

  /** As the reference reader: the entries tile the data section exactly (no overlap, gap or tail). */
  private static void checkTiling(Map<String, TensorInfo> tensors, long dataLen, String source) {
    List<TensorInfo> sorted = new ArrayList<>(tensors.values());
    sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
    long end = 0;
    for (TensorInfo t : sorted) {
      if (t.begin() != end) {
        throw corrupt(source, "data_offsets [" + t.begin() + ", " + t.end() + "] do not follow the previous entry's end "
            + end + " (overlap or gap)");
      }
      end = t.end();
    }
    if (end != dataLen) throw corrupt(source, "entries cover " + end + " bytes but the data section has " + dataLen);
  }

  private static int[] dims(Object o, String source, String what) {
    long[] l = longs(o, source, what);
    int[] out = new int[l.length];
    for (int i = 0; i < l.length; i++) {
      if (l[i] < 0 || l[i] > Integer.MAX_VALUE) throw corrupt(source, what + " has dimension " + l[i]);
      out[i] = (int) l[i];
    }
    return out;
  }

  private static long[] longs(Object o, String source, String what) {
    if (!(o instanceof List<?> list)) throw corrupt(source, what + " is not a list of integers");
    long[] out = new long[list.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(list.get(i) instanceof Long v)) throw corrupt(source, what + " is not a list of integers");
      out[i] = v;
    }
    return out;
  }

  static IllegalArgumentException corrupt(String source, String why) {
    return new IllegalArgumentException("safetensors file " + source + " is corrupt: " + why);
  }
}
