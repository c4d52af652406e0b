package io.plugkit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test void roundTripsWhatTheBenchWrites() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", "conv2d 8x32 \"k3\"\\ ->64\n");
    m.put("n", 3);
    m.put("x", 1.5e-7);
    m.put("nan", Double.NaN);
    m.put("ok", true);
    m.put("list", List.of(1.0, 2.5, "a"));
    m.put("arr", new double[] {0.25, 1e12});
    m.put("empty", Map.of());
    Map<?, ?> back = (Map<?, ?>) Json.parse(Json.write(m));
    assertEquals(m.get("id"), back.get("id"));
    assertEquals(3.0, back.get("n"));
    assertEquals(1.5e-7, back.get("x"));
    assertNull(back.get("nan"));
    assertEquals(true, back.get("ok"));
    assertEquals(List.of(1.0, 2.5, "a"), back.get("list"));
    assertEquals(List.of(0.25, 1e12), back.get("arr"));
    assertEquals(Map.of(), back.get("empty"));
  }

  @Test void rejectsBrokenText() {
    assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": 1"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("[1, 2] x"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("{a: 1}"));
  }
}
