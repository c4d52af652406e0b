package io.plugkit.driver;

/** The C type of one kernel parameter, as it appears in the kernel source. */
public enum ArgKind {
  /** Any pointer ({@code float*}, {@code const int64_t*}): a device or host address, 8 bytes. */
  PTR(8),
  /** {@code int}. */
  I32(4),
  /** {@code int64_t}. */
  I64(8),
  /** {@code float}. */
  F32(4);

  private final int byteSize;

  ArgKind(int byteSize) { this.byteSize = byteSize; }

  public int byteSize() { return byteSize; }

  /** Maps a C parameter type from a kernel source to its kind, or null when unknown. */
  public static ArgKind ofCType(String cType) {
    String t = cType.replace("const", "").replace("__restrict__", "").replaceAll("\\s+", "");
    if (t.endsWith("*")) return PTR;
    return switch (t) {
      case "int" -> I32;
      case "int64_t" -> I64;
      case "float" -> F32;
      default -> null;
    };
  }
}
