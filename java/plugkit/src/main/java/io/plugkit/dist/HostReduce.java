package io.plugkit.dist;

import io.plugkit.dist.Communicator.ReduceOp;

/** Element-wise reductions of every rank's host copy, in rank order (the same bits on every rank). */
final class HostReduce {
  private HostReduce() {}

  /** F32: SUM, AVG and PROD accumulate in double, rounded once; MAX and MIN propagate NaN. */
  static float[] f32(Object[] ranks, ReduceOp op) {
    float[] first = (float[]) ranks[0];
    float[] out = new float[first.length];
    int n = ranks.length;
    for (int i = 0; i < out.length; i++) {
      switch (op) {
        case SUM, AVG -> {
          double acc = first[i];
          for (int r = 1; r < n; r++) acc += ((float[]) ranks[r])[i];
          out[i] = (float) (op == ReduceOp.AVG ? acc / n : acc);
        }
        case PROD -> {
          double acc = first[i];
          for (int r = 1; r < n; r++) acc *= ((float[]) ranks[r])[i];
          out[i] = (float) acc;
        }
        case MAX -> {
          float acc = first[i];
          for (int r = 1; r < n; r++) acc = Math.max(acc, ((float[]) ranks[r])[i]);
          out[i] = acc;
        }
        case MIN -> {
          float acc = first[i];
          for (int r = 1; r < n; r++) acc = Math.min(acc, ((float[]) ranks[r])[i]);
          out[i] = acc;
        }
      }
    }
    return out;
  }

  /** I64: SUM and PROD wrap on overflow (as C's int64 arithmetic); AVG is rejected before this. */
  static long[] i64(Object[] ranks, ReduceOp op) {
    long[] first = (long[]) ranks[0];
    long[] out = first.clone();
    for (int r = 1; r < ranks.length; r++) {
      long[] v = (long[]) ranks[r];
      for (int i = 0; i < out.length; i++) {
        out[i] = switch (op) {
          case SUM -> out[i] + v[i];
          case PROD -> out[i] * v[i];
          case MAX -> Math.max(out[i], v[i]);
          case MIN -> Math.min(out[i], v[i]);
          case AVG -> throw new IllegalStateException("AVG of I64");
        };
      }
    }
    return out;
  }
}
