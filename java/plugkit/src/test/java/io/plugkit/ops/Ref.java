package io.plugkit.ops;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import java.util.function.DoubleBinaryOperator;

/**
 * Pure-Java reference implementations (test scope) of the elementwise, reduction, softmax and
 * layout ops: naive loops over coordinates, double arithmetic and accumulation.
 */
final class Ref {
  private Ref() {}

  /** A row-major array of doubles with a shape. */
  record Arr(int[] shape, double[] v) {
    static Arr of(Tensor t) {
      float[] f = t.toArray();
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) d[i] = f[i];
      return new Arr(t.dims(), d);
    }

    static Arr zeros(int... shape) { return new Arr(shape, new double[Math.toIntExact(Shape.of(shape).numel())]); }

    double at(int[] coord) { return v[index(coord, shape)]; }
  }

  static int[] coords(long i, int[] shape) {
    int[] c = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      c[d] = (int) (i % shape[d]);
      i /= shape[d];
    }
    return c;
  }

  static int index(int[] coord, int[] shape) {
    int i = 0;
    for (int d = 0; d < shape.length; d++) i = i * shape[d] + coord[d];
    return i;
  }

  /** The coordinate in {@code shape} that {@code outCoord} of a broadcast result reads. */
  static int[] broadcastSource(int[] outCoord, int[] shape) {
    int lead = outCoord.length - shape.length;
    int[] c = new int[shape.length];
    for (int d = 0; d < shape.length; d++) c[d] = shape[d] == 1 ? 0 : outCoord[d + lead];
    return c;
  }

  static int[] broadcastShape(int[] a, int[] b) {
    int rank = Math.max(a.length, b.length);
    int[] out = new int[rank];
    for (int i = 0; i < rank; i++) {
      int da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)] : 1;
      int db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)] : 1;
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  static Arr binary(Arr a, Arr b, DoubleBinaryOperator f) {
    Arr y = Arr.zeros(broadcastShape(a.shape, b.shape));
    for (int i = 0; i < y.v.length; i++) {
      int[] c = coords(i, y.shape);
      y.v[i] = f.applyAsDouble(a.at(broadcastSource(c, a.shape)), b.at(broadcastSource(c, b.shape)));
    }
    return y;
  }

  /** Sums g (a broadcast result) back to {@code shape}. */
  static Arr sumTo(Arr g, int[] shape) {
    Arr out = Arr.zeros(shape);
    for (int i = 0; i < g.v.length; i++) out.v[index(broadcastSource(coords(i, g.shape), shape), shape)] += g.v[i];
    return out;
  }

  static Arr map(Arr x, java.util.function.DoubleUnaryOperator f) {
    Arr y = Arr.zeros(x.shape);
    for (int i = 0; i < y.v.length; i++) y.v[i] = f.applyAsDouble(x.v[i]);
    return y;
  }

  /** Sum or mean over the flagged dims, keeping them as size 1 (reshape for keepDim=false). */
  static Arr reduceKeep(Arr x, boolean[] reduced, boolean mean) {
    int[] kept = x.shape.clone();
    long count = 1;
    for (int d = 0; d < kept.length; d++) {
      if (reduced[d]) {
        count *= kept[d];
        kept[d] = 1;
      }
    }
    Arr y = sumTo(x, kept);
    if (mean) for (int i = 0; i < y.v.length; i++) y.v[i] /= count;
    return y;
  }

  static Arr softmax(Arr x, int dim, boolean log) {
    Arr y = Arr.zeros(x.shape);
    forEachRow(x.shape, dim, idx -> {
      double m = Double.NEGATIVE_INFINITY;
      for (int i : idx) m = Math.max(m, x.v[i]);
      double s = 0;
      for (int i : idx) s += Math.exp(x.v[i] - m);
      for (int i : idx) y.v[i] = log ? x.v[i] - m - Math.log(s) : Math.exp(x.v[i] - m) / s;
    });
    return y;
  }

  static Arr softmaxBackward(Arr y, Arr g, int dim, boolean log) {
    Arr dx = Arr.zeros(y.shape);
    forEachRow(y.shape, dim, idx -> {
      double s = 0;
      for (int i : idx) s += log ? g.v[i] : g.v[i] * y.v[i];
      for (int i : idx) dx.v[i] = log ? g.v[i] - Math.exp(y.v[i]) * s : y.v[i] * (g.v[i] - s);
    });
    return dx;
  }

  /** Calls {@code body} with the flat indices of every line along {@code dim}. */
  private static void forEachRow(int[] shape, int dim, java.util.function.Consumer<int[]> body) {
    for (int i = 0; i < Shape.of(shape).numel(); i++) {
      int[] c = coords(i, shape);
      if (c[dim] != 0) continue;
      int[] idx = new int[shape[dim]];
      for (int k = 0; k < idx.length; k++) {
        c[dim] = k;
        idx[k] = index(c, shape);
      }
      body.accept(idx);
    }
  }

  static Arr permute(Arr x, int[] perm) {
    int[] shape = new int[perm.length];
    for (int i = 0; i < perm.length; i++) shape[i] = x.shape[perm[i]];
    Arr y = Arr.zeros(shape);
    for (int i = 0; i < y.v.length; i++) {
      int[] c = coords(i, shape);
      int[] src = new int[perm.length];
      for (int d = 0; d < perm.length; d++) src[perm[d]] = c[d];
      y.v[i] = x.at(src);
    }
    return y;
  }

  /** Elements start, start + step, ... (count of them) along dim. */
  static Arr slice(Arr x, int dim, int start, int count, int step) {
    int[] shape = x.shape.clone();
    shape[dim] = count;
    Arr y = Arr.zeros(shape);
    for (int i = 0; i < y.v.length; i++) {
      int[] c = coords(i, shape);
      c[dim] = start + c[dim] * step;
      y.v[i] = x.at(c);
    }
    return y;
  }

  /** The adjoint of {@link #slice}: g scattered into zeros of {@code shape}. */
  static Arr unslice(Arr g, int[] shape, int dim, int start, int step) {
    Arr dx = Arr.zeros(shape);
    for (int i = 0; i < g.v.length; i++) {
      int[] c = coords(i, g.shape);
      c[dim] = start + c[dim] * step;
      dx.v[index(c, shape)] = g.v[i];
    }
    return dx;
  }

  static Arr concat(int dim, Arr... xs) {
    int[] shape = xs[0].shape.clone();
    shape[dim] = 0;
    for (Arr x : xs) shape[dim] += x.shape[dim];
    Arr y = Arr.zeros(shape);
    for (int i = 0; i < y.v.length; i++) {
      int[] c = coords(i, shape);
      int k = 0;
      while (c[dim] >= xs[k].shape[dim]) c[dim] -= xs[k++].shape[dim];
      y.v[i] = xs[k].at(c);
    }
    return y;
  }

  static Arr expand(Arr x, int[] shape) {
    Arr y = Arr.zeros(shape);
    for (int i = 0; i < y.v.length; i++) y.v[i] = x.at(broadcastSource(coords(i, shape), x.shape));
    return y;
  }
}
