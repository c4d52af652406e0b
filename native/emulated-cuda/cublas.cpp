// Stand-in libcublas.so.13 (test only): the v2 entry points plugkit binds, over the emulated
// device. Arguments are validated as cuBLAS documents (CUBLAS_STATUS_INVALID_VALUE); the GEMM is
// a plain column-major reference loop with double accumulation, run in the handle's stream
// order. It is not the code under test: it lets the driver's GEMM mapping and ordering run.
#include <stdlib.h>

#include "emulator.h"

namespace {
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, EXECUTION_FAILED = 13 };

struct Handle {
  void* stream = nullptr;
  int mathMode = 0;
};

// Floats a column-major operand of rows x cols with leading dimension ld spans, per batch entry.
size_t extent(int rows, int cols, int ld) { return rows == 0 || cols == 0 ? 0 : (size_t)(cols - 1) * ld + rows; }

std::string range(const char* what, const float* p, int batch, long long stride, size_t floats) {
  if (floats == 0 || batch == 0) return "";
  std::string problem = pkemu::check_device_range(p, ((size_t)(batch - 1) * stride + floats) * sizeof(float));
  return problem.empty() ? "" : std::string(what) + ": " + problem;
}
}  // namespace

extern "C" {

int cublasCreate_v2(void** handle) {
  *handle = new Handle;
  return SUCCESS;
}

int cublasDestroy_v2(void* handle) {
  delete (Handle*)handle;
  return SUCCESS;
}

int cublasSetStream_v2(void* handle, void* stream) {
  if (handle == nullptr) return NOT_INITIALIZED;
  ((Handle*)handle)->stream = stream;
  return SUCCESS;
}

int cublasSetMathMode(void* handle, int mode) {
  if (handle == nullptr) return NOT_INITIALIZED;
  const int base = mode & ~16;  // 16: CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
  if (base < 0 || base > 3) return INVALID_VALUE;
  ((Handle*)handle)->mathMode = mode;
  return SUCCESS;
}

int cublasGetVersion_v2(void* handle, int* version) {
  if (handle == nullptr) return NOT_INITIALIZED;
  *version = 130100;
  return SUCCESS;
}

const char* cublasGetStatusName(int s) {
  switch (s) {
    case SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* cublasGetStatusString(int s) {
  return s == INVALID_VALUE ? "an unsupported value or parameter was passed to the function" : cublasGetStatusName(s);
}

// C = alpha op(A) op(B) + beta C per batch entry, column-major; op 0 = N, 1 = T, 2 = C (= T for float).
int cublasSgemmStridedBatched(void* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                              const float* A, int lda, long long strideA, const float* B, int ldb, long long strideB,
                              const float* beta, float* C, int ldc, long long strideC, int batch) {
  if (handle == nullptr) return NOT_INITIALIZED;
  const bool ta = transa != 0;
  const bool tb = transb != 0;
  if (transa < 0 || transa > 2 || transb < 0 || transb > 2 || m < 0 || n < 0 || k < 0 || batch < 0) return INVALID_VALUE;
  if (lda < (ta ? (k > 1 ? k : 1) : (m > 1 ? m : 1)) || ldb < (tb ? (n > 1 ? n : 1) : (k > 1 ? k : 1)) ||
      ldc < (m > 1 ? m : 1)) {
    return INVALID_VALUE;
  }
  if (alpha == nullptr || beta == nullptr) return INVALID_VALUE;
  const float a = *alpha;  // host pointer mode: read at the call, as cuBLAS does
  const float b = *beta;
  Handle* h = (Handle*)handle;
  int rc = pkemu::enqueue(h->stream, [=] {
    std::string problem = range("A", A, batch, strideA, k == 0 ? 0 : extent(ta ? k : m, ta ? m : k, lda));
    if (problem.empty()) problem = range("B", B, batch, strideB, k == 0 ? 0 : extent(tb ? n : k, tb ? k : n, ldb));
    if (problem.empty()) problem = range("C", C, batch, strideC, extent(m, n, ldc));
    if (!problem.empty()) {
      pkemu::fail(pkemu::ILLEGAL_ADDRESS, "cublasSgemmStridedBatched " + problem);
      return;
    }
    for (int t = 0; t < batch; ++t) {
      for (int j = 0; j < n; ++j) {
        for (int i = 0; i < m; ++i) {
          double s = 0;
          for (int p = 0; p < k; ++p) {
            const float x = ta ? A[t * strideA + p + (long long)i * lda] : A[t * strideA + i + (long long)p * lda];
            const float y = tb ? B[t * strideB + j + (long long)p * ldb] : B[t * strideB + p + (long long)j * ldb];
            s += (double)x * y;
          }
          float* c = &C[t * strideC + i + (long long)j * ldc];
          *c = (float)(a * s + (b == 0.0f ? 0.0 : (double)b * *c));  // beta = 0: C is not read (it may hold NaN)
        }
      }
    }
  });
  return rc == 0 ? SUCCESS : EXECUTION_FAILED;
}

}  // extern "C"
