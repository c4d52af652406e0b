package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sum and mean over any set of dims (cuda-kernels/reduce.cu), with PyTorch's rules: negative dims
 * count from the end, {@code keepDim} keeps reduced dims as size 1, reducing every dim gives a
 * rank-0 tensor (shape []), an empty sum is 0 and an empty mean NaN. The backward broadcasts the
 * gradient back over the reduced dims (divided by the count for mean).
 */
public final class Reductions {
  /** Threads per row of reduce_sum_rows; rows shorter than this go to the one-thread-per-row kernel. */
  private static final int REDUCE_BLOCK = 256;

  static final Kernel SUM = Kernel.of("reduce_sum", PTR, PTR, I64, I64, F32);
  static final Kernel SUM_ROWS = Kernel.withBlock("reduce_sum_rows", REDUCE_BLOCK, PTR, PTR, I64, F32);

  private Reductions() {}

  /** Sum of all elements. Output shape: []. */
  public static Tensor sum(Tensor x) { return reduce("sum", x, new int[0], false, false); }

  /**
   * Sum over {@code dims} (distinct, each in [-rank, rank); an empty array means every dim, as in
   * PyTorch). Output shape: x's shape without the reduced dims, or with them as 1 when
   * {@code keepDim}.
   */
  public static Tensor sum(Tensor x, int[] dims, boolean keepDim) { return reduce("sum", x, dims, keepDim, false); }

  /** Mean of all elements (NaN when x is empty). Output shape: []. */
  public static Tensor mean(Tensor x) { return reduce("mean", x, new int[0], false, true); }

  /** Mean over {@code dims}; dims and output shape as for {@link #sum(Tensor, int[], boolean)}. */
  public static Tensor mean(Tensor x, int[] dims, boolean keepDim) { return reduce("mean", x, dims, keepDim, true); }

  private static Tensor reduce(String op, Tensor x, int[] dims, boolean keepDim, boolean mean) {
    Checks.tensor(x, "x");
    boolean[] reduced = reducedDims(x.shape(), dims);
    int[] in = x.dims();
    List<Integer> out = new ArrayList<>();
    long count = 1;
    for (int d = 0; d < in.length; d++) {
      if (reduced[d]) count *= in[d];
      if (!reduced[d]) out.add(in[d]);
      else if (keepDim) out.add(1);
    }
    float divisor = mean ? count : 1f;
    Tensor y = Tensor.emptyLike(x, Shape.of(out.stream().mapToInt(Integer::intValue).toArray()));
    sumInto(x, reduced, y, divisor);
    return Autograd.record(op, y, g -> new Tensor[] {broadcastBack(g, x.shape(), reduced, divisor)}, x);
  }

  /** Flags the dims to reduce; for rank 0, PyTorch accepts dim 0 or -1 and reduces nothing. */
  private static boolean[] reducedDims(Shape shape, int[] dims) {
    if (dims == null) throw new IllegalArgumentException("dims: expected an array of dims but got null");
    int rank = shape.rank();
    boolean[] reduced = new boolean[rank];
    boolean[] seen = new boolean[Math.max(rank, 1)];
    for (int d : dims) {
      int a = Shape.normalizeAxis(d, Math.max(rank, 1), "dims");
      if (seen[a]) throw new IllegalArgumentException("dims: expected distinct dims but got " + Arrays.toString(dims));
      seen[a] = true;
      if (rank > 0) reduced[a] = true;
    }
    if (dims.length == 0) Arrays.fill(reduced, true);
    return reduced;
  }

  /** dx = g broadcast back over the reduced dims, divided by {@code divisor} (the count for mean). */
  private static Tensor broadcastBack(Tensor g, Shape inShape, boolean[] reduced, float divisor) {
    int[] in = inShape.dims();
    int[] kept = in.clone();
    for (int d = 0; d < kept.length; d++) if (reduced[d]) kept[d] = 1;
    // Dividing the small gradient before expanding gives each element exactly PyTorch's g / count.
    Tensor scaled = divisor == 1f ? g : Elementwise.divScalar(g, divisor);
    Tensor dx = Tensor.emptyLike(g, inShape);
    Layout.stridedCopy(scaled, 0, Broadcasting.strides(Shape.of(kept), in), dx, 0, inShape.strides(), in);
    if (scaled != g) scaled.close();
    return dx;
  }

