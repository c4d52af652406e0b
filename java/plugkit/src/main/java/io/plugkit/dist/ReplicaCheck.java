package io.plugkit.dist;

import io.plugkit.DType;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Checks that every rank wraps the same parameters and buffers (PyTorch's
 * _verify_param_shape_across_processes): two all-gathers of I64 signatures, compared in the same
 * way on every rank, so all ranks throw the same error (naming the first difference) or none.
 */
final class ReplicaCheck {
  private ReplicaCheck() {}

  private record Entry(String name, boolean parameter, Tensor t) {}

  static void requireSameAcrossRanks(Communicator comm, Map<String, Tensor> parameters, Map<String, Tensor> buffers) {
    List<Entry> entries = new ArrayList<>();
    parameters.forEach((n, t) -> entries.add(new Entry(n, true, t)));
    buffers.forEach((n, t) -> entries.add(new Entry(n, false, t)));
    int maxRank = 0;
    for (Entry e : entries) maxRank = Math.max(maxRank, e.t.rank());
    long[][] heads = gather(comm, new long[] {parameters.size(), buffers.size(), maxRank});
    for (int r = 1; r < heads.length; r++) {
      if (heads[r][0] != heads[0][0] || heads[r][1] != heads[0][1]) {
        throw new IllegalArgumentException("module: the ranks wrap different modules: rank 0 has " + heads[0][0]
            + " parameters and " + heads[0][1] + " buffers, rank " + r + " has " + heads[r][0] + " and " + heads[r][1]
            + " (every rank must wrap the same architecture)");
      }
    }
    int width = 3;
    for (long[] h : heads) width = (int) Math.max(width, 3 + h[2]);
    // Per entry: name hash, kind * 16 + dtype, rank, dims (padded with -1).
    long[] mine = new long[entries.size() * width];
    Arrays.fill(mine, -1);
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entries.get(i);
      int o = i * width;
      mine[o] = hash(e.name);
      mine[o + 1] = (e.parameter ? 16 : 0) + e.t.dtype().ordinal();
      mine[o + 2] = e.t.rank();
      for (int d = 0; d < e.t.rank(); d++) mine[o + 3 + d] = e.t.dim(d);
    }
    long[][] all = gather(comm, mine);
    for (int i = 0; i < entries.size(); i++) {
      int o = i * width;
      for (int r = 1; r < all.length; r++) {
        if (Arrays.equals(all[r], o, o + width, all[0], o, o + width)) continue;
        String what = entries.get(i).parameter ? "parameter" : "buffer";
        String name = "'" + entries.get(i).name + "'";
        String problem;
        if (all[r][o] != all[0][o]) {
          problem = what + " " + i + " is " + name + " on rank " + comm.rank() + " but the name differs between rank 0 and rank " + r;
        } else if (all[r][o + 1] != all[0][o + 1]) {
          problem = what + " " + name + " has dtype " + dtype(all[0][o + 1]) + " on rank 0 but " + dtype(all[r][o + 1]) + " on rank " + r;
        } else {
          problem = what + " " + name + " has shape " + shape(all[0], o) + " on rank 0 but " + shape(all[r], o) + " on rank " + r;
        }
        throw new IllegalArgumentException("module: " + problem + " (every rank must wrap the same architecture)");
      }
    }
  }

  private static long[][] gather(Communicator comm, long[] mine) {
    Tensor in = Tensor.ofLongs(comm.device(), mine, mine.length);
    Tensor out = Tensor.empty(comm.device(), DType.I64, Shape.of(comm.size(), mine.length));
    try (in; out) {
      comm.allGather(in, out).await();
      long[] flat = out.toLongArray();
      long[][] rows = new long[comm.size()][];
      for (int r = 0; r < rows.length; r++) rows[r] = Arrays.copyOfRange(flat, r * mine.length, (r + 1) * mine.length);
      return rows;
    }
  }

  private static long hash(String s) {
    long h = 1125899906842597L; // a 64-bit string hash: String.hashCode's 32 bits collide too easily
    for (int i = 0; i < s.length(); i++) h = 31 * h + s.charAt(i);
    return h;
  }

  private static String dtype(long code) { return DType.values()[(int) (code % 16)].toString(); }

  private static Shape shape(long[] sig, int o) {
    int[] dims = new int[(int) sig[o + 2]];
    for (int d = 0; d < dims.length; d++) dims[d] = (int) sig[o + 3 + d];
    return Shape.of(dims);
  }
}
