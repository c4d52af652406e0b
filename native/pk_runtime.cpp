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
// A C with both sides under two minimum widths but a long K (an atrous weight gradient: [256, 256]
// x 441-8712 pixels) would be one block on one thread; it is cut in two halves of at least
// PK_GEMM_HALF_MIN instead, so two threads share it. r12 1x256x33x33 weight gradient: see
// docs/benchmarks.md, "Weight gradient on the team".
#define PK_GEMM_HALF_MIN 128

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
  int blocks;
  if (want < size) {
    blocks = (int)ceil(size / want);
    blocks += blocks & 1;
  } else if (size >= 2 * PK_GEMM_HALF_MIN && unitFlop * size >= 2 * PK_GEMM_BLOCK_FLOP) {
    blocks = 2;
  } else {
    f(rowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
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

// ---- the serial path of a parallel region ------------------------------------------------------
// Every host kernel loop is `#pragma omp parallel for ... if(work > PK_PAR_MIN)` (portable.cuh).
// With the if clause false GCC still calls GOMP_parallel(fn, data, 1, flags), and libgomp then
// builds a team of one and ends it with a barrier whose last arrival always does a futex_wake
// system call: 1.3-3.5 us per region on this VM, measured from C, for a 1-element relu whose loop
// takes nanoseconds. So the library's own references to GOMP_parallel bind to this definition
// (hidden: nothing outside the library sees it; the static linker resolves the kernels' calls to
// it). A region outside any active region that would run on one thread (the if clause false: GCC
// passes 1; or no clause and a team size of 1) calls the outlined body directly on this thread, which is
// what a team of one runs: inside it omp_get_num_threads() is 1 and omp_get_thread_num() 0, so a
// static schedule gives it the whole range, and orphaned constructs (reductions, barriers) act
// as on a team of one. Any other region goes to libgomp unchanged. The kernels use no OpenMP
// query that could tell the two apart (omp_get_level, threadprivate, cancellation).
#include <dlfcn.h>

namespace {
typedef void (*pk_gomp_parallel_t)(void (*fn)(void*), void* data, unsigned numThreads, unsigned flags);

pk_gomp_parallel_t realGompParallel() {
  static const pk_gomp_parallel_t real = [] {
    void* f = dlsym(RTLD_NEXT, "GOMP_parallel");
    if (f == nullptr) {
      void* gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
      if (gomp != nullptr) f = dlsym(gomp, "GOMP_parallel");
    }
    return (pk_gomp_parallel_t)f;
  }();
  return real;
}
}  // namespace

extern "C" __attribute__((visibility("hidden"))) void GOMP_parallel(void (*fn)(void*), void* data, unsigned numThreads,
                                                                     unsigned flags) {
  // Only outside an active region: inside one, omp_get_num_threads() in the body would report the
  // enclosing team and a static schedule would hand this thread a slice of the nested loop only.
  if (!omp_in_parallel() && (numThreads == 1 || (numThreads == 0 && omp_get_max_threads() == 1))) {
    fn(data);
    return;
  }
  pk_gomp_parallel_t real = realGompParallel();
  if (real == nullptr) {  // cannot happen while libgomp is linked in; serial is still correct
    fn(data);
    return;
  }
  real(fn, data, numThreads, flags);
}

// Self-check of the shortcut above, for HostFastPathTest (Java cannot nest regions): returns 0
// when a false-if region on one thread, its reduction, and a false-if region nested in a team of
// `threads` each cover their whole loop; else the number of the first case that did not.
extern "C" __attribute__((visibility("default"))) int pk_selfcheck_serial_regions(int threads) {
  long serial = 0;
  #pragma omp parallel for schedule(static) if (threads < 0) reduction(+ : serial)
  for (int i = 0; i < 1000; ++i) serial += i;
  if (serial != 499500) return 1;
  long nested = 0;
  int team = 0;
  #pragma omp parallel num_threads(threads) reduction(+ : nested)
  {
    #pragma omp single
    team = omp_get_num_threads();
    #pragma omp parallel for schedule(static) if (threads < 0) reduction(+ : nested)
    for (int i = 0; i < 100; ++i) nested += 1;
  }
  if (nested != 100L * team) return 2;
  return 0;
}
