package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Pins;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.Arrays;

/**
 * Layout ops (cuda-kernels/layout.cu): permute, transpose, concat, slice, chunk, split, expand.
 * Tensors are always contiguous, so each op materialises its result with one strided copy, and
 * each backward is the adjoint copy (or, for expand, a sum). Dims may be negative (counted from
 * the end), as in PyTorch.
 */
public final class Layout {
  static final Kernel STRIDED_COPY = Kernel.of("layout_strided_copy", StridedLoop.params(2, PTR, PTR));

  private Layout() {}

  /**
   * Reorders dims: output dim i is x's dim {@code dims[i]}. Shapes: x [d_0, ..., d_{r-1}] ->
   * [d_dims[0], ..., d_dims[r-1]]; {@code dims} is a permutation of 0..r-1 (negatives allowed).
   */
  public static Tensor permute(Tensor x, int... dims) {
    Checks.tensor(x, "x");
    int[] perm = permutation(dims, x.rank());
    int[] in = x.dims();
    long[] inStrides = x.shape().strides();
    int[] out = new int[perm.length];
    long[] srcStrides = new long[perm.length];
    int[] inverse = new int[perm.length];
    for (int i = 0; i < perm.length; i++) {
      out[i] = in[perm[i]];
      srcStrides[i] = inStrides[perm[i]];
      inverse[perm[i]] = i;
    }
    Tensor y = Tensor.emptyLike(x, Shape.of(out));
    stridedCopy(x, 0, srcStrides, y, 0, y.shape().strides(), out);
    return Autograd.record("permute", y, g -> new Tensor[] {permute(g, inverse)}, x);
  }

  /** Swaps dims a and b. Shapes: x's shape with sizes a and b exchanged. */
  public static Tensor transpose(Tensor x, int a, int b) {
    Checks.tensor(x, "x");
    int rank = x.rank();
    int na = Shape.normalizeAxis(a, Math.max(rank, 1), "a");
    int nb = Shape.normalizeAxis(b, Math.max(rank, 1), "b");
    int[] perm = new int[rank];
    for (int i = 0; i < rank; i++) perm[i] = i == na ? nb : i == nb ? na : i;
    return permute(x, perm);
  }

  /**
   * Joins tensors along {@code dim}. Shapes: every tensor has the same rank (>= 1) and the same
   * sizes except at {@code dim}; the output's size there is the sum of theirs.
   */
  public static Tensor concat(int dim, Tensor... tensors) {
    if (tensors == null || tensors.length == 0) {
      throw new IllegalArgumentException("tensors: expected at least one tensor but got none");
    }
    Tensor first = Checks.tensor(tensors[0], "tensors[0]");
    if (first.rank() == 0) throw new IllegalArgumentException("tensors[0]: expected rank >= 1 but got a rank-0 tensor");
    int d = Shape.normalizeAxis(dim, first.rank(), "dim");
    int total = 0;
    for (int k = 0; k < tensors.length; k++) {
      String name = "tensors[" + k + "]";
      Tensor t = Checks.tensor(tensors[k], name);
      Checks.sameDevice(first, "tensors[0]", t, name);
      if (t.rank() != first.rank()) {
        throw new IllegalArgumentException(name + ": expected rank " + first.rank() + " (that of tensors[0]) but got shape " + t.shape());
      }
      for (int i = 0; i < t.rank(); i++) {
        if (i != d && t.dim(i) != first.dim(i)) {
          throw new IllegalArgumentException(name + ": expected the shape of tensors[0] " + first.shape()
              + " except at dim " + d + " but got " + t.shape());
        }
      }
      total = Math.addExact(total, t.dim(d));
    }
    int[] out = first.dims();
    out[d] = total;
    Tensor y = Tensor.emptyLike(first, Shape.of(out));
    long[] outStrides = y.shape().strides();
    Tensor[] inputs = tensors.clone();
    long offset = 0;
    for (Tensor t : inputs) {
      stridedCopy(t, 0, t.shape().strides(), y, offset * outStrides[d], outStrides, t.dims());
      offset += t.dim(d);
    }
    return Autograd.record("concat", y, g -> {
      Tensor[] grads = new Tensor[inputs.length];
      long at = 0;
      for (int k = 0; k < inputs.length; k++) {
        Tensor t = inputs[k];
        if (t.requiresGrad()) {
          grads[k] = Tensor.emptyLike(t);
          stridedCopy(g, at * outStrides[d], outStrides, grads[k], 0, t.shape().strides(), t.dims());
        }
        at += t.dim(d);
      }
      return grads;
    }, inputs);
  }

