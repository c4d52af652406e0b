package io.plugkit.dist;

import io.plugkit.dist.Communicator.ReduceOp;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** What the NCCL tests share: rank data, the fixed-order fold they must equal, one thread per rank. */
final class NcclTesting {
  private NcclTesting() {}

  /** Rank r's values: distinct per rank, signs mixed, magnitudes near 1 (products stay finite). */
  static float[] values(int rank, int n) {
    SplittableRandom rnd = new SplittableRandom(1000 + rank);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) rnd.nextDouble(-2, 2);
    return v;
  }

  /**
   * The stand-in's documented result: rank 0's values folded with ranks 1, 2, ... in that order in
   * float; MAX and MIN with fmaxf/fminf (a NaN loses to a number), as NCCL's kernels; AVG as NCCL does for floats, each value times (float) (1 / n) and then summed.
   */
  static float[] fold(float[][] x, ReduceOp op) {
    int ranks = x.length;
    float s = (float) (1.0 / ranks);
    float[] acc = x[0].clone();
    if (op == ReduceOp.AVG) for (int i = 0; i < acc.length; i++) acc[i] = acc[i] * s;
    for (int r = 1; r < ranks; r++) {
      for (int i = 0; i < acc.length; i++) {
        float v = op == ReduceOp.AVG ? x[r][i] * s : x[r][i];
        acc[i] = switch (op) {
          case SUM, AVG -> acc[i] + v;
          case PROD -> acc[i] * v;
          case MAX -> Float.isNaN(acc[i]) ? v : Float.isNaN(v) ? acc[i] : Math.max(acc[i], v); // fmaxf
          case MIN -> Float.isNaN(acc[i]) ? v : Float.isNaN(v) ? acc[i] : Math.min(acc[i], v); // fminf
        };
      }
    }
    return acc;
  }

  /** Runs {@code body} for each rank (a communicator, or a rank number) on its own thread; the results in order. */
  static <C, T> List<T> onRanks(List<C> ranks, Function<C, T> body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(ranks.size());
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (C c : ranks) futures.add(pool.submit(() -> body.apply(c)));
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) out.add(f.get(120, TimeUnit.SECONDS));
      return out;
    } finally {
      pool.shutdownNow();
    }
  }
}
