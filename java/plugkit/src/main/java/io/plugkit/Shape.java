package io.plugkit;

import java.util.Arrays;

/** An immutable tensor shape (row-major, NCHW for images). Dimensions may be 0. */
public final class Shape {
  private final int[] dims;
  /** Computed once: every op and launch asks for it. */
  private final long numel;

  private Shape(int[] dims) {
    this.dims = dims;
    long n = 1;
    for (int d : dims) n = Math.multiplyExact(n, d); // throws when the element count overflows a long
    this.numel = n;
  }

  public static Shape of(int... dims) {
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 0) {
        throw new IllegalArgumentException("shape: expected dimensions >= 0 but got " + Arrays.toString(dims));
      }
    }
    return new Shape(dims.clone());
  }

  public int rank() { return dims.length; }

  public int dim(int i) { return dims[normalizeAxis(i, dims.length, "dim")]; }

  public int[] dims() { return dims.clone(); }

  public long numel() { return numel; }

  /** Row-major strides in elements. */
  public long[] strides() {
    long[] s = new long[dims.length];
    long acc = 1;
    for (int i = dims.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= dims[i];
    }
    return s;
  }

  /** Turns a possibly negative axis into [0, rank), or throws naming the argument. */
  public static int normalizeAxis(int axis, int rank, String argName) {
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
      throw new IllegalArgumentException(argName + ": expected an axis in [" + (-rank) + ", " + (rank - 1)
          + "] but got " + axis);
    }
    return a;
  }

  @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }

  @Override public int hashCode() { return Arrays.hashCode(dims); }

  @Override public String toString() { return Arrays.toString(dims); }
}