  /** {@code slice(x, dim, start, end, 1)}. */
  public static Tensor slice(Tensor x, int dim, int start, int end) { return slice(x, dim, start, end, 1); }

  /**
   * Python's {@code x[..., start:end:step, ...]} along {@code dim}: negative bounds count from
   * the end, bounds are clamped to [0, size], and end <= start gives an empty result. Shapes: x's
   * shape with size {@code max(0, ceil((end - start) / step))} (clamped bounds) at {@code dim};
   * {@code step >= 1}.
   */
  public static Tensor slice(Tensor x, int dim, int start, int end, int step) {
    Checks.tensor(x, "x");
    if (x.rank() == 0) throw new IllegalArgumentException("x: expected rank >= 1 but got a rank-0 tensor");
    int d = Shape.normalizeAxis(dim, x.rank(), "dim");
    Checks.positive(step, "step");
    long size = x.dim(d);
    long from = clamp(start < 0 ? (long) start + size : start, size);
    long to = Math.max(from, clamp(end < 0 ? (long) end + size : end, size));
    int[] out = x.dims();
    out[d] = (int) ((to - from + step - 1) / step);
    long[] inStrides = x.shape().strides();
    long[] stepped = inStrides.clone();
    stepped[d] *= step;
    long offset = from * inStrides[d];
    Tensor y = Tensor.emptyLike(x, Shape.of(out));
    stridedCopy(x, offset, stepped, y, 0, y.shape().strides(), out);
    return Autograd.record("slice", y, g -> {
      Tensor dx = Tensor.zerosLike(x);
      stridedCopy(g, 0, g.shape().strides(), dx, offset, stepped, out);
      return new Tensor[] {dx};
    }, x);
  }

  /**
   * Splits x along {@code dim} into {@code chunks} pieces as torch.chunk does: each of size
   * {@code ceil(size / chunks)}, the last one smaller, so there may be fewer than {@code chunks}
   * pieces (a dim of size 0 gives {@code chunks} empty pieces). Each piece is a {@link #slice}.
   */
  public static Tensor[] chunk(Tensor x, int chunks, int dim) {
    Checks.tensor(x, "x");
    Checks.positive(chunks, "chunks");
    if (x.rank() == 0) throw new IllegalArgumentException("x: expected rank >= 1 but got a rank-0 tensor");
    int size = x.dim(Shape.normalizeAxis(dim, x.rank(), "dim"));
    int piece = (int) ((size + (long) chunks - 1) / chunks);
    int count = piece == 0 ? chunks : (size + piece - 1) / piece;
    int[] sizes = new int[count];
    for (int k = 0; k < count; k++) sizes[k] = Math.min(piece, size - k * piece);
    return split(x, sizes, dim);
  }

