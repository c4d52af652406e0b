package io.plugkit.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The little JSON the bench needs, without a dependency: {@link #write} turns maps, lists, strings,
 * numbers (NaN and infinities as null), booleans and null into text; {@link #parse} reads it back
 * (objects as LinkedHashMap, arrays as ArrayList, numbers as Double).
 */
public final class Json {
  private final String s;
  private int i;

  private Json(String s) { this.s = s; }

  public static String write(Object v) {
    StringBuilder sb = new StringBuilder();
    write(sb, v, 0);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, int indent) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String str) {
      quote(sb, str);
    } else if (v instanceof Number num) {
      double d = num.doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) sb.append("null");
      else if (num instanceof Integer || num instanceof Long) sb.append(num.longValue());
      else sb.append(Double.toString(d));
    } else if (v instanceof Boolean b) {
      sb.append(b);
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        sb.append(first ? "" : ",").append('\n').append("  ".repeat(indent + 1));
        quote(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue(), indent + 1);
        first = false;
      }
      sb.append(first ? "" : "\n" + "  ".repeat(indent)).append('}');
    } else if (v instanceof double[] arr) {
      List<Object> l = new ArrayList<>();
      for (double d : arr) l.add(d);
      write(sb, l, indent);
    } else if (v instanceof List<?> l) {
      sb.append('[');
      for (int k = 0; k < l.size(); k++) {
        if (k > 0) sb.append(", ");
        write(sb, l.get(k), indent + 1);
      }
      sb.append(']');
    } else {
      throw new IllegalArgumentException("Json.write: cannot write a " + v.getClass().getName());
    }
  }

  private static void quote(StringBuilder sb, String str) {
    sb.append('"');
    for (char c : str.toCharArray()) {
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }

  public static Object parse(String text) {
    Json p = new Json(text);
    Object v = p.value();
    p.ws();
    if (p.i != text.length()) throw p.error("end of input");
    return v;
  }

  private Object value() {
    ws();
    if (i >= s.length()) throw error("a value");
    char c = s.charAt(i);
    switch (c) {
      case '{' -> {
        i++;
        Map<String, Object> m = new LinkedHashMap<>();
        ws();
        if (peek('}')) return m;
        do {
          ws();
          if (i >= s.length() || s.charAt(i) != '"') throw error("a key");
          String k = string();
          ws();
          expect(':');
          m.put(k, value());
          ws();
        } while (eat(','));
        expect('}');
        return m;
      }
      case '[' -> {
        i++;
        List<Object> l = new ArrayList<>();
        ws();
        if (peek(']')) return l;
        do l.add(value()); while (eat(','));
        ws();
        expect(']');
        return l;
      }
      case '"' -> { return string(); }
      default -> {
        if (s.startsWith("true", i)) { i += 4; return true; }
        if (s.startsWith("false", i)) { i += 5; return false; }
        if (s.startsWith("null", i)) { i += 4; return null; }
        int start = i;
        while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
        if (start == i) throw error("a value");
        return Double.parseDouble(s.substring(start, i));
      }
    }
  }

  private String string() {
    expect('"');
    StringBuilder sb = new StringBuilder();
    while (true) {
      if (i >= s.length()) throw error("a closing quote");
      char c = s.charAt(i++);
      if (c == '"') return sb.toString();
      if (c != '\\') { sb.append(c); continue; }
      char e = s.charAt(i++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 'r' -> sb.append('\r');
        case 't' -> sb.append('\t');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'u' -> { sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; }
        default -> sb.append(e);
      }
    }
  }

  private void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }

  private boolean peek(char c) {
    if (i < s.length() && s.charAt(i) == c) { i++; return true; }
    return false;
  }

  private boolean eat(char c) {
    ws();
    return peek(c);
  }

  private void expect(char c) {
    if (!peek(c)) throw error("'" + c + "'");
  }

  private IllegalArgumentException error(String expected) {
    return new IllegalArgumentException("JSON: expected " + expected + " at offset " + i);
  }
}
