package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The row-major to column-major mapping, checked by running a naive column-major GEMM (what
 * cuBLAS computes) on the mapped arguments and a naive row-major GEMM on the originals, over one
 * float array that stands for device memory (addresses are element indices into it).
 */
class GemmMappingTest {
  private static final int A = 0;
  private static final int B = 1000;
  private static final int C = 2000;

  @Test void swapsOperandsAndDimensionsKeepingEachTransposeWithItsMatrix() {
    var g = GemmMapping.fromRowMajor(true, false, 2, 3, 4, 1.5f, 10, 5, 100, 20, 6, 200, 0.5f, 30, 7, 300, 9);
    assertEquals(new GemmMapping.ColumnMajor(false, true, 3, 2, 4, 1.5f, 20, 6, 200, 10, 5, 100, 0.5f, 30, 7, 300, 9), g);
  }

  @Test void columnMajorCallOnMappedArgumentsEqualsRowMajorGemm() {
    Random r = new Random(7);
    int m = 3;
    int n = 5;
    int k = 4;
    int batch = 2;
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        // Leading dimensions larger than needed, so a swapped ld would read the wrong elements.
        int lda = (ta ? m : k) + 1;
        int ldb = (tb ? k : n) + 2;
        int ldc = n + 3;
        long strideA = (long) (ta ? k : m) * lda;
        long strideB = (long) (tb ? n : k) * ldb;
        long strideC = (long) m * ldc;
        float[] memory = new float[3000];
        for (int i = 0; i < memory.length; i++) memory[i] = r.nextFloat() - 0.5f;
        float[] expected = memory.clone();
        rowMajor(expected, ta, tb, m, n, k, 0.75f, A, lda, strideA, B, ldb, strideB, 0.25f, C, ldc, strideC, batch);

        var g = GemmMapping.fromRowMajor(ta, tb, m, n, k, 0.75f, A, lda, strideA, B, ldb, strideB, 0.25f, C, ldc, strideC,
            batch);
        columnMajor(memory, g);

        assertArrayEquals(expected, memory, 1e-5f, "transA=" + ta + " transB=" + tb);
      }
    }
  }

  private static void rowMajor(float[] mem, boolean ta, boolean tb, int m, int n, int k, float alpha, long a, int lda,
      long sa, long b, int ldb, long sb, float beta, long c, int ldc, long sc, int batch) {
    for (int t = 0; t < batch; t++) {
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double sum = 0;
          for (int p = 0; p < k; p++) {
            float av = mem[(int) (a + t * sa + (ta ? (long) p * lda + i : (long) i * lda + p))];
            float bv = mem[(int) (b + t * sb + (tb ? (long) j * ldb + p : (long) p * ldb + j))];
            sum += (double) av * bv;
          }
          int ci = (int) (c + t * sc + (long) i * ldc + j);
          mem[ci] = (float) (alpha * sum + beta * mem[ci]);
        }
      }
    }
  }

  /** What cublasSgemmStridedBatched computes: column-major, element (i, j) of X at X[i + j*ldx]. */
  private static void columnMajor(float[] mem, GemmMapping.ColumnMajor g) {
    for (int t = 0; t < g.batch(); t++) {
      for (int i = 0; i < g.m(); i++) {
        for (int j = 0; j < g.n(); j++) {
          double sum = 0;
          for (int p = 0; p < g.k(); p++) {
            float av = mem[(int) (g.a() + t * g.strideA() + (g.transA() ? p + (long) i * g.lda() : i + (long) p * g.lda()))];
            float bv = mem[(int) (g.b() + t * g.strideB() + (g.transB() ? j + (long) p * g.ldb() : p + (long) j * g.ldb()))];
            sum += (double) av * bv;
          }
          int ci = (int) (g.c() + t * g.strideC() + i + (long) j * g.ldc());
          mem[ci] = (float) (g.alpha() * sum + g.beta() * mem[ci]);
        }
      }
    }
  }
}