  /**
   * Splits x along {@code dim} into pieces of the given sizes (torch.split with a list), each a
   * {@link #slice}. Shapes: the sizes are >= 0 and sum to x's size at {@code dim}.
   */
  public static Tensor[] split(Tensor x, int[] sizes, int dim) {
    Checks.tensor(x, "x");
    if (x.rank() == 0) throw new IllegalArgumentException("x: expected rank >= 1 but got a rank-0 tensor");
    int d = Shape.normalizeAxis(dim, x.rank(), "dim");
    if (sizes == null) throw new IllegalArgumentException("sizes: expected an array of sizes but got null");
    long sum = 0;
    for (int s : sizes) sum += Checks.nonNegative(s, "sizes");
    if (sum != x.dim(d)) {
      throw new IllegalArgumentException("sizes: expected sizes summing to " + x.dim(d) + " (x's size at dim " + d
          + ") but got " + Arrays.toString(sizes));
    }
    Tensor[] pieces = new Tensor[sizes.length];
    int at = 0;
    for (int k = 0; k < sizes.length; k++) {
      pieces[k] = slice(x, d, at, at + sizes[k], 1);
      at += sizes[k];
    }
    return pieces;
  }

  /**
   * torch.expand: broadcasts x to {@code dims}. Shapes: x [s_0..s_{r-1}] -> dims (length >= r,
   * aligned at the last dim); where x has size 1 any size >= 0 is allowed, elsewhere the size
   * must match or be -1 (keep); new leading dims may not be -1. The result is a materialised
   * copy (tensors are contiguous); the backward sums over the expanded dims.
   */
  public static Tensor expand(Tensor x, int... dims) {
    Checks.tensor(x, "x");
    if (dims == null || dims.length < x.rank()) {
      throw new IllegalArgumentException("dims: expected at least " + x.rank() + " sizes (the rank of x " + x.shape()
          + ") but got " + Arrays.toString(dims));
    }
    int lead = dims.length - x.rank();
    int[] out = new int[dims.length];
    for (int i = 0; i < dims.length; i++) {
      int have = i < lead ? 1 : x.dim(i - lead);
      int want = dims[i] == -1 && i >= lead ? have : dims[i];
      if (want < 0 || (have != 1 && have != want)) {
        throw new IllegalArgumentException("dims: expected " + (have == 1 ? "a size >= 0" : "size " + have + " or -1")
            + " at dim " + i + " to expand x " + x.shape() + " but got " + Arrays.toString(dims));
      }
      out[i] = want;
    }
    Tensor y = Tensor.emptyLike(x, Shape.of(out));
    stridedCopy(x, 0, Broadcasting.strides(x.shape(), out), y, 0, y.shape().strides(), out);
    return Autograd.record("expand", y, g -> new Tensor[] {Reductions.sumTo(g, x.shape())}, x);
  }

  /**
   * dst[dstOffset + sum c_d * dstStrides[d]] = src[srcOffset + sum c_d * srcStrides[d]] for every
   * coordinate c of the box {@code sizes} (offsets and strides in elements).
   */
  static void stridedCopy(Tensor src, long srcOffset, long[] srcStrides, Tensor dst, long dstOffset, long[] dstStrides,
      int[] sizes) {
    try (Pins hold = Pins.hold()) { // the two addresses serve every launch of the loop
      long srcBase = src.address() + 4 * srcOffset;
      long dstBase = dst.address() + 4 * dstOffset;
      StridedLoop.of(sizes, srcStrides, dstStrides).forEachLaunch((n, off, sz, st) -> dst.driver().launch(STRIDED_COPY,
          n, StridedLoop.args(sz, st, srcBase + 4 * off[0], dstBase + 4 * off[1])));
    }
  }

  private static int[] permutation(int[] dims, int rank) {
    if (dims == null || dims.length != rank) {
      throw new IllegalArgumentException("dims: expected a permutation of " + rank + " dims but got " + Arrays.toString(dims));
    }
    int[] perm = new int[rank];
    boolean[] seen = new boolean[rank];
    for (int i = 0; i < rank; i++) {
      perm[i] = Shape.normalizeAxis(dims[i], rank, "dims");
      if (seen[perm[i]]) {
        throw new IllegalArgumentException("dims: expected a permutation of " + rank + " dims but got " + Arrays.toString(dims));
      }
      seen[perm[i]] = true;
    }
    return perm;
  }

  private static long clamp(long v, long size) { return Math.max(0, Math.min(v, size)); }
}
