// Host runtime of the CPU target: thread count control and GEMM on the one thread pool (memory:
// pk_host_memory.cpp). Nothing GPU-specific.
#include <omp.h>
#include <math.h>

// OpenMP's thread count is a per-OS-thread setting (an ICV), and a Java virtual thread may run on
// a different carrier OS thread at each call; so Java decides the team size of every kernel call
// (process-wide setting, lowered by a per-Java-thread limit) and sets it on the calling OS thread
// right before the call. Every parallel region of a kernel, macro or raw pragma, reads it.
extern "C" __attribute__((visibility("default"))) void pk_use_threads(int n) { omp_set_num_threads(n); }

// GEMM on the CPU target's one thread pool. OpenBLAS keeps its own pthreads pool, and two pools
// that each spin after their work steal the cores from each other; so OpenBLAS runs with one
// thread and this function cuts C into blocks, one single-threaded cblas_sgemm per block, run
// across an OpenMP team of `threads`. `sgemm` is OpenBLAS's cblas_sgemm, passed from Java.
// Row-major, as cblas with CblasRowMajor: C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C.
typedef void (*pk_cblas_sgemm_t)(int order, int transA, int transB, int m, int n, int k, float alpha,
                                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

// The blocks depend on m, n and k only, never on the thread count: each element of C comes from
// the same call shape (and K is never split), so results are the same bits at any thread count.
// C is cut along its longer side (columns when n >= m) into blocks of about PK_GEMM_BLOCK_FLOP,
// no narrower than PK_GEMM_MIN_WIDTH: each block re-packs the operand they share, and narrower
// blocks measured 10-20% slower (64 wide, 4 MFLOP) on a 64x3136x288 conv and a 256x512x512
// linear. An even count of equal blocks of whole 16-wide panels (full vector kernels) keeps two
// or four threads balanced. Few blocks cap the threads a mid-size GEMM uses on a many-core CPU.
#define PK_GEMM_BLOCK_FLOP 32e6
#define PK_GEMM_MIN_WIDTH 256

extern "C" __attribute__((visibility("default"))) void pk_sgemm(void* sgemm, int threads, int transA, int transB,
                                                                int m, int n, int k, float alpha, const float* a,
                                                                int lda, const float* b, int ldb, float beta,
                                                                float* c, int ldc) {
  const int rowMajor = 101, noTrans = 111, trans = 112;
  const int ta = transA ? trans : noTrans, tb = transB ? trans : noTrans;
  pk_cblas_sgemm_t f = (pk_cblas_sgemm_t)sgemm;
  const bool splitColumns = n >= m;
  const int size = splitColumns ? n : m;
  const double unitFlop = 2.0 * k * (splitColumns ? m : n);  // one column (row) of C
  double want = unitFlop > 0 ? PK_GEMM_BLOCK_FLOP / unitFlop : size;
  if (want < PK_GEMM_MIN_WIDTH) want = PK_GEMM_MIN_WIDTH;
  if (want >= size) {
    f(rowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  int blocks = (int)ceil(size / want);
  blocks += blocks & 1;
  const int width = ((size + blocks - 1) / blocks + 15) / 16 * 16;
  blocks = (size + width - 1) / width;
  // Dynamic: a core may be busy elsewhere (another request's team).
  #pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (int blk = 0; blk < blocks; ++blk) {
    const int first = blk * width;
    const int count = size - first < width ? size - first : width;
    if (splitColumns) {
      f(rowMajor, ta, tb, m, count, k, alpha, a, lda, transB ? b + (long)first * ldb : b + first, ldb, beta,
        c + first, ldc);
    } else {
      f(rowMajor, ta, tb, count, n, k, alpha, transA ? a + first : a + (long)first * lda, lda, b, ldb, beta,
        c + (long)first * ldc, ldc);
    }
  }
}
