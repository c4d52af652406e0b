package io.plugkit.dist;

import io.plugkit.dist.Communicator.ReduceOp;

/** Element-wise reductions of every rank's host copy, in rank order (the same bits on every rank). */
final class HostReduce {
  private HostReduce() {}

  /** F32: SUM, AVG and PROD accumulate in double, rounded once; MAX and MIN propagate NaN. */
  static float[] f32(Object[] ranks, ReduceOp op) {
    float[][] v = new float[ranks.length][];
    for (int r = 0; r < v.length; r++) v[r] = (float[]) ranks[r];
    int n = v.length;
    float[] out = new float[v[0].length];
    switch (op) {
      case SUM, AVG -> {
        for (int i = 0; i < out.length; i++) {
          double acc = v[0][i];
          for (int r = 1; r < n; r++) acc += v[r][i];
          out[i] = (float) (op == ReduceOp.AVG ? acc / n : acc);
        }
      }
      case PROD -> {
        for (int i = 0; i < out.length; i++) {
          double acc = v[0][i];
          for (int r = 1; r < n; r++) acc *= v[r][i];
          out[i] = (float) acc;
        }
      }
      case MAX, MIN -> {
        boolean max = op == ReduceOp.MAX;
        for (int i = 0; i < out.length; i++) {
          float acc = v[0][i];
          for (int r = 1; r < n; r++) acc = max ? Math.max(acc, v[r][i]) : Math.min(acc, v[r][i]);
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
