package io.plugkit.ops;

import io.plugkit.Shape;

/** NumPy/PyTorch broadcasting: shapes align at their last dim; each pair is equal or has a 1. */
final class Broadcasting {
  private Broadcasting() {}

  /** The broadcast shape of a and b, or an IllegalArgumentException naming b. */
  static Shape shape(Shape a, String nameA, Shape b, String nameB) {
    int rank = Math.max(a.rank(), b.rank());
    int[] out = new int[rank];
    for (int i = 0; i < rank; i++) {
      int da = sizeFromEnd(a, rank - i);
      int db = sizeFromEnd(b, rank - i);
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(nameB + ": expected a shape broadcastable with " + a + " (that of " + nameA
            + ") but got " + b + " (sizes " + da + " and " + db + " at dim " + i + " of the result)");
      }
      out[i] = da == 1 ? db : da;
    }
    return Shape.of(out);
  }

  /**
   * Element strides that read a contiguous tensor of shape {@code in} as if it had shape
   * {@code outDims} (which it broadcasts to): 0 along new leading dims and expanded 1-dims.
   */
  static long[] strides(Shape in, int[] outDims) {
    long[] own = in.strides();
    long[] out = new long[outDims.length];
    int lead = outDims.length - in.rank();
    for (int i = lead; i < outDims.length; i++) out[i] = in.dim(i - lead) == 1 ? 0 : own[i - lead];
    return out;
  }

  private static int sizeFromEnd(Shape s, int fromEnd) {
    return fromEnd <= s.rank() ? s.dim(s.rank() - fromEnd) : 1;
  }
}
