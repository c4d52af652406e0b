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
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corrupt and truncated files are rejected with IllegalArgumentException; valid ones round-trip. */
class SafeTensorsTest {
  private static final String GOOD = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
      + "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]}}";

  /** A file: the little-endian header length, the header, then {@code dataBytes} bytes 0, 1, 2, .... */
  private static byte[] file(String header, int dataBytes) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    for (int i = 0; i < dataBytes; i++) b.put((byte) i);
    return b.array();
  }

  private static void rejects(byte[] bytes, String why) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.parse(bytes, "test.safetensors"));
    assertTrue(e.getMessage().startsWith("safetensors file test.safetensors is corrupt"), e.getMessage());
    assertTrue(e.getMessage().contains(why), "message should contain '" + why + "': " + e.getMessage());
  }

  private static String entry(String dtype, String shape, String offsets) {
    return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  }

  @Test
  void parsesAWellFormedFile() {
    SafeTensors.Contents c = SafeTensors.parse(file(GOOD, 32), "good");
    assertEquals(Shape.of(2, 3), c.get("a").shape());
    assertEquals(DType.I64, c.get("b").dtype());
    assertEquals(Shape.of(), c.get("b").shape());
    assertEquals(24, c.get("b").data()[0], "entry b starts at data offset 24");
  }

  @Test
  void rejectsTruncatedFiles() {
    byte[] good = file(GOOD, 32);
    rejects(Arrays.copyOf(good, good.length - 1), "outside the data section");
    rejects(Arrays.copyOf(good, 8 + 40), "does not fit the file");
    rejects(Arrays.copyOf(good, 5), "shorter than the 8-byte header length");
    rejects(new byte[0], "shorter than the 8-byte header length");
  }

  @Test
  void rejectsAHeaderLengthBeyondTheFile() {
    byte[] bytes = file(GOOD, 32);
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bytes.length);
    rejects(bytes, "does not fit the file");
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -8);
    rejects(bytes, "does not fit the file");
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE);
    rejects(bytes, "does not fit the file");
  }

  @Test
  void rejectsOffsetsOutOfRange() {
    rejects(file(entry("F32", "[2]", "[0,400]"), 8), "outside the data section");
    rejects(file(entry("F32", "[2]", "[-8,0]"), 8), "outside the data section");
    rejects(file(entry("F32", "[2]", "[8,0]"), 8), "outside the data section");
    rejects(file(entry("F32", "[2]", "[0]"), 8), "outside the data section");
    rejects(file(entry("F32", "[2]", "[0,8.5]"), 8), "not a list of integers");
    rejects(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "not a list of integers");
  }

  @Test
  void rejectsOverlapsGapsAndTrailingBytes() {
    String two = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%s]}}";
    rejects(file(two.formatted("4,12"), 12), "overlap or gap");
    rejects(file(two.formatted("12,20"), 20), "overlap or gap");
    rejects(file(entry("F32", "[2]", "[0,8]"), 12), "data section has 12");
  }

  @Test
  void rejectsBadJson() {
    rejects(file("{\"t\":", 0), "not valid JSON");
    rejects(file("{} x", 0), "not valid JSON");
    rejects(file("{\"a\":1,\"a\":2}", 0), "not valid JSON");
    rejects(file("{\"t\":\"\\uZZZZ\"}", 0), "not valid JSON");
    rejects(file("[1,2]", 0), "not a JSON object");
    rejects(file("{\"t\":5}", 0), "is not an object");
    rejects(file("{\"__metadata__\":{\"k\":1}}", 0), "is not a string");
    // 200000 nested arrays: must fail as a corrupt file, not overflow the parser's stack.
    rejects(file("{\"t\":" + "[".repeat(200_000) + "]".repeat(200_000) + "}", 0), "nesting deeper than");
  }

  @Test
  void rejectsDtypeShapeSizeMismatches() {
    rejects(file(entry("F32", "[2,3]", "[0,20]"), 20), "which needs 24");
    rejects(file(entry("F64", "[2]", "[0,16]"), 16), "dtype");
    rejects(file(entry("F32", "[-2]", "[0,8]"), 8), "has dimension -2");
    rejects(file(entry("F32", "[4294967296]", "[0,8]"), 8), "has dimension");
    // 2^30 * 2^30 * 2 I64 values are 2^64 bytes, which wraps to 0 in 64-bit arithmetic: it must not pass as empty.
    rejects(file(entry("I64", "[1073741824,1073741824,2]", "[0,0]"), 0), "too large");
    rejects(file(entry("F32", "[2147483647,2147483647,2147483647]", "[0,0]"), 0), "bad shape");
  }

  /** Names may be non-ASCII: the header is padded by its UTF-8 bytes, so the data stays 8-aligned. */
  @Test
  void writesAlignedFilesThatRoundTrip(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("w.safetensors");
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      tensors.put("gewicht_ü_é", Tensor.of(d, new float[] {1.5f, -2f, 3f}, 3));
      tensors.put("count", Tensor.ofLongs(d, new long[] {7}));
      tensors.put("empty", Tensor.empty(d, 0, 4));
      SafeTensors.write(f, tensors, Map.of("note", "ünïcode \"quoted\""));
      byte[] bytes = Files.readAllBytes(f);
      long headerLen = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
      assertEquals(0, (8 + headerLen) % 8, "data section offset is a multiple of 8");
      SafeTensors.Contents c = SafeTensors.read(f);
      assertArrayEquals(new float[] {1.5f, -2f, 3f}, c.get("gewicht_ü_é").toFloats());
      assertEquals(Shape.of(), c.get("count").shape());
      assertEquals(7f, c.get("count").toFloats()[0]);
      assertEquals(Shape.of(0, 4), c.get("empty").shape());
      assertEquals("ünïcode \"quoted\"", c.metadata().get("note"));
    }
  }
}
