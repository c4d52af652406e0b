// Fake libcublas.so.13: column-major SGEMM on host memory, the v2 entry points plugkit binds.
// A batch of 13 fails, to exercise error reporting.
#include <stdio.h>
#include <stdlib.h>
int cublasCreate_v2(void** h) { *h = malloc(1); return 0; }
int cublasSetStream_v2(void* h, void* s) { return 0; }
int cublasSetMathMode(void* h, int m) { return 0; }
int cublasGetVersion_v2(void* h, int* v) { *v = 130100; return 0; }
const char* cublasGetStatusName(int s) { return "CUBLAS_STATUS_FAKE"; }
const char* cublasGetStatusString(int s) { return "fake cublas status"; }
int cublasSgemmStridedBatched(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda, long long sA,
    const float* B, int ldb, long long sB, const float* beta, float* C, int ldc, long long sC, int batch) {
  if (batch == 13) return 7; /* CUBLAS_STATUS_INVALID_VALUE, to exercise error reporting */
  if (getenv("FAKE_LOG")) fprintf(stderr, "[fakecublas] sgemm ta=%d tb=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d\n", ta, tb, m, n, k, lda, ldb, ldc, batch);
  for (int t = 0; t < batch; t++)
    for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) {
        float a = ta ? A[t * sA + p + (long long)i * lda] : A[t * sA + i + (long long)p * lda];
        float b = tb ? B[t * sB + j + (long long)p * ldb] : B[t * sB + p + (long long)j * ldb];
        s += (double)a * b;
      }
      float* c = &C[t * sC + i + (long long)j * ldc];
      *c = (float)(*alpha * s + (*beta == 0 ? 0 : *beta * *c));
    }
  return 0;
}
