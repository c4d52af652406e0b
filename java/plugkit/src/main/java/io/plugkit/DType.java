package io.plugkit;

/** Element types. Ops compute in F32 today; the others exist for storage and safetensors I/O. */
public enum DType {
  F32(4, "F32"), F16(2, "F16"), BF16(2, "BF16"), I64(8, "I64");

  private final int byteSize;
  private final String safetensorsName;

  DType(int byteSize, String safetensorsName) {
    this.byteSize = byteSize;
    this.safetensorsName = safetensorsName;
  }

  public int byteSize() { return byteSize; }

  public String safetensorsName() { return safetensorsName; }

  public static DType fromSafetensors(String name) {
    for (DType t : values()) if (t.safetensorsName.equals(name)) return t;
    throw new IllegalArgumentException("dtype: expected one of F32, F16, BF16, I64 but got " + name);
  }
}
