package io.plugkit.ops;

import io.plugkit.Pins;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Driver;
import java.util.Arrays;

/**
 * Fully connected layers and matrix products on the driver's GEMM (OpenBLAS / cuBLAS, row-major,
 * strided batched). Bias kernels are shared with {@link Conv} (a linear output is a conv output
 * with spatial size 1).
 */
public final class Linear {
  private Linear() {}

  /**
   * {@code y = x W^T + b}. x {@code [*, in]} (any leading dims, at least rank 1), weight
   * {@code [out, in]}, bias {@code [out]} or null; returns {@code [*, out]}. Records the backward of
   * x, weight and bias.
   */
  public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
    Checks.tensor(x, "x");
    Checks.rank(weight, "weight", 2);
    Checks.sameDevice(x, "x", weight, "weight");
    if (x.rank() < 1) throw new IllegalArgumentException("x: expected rank >= 1 but got a scalar (shape " + x.shape() + ")");
    int in = weight.dim(1);
    int out = weight.dim(0);
    Checks.dim(x, "x", x.rank() - 1, in);
    if (bias != null) {
      Checks.rank(bias, "bias", 1);
      Checks.sameDevice(x, "x", bias, "bias");
      Checks.dim(bias, "bias", 0, out);
    }
    int rows = leadingRows(x);
    int[] yDims = x.dims();
    yDims[yDims.length - 1] = out;
    Tensor y = Tensor.empty(x.device(), yDims);
    Driver d = x.driver();
    gemm(d, false, true, rows, out, in, x.address(), 0, weight.address(), 0, 0f, y.address(), 0);
    if (bias != null) Conv.addBias(y, bias, out, 1);
    return Autograd.record("linear", y, g -> {
      Tensor dx = null;
      Tensor dw = null;
      Tensor db = null;
      if (x.requiresGrad()) { // dx [rows, in] = dy [rows, out] x W [out, in]
        dx = Tensor.emptyLike(x);
        gemm(d, false, false, rows, in, out, g.address(), 0, weight.address(), 0, 0f, dx.address(), 0);
      }
      if (weight.requiresGrad()) { // dW [out, in] = dy^T [out, rows] x x [rows, in]
        dw = Tensor.emptyLike(weight);
        gemm(d, true, false, out, in, rows, g.address(), 0, x.address(), 0, 0f, dw.address(), 0);
      }
      if (bias != null && bias.requiresGrad()) { // db [1, out] = ones [1, rows] x dy [rows, out]: column sums
        db = Tensor.emptyLike(bias);
        try (Tensor ones = Tensor.ones(x.device(), rows)) {
          gemm(d, false, false, 1, out, rows, ones.address(), 0, g.address(), 0, 0f, db.address(), 0);
        }
      }
      return new Tensor[] {dx, dw, db};
    }, x, weight, bias);
  }

  /**
   * Matrix product with PyTorch's {@code matmul} semantics: {@code [..., m, k] x [..., k, n] ->
   * [..., m, n]}, the batch dims (all but the last two) broadcast against each other, e.g.
   * {@code [B, m, k] x [k, n]}, {@code [m, k] x [B, k, n]}, {@code [2, 1, m, k] x [3, k, n] -> [2, 3, m, n]}.
   * A 1-D {@code a} is a row {@code [1, k]} and a 1-D {@code b} a column {@code [k, 1]}; that
   * dimension is dropped from the result (two 1-D operands give a scalar). Records the backward of
   * both operands (summed over the dims they were broadcast along).
   */
  public static Tensor matmul(Tensor a, Tensor b) {
    Checks.tensor(a, "a");
    Checks.tensor(b, "b");
    Checks.sameDevice(a, "a", b, "b");
    if (a.rank() == 0) throw new IllegalArgumentException("a: expected rank >= 1 but got a scalar");
    if (b.rank() == 0) throw new IllegalArgumentException("b: expected rank >= 1 but got a scalar");
    if (b.dim(b.rank() == 1 ? 0 : -2) != a.dim(-1)) {
      throw new IllegalArgumentException("b: expected size " + a.dim(-1) + " (a's last dim) at dim "
          + (b.rank() == 1 ? 0 : -2) + " but got shape " + b.shape() + " (a is " + a.shape() + ")");
    }
    if (a.rank() >= 2 && b.rank() >= 2) return batchedMatmul(a, b);
    Tensor c = batchedMatmul(a.rank() == 1 ? a.reshape(1, a.dim(0)) : a, b.rank() == 1 ? b.reshape(b.dim(0), 1) : b);
    int[] cDims = c.dims();
    int r = cDims.length;
    int[] dims = Arrays.copyOf(cDims, r - 2 + (a.rank() == 1 ? 0 : 1) + (b.rank() == 1 ? 0 : 1));
    int j = r - 2;
    if (a.rank() != 1) dims[j++] = cDims[r - 2];
    if (b.rank() != 1) dims[j] = cDims[r - 1];
    return c.reshape(dims);
  }

  private static Tensor batchedMatmul(Tensor a, Tensor b) {
    int m = a.dim(-2);
    int k = a.dim(-1);
    int n = b.dim(-1);
    int[] outBatch = BatchPlan.broadcast(a, b);
    if (m == 0 || n == 0 || k == 0 || Shape.of(outBatch).numel() == 0) return zeroWorkMatmul(a, b, outBatch, m, n);
    BatchPlan plan = BatchPlan.of(a, b);
    int[] cDims = Arrays.copyOf(plan.outBatch, plan.outBatch.length + 2);
    cDims[cDims.length - 2] = m;
    cDims[cDims.length - 1] = n;
    Tensor c = Tensor.empty(a.device(), cDims);
    Driver d = a.driver();
    // [B, m, k] x [k, n] (b not batched) is one GEMM of B*m rows.
    BatchPlan p = plan.foldsIntoRows(m) ? BatchPlan.single() : plan;
    int rows = plan.foldsIntoRows(m) ? plan.count * m : m;
    products(d, false, false, rows, n, k, a.address(), p.aIndex, b.address(), p.bIndex, c, p.outIndex, true);
    return Autograd.record("matmul", c, g -> {
      Tensor da = null;
      Tensor db = null;
      if (a.requiresGrad()) { // dA_i += dC_i B_i^T
        da = Tensor.emptyLike(a);
        products(d, false, true, rows, k, n, g.address(), p.outIndex, b.address(), p.bIndex, da, p.aIndex, p.aInjective());
      }
      if (b.requiresGrad()) { // dB_i += A_i^T dC_i
        db = Tensor.emptyLike(b);
        products(d, true, false, k, n, rows, a.address(), p.aIndex, g.address(), p.outIndex, db, p.bIndex, p.bInjective());
      }
      return new Tensor[] {da, db};
    }, a, b);
  }

  /**
   * A product with nothing to multiply (an empty batch, m, n or k = 0): the output is empty or, for
   * k = 0, zeros, and both gradients are zeros. No per-batch index arrays, no GEMM: a batch of
   * 2^30 empty matrices costs nothing.
   */
  private static Tensor zeroWorkMatmul(Tensor a, Tensor b, int[] outBatch, int m, int n) {
    int[] cDims = Arrays.copyOf(outBatch, outBatch.length + 2);
    cDims[cDims.length - 2] = m;
    cDims[cDims.length - 1] = n;
    Tensor c = Tensor.zeros(a.device(), cDims);
    return Autograd.record("matmul", c, g -> new Tensor[] {
        a.requiresGrad() ? Tensor.zeros(a.device(), a.dims()) : null,
        b.requiresGrad() ? Tensor.zeros(b.device(), b.dims()) : null,
    }, a, b);
  }

  /**
   * For each batch entry i: {@code C[cIndex[i]] (+)= op(A[aIndex[i]]) op(B[bIndex[i]])}, matrices of
   * m x k, k x n and m x n stored contiguously. When every C matrix is written exactly once
   * ({@code cInjective}) each product overwrites; otherwise C is zeroed and the products
   * accumulate one after another (so broadcast operands get their gradients summed, race-free).
   */
  private static void products(Driver d, boolean transA, boolean transB, int m, int n, int k, long a, long[] aIndex,
      long b, long[] bIndex, Tensor c, long[] cIndex, boolean cInjective) {
    // a and b were taken by the caller; the GEMMs below use them across several driver calls.
    try (Pins hold = Pins.hold()) {
      long aSize = (long) m * k;
      long bSize = (long) k * n;
      long cSize = (long) m * n;
      int count = aIndex.length;
      if (!cInjective) {
        c.fill(0f);
        for (int i = 0; i < count; i++) {
          gemm(d, transA, transB, m, n, k, a, aIndex[i] * aSize, b, bIndex[i] * bSize, 1f, c.address(), cIndex[i] * cSize);
        }
        return;
      }
      long sa = step(aIndex);
      long sb = step(bIndex);
      long sc = step(cIndex);
      if (sa >= 0 && sb >= 0 && sc >= 0) {
        if (count == 0) return;
        stridedGemm(d, transA, transB, m, n, k, a + 4L * aIndex[0] * aSize, sa * aSize, b + 4L * bIndex[0] * bSize,
            sb * bSize, 0f, c.address() + 4L * cIndex[0] * cSize, sc * cSize, count);
      } else {
        for (int i = 0; i < count; i++) {
          gemm(d, transA, transB, m, n, k, a, aIndex[i] * aSize, b, bIndex[i] * bSize, 0f, c.address(), cIndex[i] * cSize);
        }
      }
    }
  }

  /** The common difference of an arithmetic sequence (0 for fewer than two terms), or -1. */
  private static long step(long[] index) {
    if (index.length < 2) return 0;
    long s = index[1] - index[0];
    for (int i = 2; i < index.length; i++) if (index[i] - index[i - 1] != s) return -1;
    return s;
  }

  /** One GEMM of contiguous row-major matrices at element offsets from a, b and c. */
  private static void gemm(Driver d, boolean transA, boolean transB, int m, int n, int k, long a, long aOffset, long b,
      long bOffset, float beta, long c, long cOffset) {
    stridedGemm(d, transA, transB, m, n, k, a + 4L * aOffset, 0, b + 4L * bOffset, 0, beta, c + 4L * cOffset, 0, 1);
  }

  /** Leading dimensions are the stored row lengths, at least 1 as BLAS requires (k = 0 or n = 0 is legal). */
  private static void stridedGemm(Driver d, boolean transA, boolean transB, int m, int n, int k, long a, long strideA,
      long b, long strideB, float beta, long c, long strideC, int batch) {
    int lda = Math.max(1, transA ? m : k);
    int ldb = Math.max(1, transB ? k : n);
    int ldc = Math.max(1, n);
    d.gemm(transA, transB, m, n, k, 1f, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
  }

  /** Product of all dims but the last, as an int (GEMM's row count). */
  private static int leadingRows(Tensor x) {
    long rows = 1;
    for (int i = 0; i < x.rank() - 1; i++) rows *= x.dim(i);
    if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException("x: expected at most 2^31-1 rows but got shape " + x.shape());
    return (int) rows;
  }

  /**
   * How the batch dims of a and b broadcast: the output batch dims and, per output batch entry,
   * the index of the a, b and output matrix it uses.
   */
  private record BatchPlan(int[] outBatch, int count, long[] aIndex, long[] bIndex, long[] outIndex, long aCount,
      long bCount) {
    static BatchPlan single() {
      long[] zero = {0};
      return new BatchPlan(new int[0], 1, zero, zero, zero, 1, 1);
    }

    /** The broadcast batch dims of a and b (all but their last two dims). */
    static int[] broadcast(Tensor a, Tensor b) {
      int[] ad = Arrays.copyOf(a.dims(), a.rank() - 2);
      int[] bd = Arrays.copyOf(b.dims(), b.rank() - 2);
      int rank = Math.max(ad.length, bd.length);
      int[] out = new int[rank];
      for (int i = 0; i < rank; i++) {
        int x = sizeAt(ad, i, rank);
        int y = sizeAt(bd, i, rank);
        if (x != y && x != 1 && y != 1) {
          throw new IllegalArgumentException("b: batch dims " + Arrays.toString(bd) + " do not broadcast with a's "
              + Arrays.toString(ad) + " (a is " + a.shape() + ", b is " + b.shape() + ")");
        }
        out[i] = x == 1 ? y : x;
      }
      return out;
    }

    static BatchPlan of(Tensor a, Tensor b) {
      int[] ad = Arrays.copyOf(a.dims(), a.rank() - 2);
      int[] bd = Arrays.copyOf(b.dims(), b.rank() - 2);
      int[] out = broadcast(a, b);
      long total = Shape.of(out).numel();
      if (total > Integer.MAX_VALUE) throw new IllegalArgumentException("b: broadcast batch " + Arrays.toString(out) + " is too large");
      int count = (int) total;
      long[] aIndex = new long[count];
      long[] bIndex = new long[count];
      long[] outIndex = new long[count];
      for (int i = 0; i < count; i++) {
        outIndex[i] = i;
        aIndex[i] = sourceIndex(i, out, ad);
        bIndex[i] = sourceIndex(i, out, bd);
      }
      return new BatchPlan(out, count, aIndex, bIndex, outIndex, Shape.of(ad).numel(), Shape.of(bd).numel());
    }

    private static int sizeAt(int[] dims, int i, int rank) {
      int j = i - (rank - dims.length);
      return j < 0 ? 1 : dims[j];
    }

    /** The row-major index into {@code src} (right-aligned, size-1 dims broadcast) of output entry i. */
    private static long sourceIndex(long i, int[] out, int[] src) {
      long index = 0;
      long stride = 1;
      long rest = i;
      for (int o = out.length - 1, s = src.length - 1; o >= 0; o--, s--) {
        long coordinate = rest % out[o];
        rest /= out[o];
        if (s >= 0) {
          if (src[s] != 1) index += coordinate * stride;
          stride *= src[s];
        }
      }
      return index;
    }

    boolean aInjective() { return aCount == count; }

    boolean bInjective() { return bCount == count; }

    /** b is one matrix and a holds one per output entry: a's rows stack into one GEMM (if they fit an int). */
    boolean foldsIntoRows(int m) { return bCount == 1 && aCount == count && count > 1 && (long) count * m <= Integer.MAX_VALUE; }
  }
}