  /**
   * Sums {@code t} down to {@code target}, a shape that broadcasts to {@code t}'s: over t's extra
   * leading dims and wherever target has a 1. The backward of every broadcasting op. Returns
   * {@code t} itself when the shapes are equal.
   */
  static Tensor sumTo(Tensor t, Shape target) {
    if (t.shape().equals(target)) return t;
    int lead = t.rank() - target.rank();
    boolean[] reduced = new boolean[t.rank()];
    boolean any = false;
    for (int d = 0; d < reduced.length; d++) {
      reduced[d] = t.dim(d) != 1 && (d < lead || target.dim(d - lead) == 1);
      any |= reduced[d];
    }
    if (!any) return t.reshape(target.dims());
    Tensor y = Tensor.emptyLike(t, target);
    sumInto(t, reduced, y, 1f);
    return y;
  }

  /**
   * y = sum of x over the flagged dims / divisor, y laid out as x's kept dims in order. Size-1
   * dims are ignored and neighbouring dims of one kind merged; a single reduced block runs in
   * place as [outer, reduce, inner]; several are reduced one block at a time, innermost first.
   */
  private static void sumInto(Tensor x, boolean[] reduced, Tensor y, float divisor) {
    if (y.numel() == 0) return;
    List<long[]> groups = new ArrayList<>(); // {size, 1 if reduced}
    int[] dims = x.dims();
    for (int d = 0; d < dims.length; d++) {
      if (dims[d] == 1) continue;
      long kind = reduced[d] ? 1 : 0;
      if (!groups.isEmpty() && groups.getLast()[1] == kind) groups.getLast()[0] *= dims[d];
      else groups.add(new long[] {dims[d], kind});
    }
    int reducedGroups = 0;
    for (long[] g : groups) reducedGroups += (int) g[1];
    if (reducedGroups == 0) {
      // Only size-1 dims are reduced, so the count is 1 and y is a copy of x.
      x.driver().copy(x.address(), y.address(), x.byteSize());
    } else if (reducedGroups == 1) {
      long outer = 1, size = 1, inner = 1;
      boolean after = false;
      for (long[] g : groups) {
        if (g[1] == 1) {
          size = g[0];
          after = true;
        } else if (after) {
          inner *= g[0];
        } else {
          outer *= g[0];
        }
      }
      launch(x, y, outer, size, inner, divisor);
    } else {
      // Several reduced blocks: sum the innermost one away in place, then reduce what is left.
      // Every stage is an [outer, reduce, inner] pass, so nothing is gathered or copied.
      int last = groups.size() - 1;
      while (groups.get(last)[1] == 0) last--;
      long outer = 1, inner = 1;
      int[] partialDims = new int[groups.size() - 1];
      boolean[] partialReduced = new boolean[partialDims.length];
      for (int i = 0, j = 0; i < groups.size(); i++) {
        if (i == last) continue;
        if (i < last) outer *= groups.get(i)[0];
        else inner *= groups.get(i)[0];
        partialDims[j] = Math.toIntExact(groups.get(i)[0]);
        partialReduced[j++] = groups.get(i)[1] == 1;
      }
      Tensor partial = Tensor.emptyLike(x, Shape.of(partialDims));
      launch(x, partial, outer, groups.get(last)[0], inner, 1f);
      sumInto(partial, partialReduced, y, divisor);
      partial.close();
    }
  }

  private static void launch(Tensor x, Tensor y, long outer, long size, long inner, float divisor) {
    if (inner == 1 && size >= REDUCE_BLOCK) {
      // Long contiguous rows: a block per row streams them with coalesced loads.
      y.driver().launch(SUM_ROWS, outer, x.address(), y.address(), size, divisor);
    } else {
      y.driver().launch(SUM, outer * inner, x.address(), y.address(), size, inner, divisor);
    }
  }
}
