package io.plugkit.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.testing.TestDevices;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The mapped reader: lazy loading by name, conversion on the way to the device, files past 2 GiB, corrupt files. */
class SafeTensorsFileTest {
  private static final long TWO_GIB = 1L << 31;

  /** Writes the 8-byte header length and the header; returns the data section's file offset. */
  private static long writeHeader(RandomAccessFile f, String header) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
    f.write(h);
    return 8 + h.length;
  }

  private static byte[] littleEndianFloats(float... v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) b.putFloat(x);
    return b.array();
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void loadsOneTensorByName(Device d, @TempDir Path dir) {
    TestDevices.assumeUsable(d);
    Path file = dir.resolve("m.safetensors");
    try (Scope s = Scope.open()) {
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      tensors.put("w", Tensor.of(Device.cpu(), new float[] {1f, -2.5f, 3f, 4f, 5f, 6f}, 2, 3));
      tensors.put("count", Tensor.ofLongs(Device.cpu(), new long[] {42}));
      SafeTensors.write(file, tensors, Map.of("format", "pt"));
      try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
        assertEquals(List.of("w", "count"), List.copyOf(f.names()));
        assertEquals(new TensorInfo(DType.F32, Shape.of(2, 3), 0, 24), f.info("w"));
        assertEquals(DType.I64, f.info("count").dtype());
        assertEquals("pt", f.metadata().get("format"));
        Tensor w = f.load("w", d);
        assertEquals(d, w.device());
        assertArrayEquals(new float[] {1f, -2.5f, 3f, 4f, 5f, 6f}, w.toArray());
        Tensor count = Tensor.ofLongs(d, new long[] {0});
        f.copyInto("count", count);
        assertArrayEquals(new long[] {42}, count.toLongArray());
        assertEquals(42f, f.load("count", d).item(), "I64 loads as F32 by default");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.load("nope", d));
        assertTrue(e.getMessage().startsWith("name: no tensor 'nope'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> f.copyInto("w", Tensor.zeros(d, 3, 2)));
        assertTrue(e.getMessage().startsWith("target: expected shape [2, 3]"), e.getMessage());
      }
    }
  }

  /** F16 and BF16 are widened chunk by chunk on the way to the device; 1.5 Mi values cross a chunk boundary. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void widensHalfPrecisionAcrossChunks(Device d, @TempDir Path dir) throws IOException {
    TestDevices.assumeUsable(d);
    int n = 3 << 19;
    Path file = dir.resolve("h.safetensors");
    String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[" + n + "],\"data_offsets\":[0," + 2L * n + "]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[" + 2L * n + "," + (2L * n + 4) + "]}}";
    ByteBuffer data = ByteBuffer.allocate(2 * n + 4).order(ByteOrder.LITTLE_ENDIAN);
    float[] expected = new float[n];
    for (int i = 0; i < n; i++) {
      expected[i] = (i % 2048) - 1024; // exact in F16
      data.putShort(Float.floatToFloat16(expected[i]));
    }
    data.putShort((short) (Float.floatToIntBits(1.5f) >>> 16)).putShort((short) (Float.floatToIntBits(-3f) >>> 16));
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      writeHeader(f, header);
      f.write(data.array());
    }
    try (Scope s = Scope.open(); SafeTensorsFile f = SafeTensorsFile.open(file)) {
      assertArrayEquals(expected, f.load("h", d).toArray());
      assertArrayEquals(new float[] {1.5f, -3f}, f.load("b", d).toArray());
    }
  }

  /**
   * A file past 2 GiB, sparse so it takes no disk: a 2 GiB tensor, then a small one whose data
   * starts beyond offset 2^31. The small one loads by name without touching the big one, and
   * the whole-file reader says why it cannot hold the big one instead of failing on the size.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void loadsATensorPastTwoGiB(Device d, @TempDir Path dir) throws IOException {
    TestDevices.assumeUsable(d);
    Path file = dir.resolve("big.safetensors");
    String header = "{\"big\":{\"dtype\":\"F32\",\"shape\":[536870912],\"data_offsets\":[0," + TWO_GIB + "]},"
        + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[" + TWO_GIB + "," + (TWO_GIB + 16) + "]}}";
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      long dataStart = writeHeader(f, header);
      f.setLength(dataStart + TWO_GIB + 16);
      f.seek(dataStart + TWO_GIB);
      f.write(littleEndianFloats(1f, 2f, -3f, 4.5f));
    }
    assertTrue(Files.size(file) > TWO_GIB);
    try (Scope s = Scope.open(); SafeTensorsFile f = SafeTensorsFile.open(file)) {
      assertEquals(TWO_GIB, f.info("big").byteSize());
      assertEquals(TWO_GIB, f.bytes("big").byteSize());
      Tensor tail = f.load("tail", d);
      assertEquals(Shape.of(2, 2), tail.shape());
      assertArrayEquals(new float[] {1f, 2f, -3f, 4.5f}, tail.toArray());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(file));
    assertTrue(e.getMessage().contains("more than a Java array holds"), e.getMessage());

    // The same header over a file one byte short: the tail's offsets leave the data section.
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(f.length() - 1);
    }
    e = assertThrows(IllegalArgumentException.class, () -> SafeTensorsFile.open(file));
    assertTrue(e.getMessage().contains("is corrupt: entry tail: data_offsets"), e.getMessage());
  }

  @Test
  void rejectsCorruptFilesBeforeMappingTensors(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("bad.safetensors");
    Files.write(file, new byte[5]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensorsFile.open(file));
    assertTrue(e.getMessage().contains("shorter than the 8-byte header length"), e.getMessage());
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(0);
      writeHeader(f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}");
      f.write(new byte[20]);
    }
    e = assertThrows(IllegalArgumentException.class, () -> SafeTensorsFile.open(file));
    assertTrue(e.getMessage().contains("overlap or gap"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> SafeTensorsFile.open(null));
  }

  @Test
  void aClosedFileSaysSo(@TempDir Path dir) {
    Path file = dir.resolve("c.safetensors");
    try (Scope s = Scope.open()) {
      SafeTensors.write(file, Map.of("a", Tensor.ones(Device.cpu(), 2)), Map.of());
      SafeTensorsFile f = SafeTensorsFile.open(file);
      f.close();
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> f.load("a", Device.cpu()));
      assertTrue(e.getMessage().contains("was closed"), e.getMessage());
      f.close();
    }
  }
}
