package io.plugkit.cuda;

/**
 * A row-major GEMM as the column-major call cuBLAS makes. A row-major matrix read column-major
 * is its transpose, so {@code C = op(A) op(B)} (row-major, m x n) is computed as
 * {@code C^T = op(B)^T op(A)^T} (column-major, n x m): the operands swap, each keeps its own
 * transpose flag, m and n swap, and the leading dimensions and strides stay as given.
 */
final class GemmMapping {
  private GemmMapping() {}

  /** The arguments of a column-major {@code cublasSgemmStridedBatched}, in its order. */
  record ColumnMajor(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long strideA,
      long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch) {}

  static ColumnMajor fromRowMajor(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
      long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch) {
    return new ColumnMajor(transB, transA, n, m, k, alpha, b, ldb, strideB, a, lda, strideA, beta, c, ldc, strideC, batch);
  }
}
