// Host runtime of the CPU target: thread count control and GEMM on the one thread pool (memory:
// pk_host_memory.cpp). Nothing GPU-specific.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
__attribute__((visibility("default"))) void pk_set_num_threads(int n) { omp_set_num_threads(n); }
__attribute__((visibility("default"))) int pk_get_num_threads(void) { return omp_get_max_threads(); }
}

// GEMM on the CPU target's one thread pool. OpenBLAS keeps its own pthreads pool, and two pools
// that each spin after their work steal the cores from each other; so OpenBLAS runs with one
// thread and this function splits C into column (or row) blocks across the OpenMP team, one
// single-threaded cblas_sgemm per block. `sgemm` is OpenBLAS's cblas_sgemm, passed from Java.
// Row-major, as cblas with CblasRowMajor: C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C.
typedef void (*pk_cblas_sgemm_t)(int order, int transA, int transB, int m, int n, int k, float alpha,
                                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

extern "C" __attribute__((visibility("default"))) void pk_sgemm(void* sgemm, int transA, int transB, int m, int n,
                                                                int k, float alpha, const float* a, int lda,
                                                                const float* b, int ldb, float beta, float* c,
                                                                int ldc) {
  const int rowMajor = 101, noTrans = 111, trans = 112;
  const int ta = transA ? trans : noTrans, tb = transB ? trans : noTrans;
  pk_cblas_sgemm_t f = (pk_cblas_sgemm_t)sgemm;
  // Below ~4 MFLOP a split costs more than it saves.
  if (omp_get_max_threads() == 1 || 2.0 * m * n * k < 4e6) {
    f(rowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const bool splitColumns = n >= m;
  #pragma omp parallel
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const int size = splitColumns ? n : m;
    // Blocks of whole 16-wide panels, so every thread's GEMM keeps full vector kernels.
    const int per = ((size + team - 1) / team + 15) / 16 * 16;
    const int first = t * per;
    const int count = first >= size ? 0 : (size - first < per ? size - first : per);
    if (count > 0 && splitColumns) {
      f(rowMajor, ta, tb, m, count, k, alpha, a, lda, transB ? b + (long)first * ldb : b + first, ldb, beta,
        c + first, ldc);
    } else if (count > 0) {
      f(rowMajor, ta, tb, count, n, k, alpha, transA ? a + first : a + (long)first * lda, lda, b, ldb, beta,
        c + (long)first * ldc, ldc);
    }
  }
}
