// Fake libcudnn.so.9: the legacy convolution API on host memory, naive loops; three algorithms,
// the first needing too much workspace so that the driver must skip it, the second (algo 2)
// failing at run time on 1x1 kernels so that the driver must fall back to the third (algo 0,
// no workspace). A forward convolution with 3 groups fails on every algorithm with a last-error
// text, to exercise error reporting. FAKE_CUDNN_CUDART sets cudnnGetCudartVersion (default 13000).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { int n, c, h, w; } T4;
static char last_error[128];
typedef struct { int ph, pw, sh, sw, dh, dw, groups, math; } Conv;
typedef struct { int algo, status; float time; size_t memory; int determinism, mathType, reserved[3]; } Perf;
size_t cudnnGetVersion(void) { return 91002; }
size_t cudnnGetCudartVersion(void) { const char* e = getenv("FAKE_CUDNN_CUDART"); return e ? (size_t)atol(e) : 13000; }
const char* cudnnGetErrorString(int s) { return "CUDNN_STATUS_FAKE"; }
int cudnnCreate(void** h) { *h = malloc(1); return 0; }
int cudnnSetStream(void* h, void* s) { return 0; }
int cudnnCreateTensorDescriptor(void** d) { *d = calloc(1, sizeof(T4)); return 0; }
int cudnnSetTensor4dDescriptor(T4* d, int fmt, int dt, int n, int c, int h, int w) { if (fmt || dt || n < 1) return 3; *d = (T4){n, c, h, w}; return 0; }
int cudnnDestroyTensorDescriptor(void* d) { free(d); return 0; }
int cudnnCreateFilterDescriptor(void** d) { *d = calloc(1, sizeof(T4)); return 0; }
int cudnnSetFilter4dDescriptor(T4* d, int dt, int fmt, int k, int c, int h, int w) { if (fmt || dt) return 3; *d = (T4){k, c, h, w}; return 0; }
int cudnnDestroyFilterDescriptor(void* d) { free(d); return 0; }
int cudnnCreateConvolutionDescriptor(void** d) { *d = calloc(1, sizeof(Conv)); ((Conv*)*d)->groups = 1; return 0; }
int cudnnSetConvolution2dDescriptor(Conv* d, int ph, int pw, int sh, int sw, int dh, int dw, int mode, int dt) { if (mode != 1 || dt) return 3; d->ph = ph; d->pw = pw; d->sh = sh; d->sw = sw; d->dh = dh; d->dw = dw; return 0; }
int cudnnSetConvolutionGroupCount(Conv* d, int g) { d->groups = g; return 0; }
int cudnnSetConvolutionMathType(Conv* d, int m) { d->math = m; return 0; }
int cudnnDestroyConvolutionDescriptor(void* d) { free(d); return 0; }
static int algos(int req, int* ret, Perf* p) {
  if (req < 3) return 3;
  memset(p, 0, 3 * sizeof(Perf));
  p[0] = (Perf){7, 0, 1.f, (size_t)1 << 40, 0, 0};  /* too much workspace */
  p[1] = (Perf){2, 0, 1.f, 4096, 0, 3};
  p[2] = (Perf){0, 0, 2.f, 0, 0, 3};
  *ret = 3; return 0;
}
int cudnnGetConvolutionForwardAlgorithm_v7(void* h, T4* x, T4* w, Conv* c, T4* y, int req, int* ret, Perf* p) { return algos(req, ret, p); }
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void* h, T4* w, T4* dy, Conv* c, T4* dx, int req, int* ret, Perf* p) { return algos(req, ret, p); }
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void* h, T4* x, T4* dy, Conv* c, T4* dw, int req, int* ret, Perf* p) { return algos(req, ret, p); }
/* mode 0: y = conv(x, w); 1: dx = convT(dy, w); 2: dw = corr(x, dy) */
static void conv(int mode, T4* X, T4* W, T4* Y, Conv* c, float* x, float* w, float* y) {
  int cg = X->c / c->groups, og = Y->c / c->groups;
  if (mode == 0) memset(y, 0, sizeof(float) * Y->n * Y->c * Y->h * Y->w);
  if (mode == 1) memset(x, 0, sizeof(float) * X->n * X->c * X->h * X->w);
  if (mode == 2) memset(w, 0, sizeof(float) * W->n * W->c * W->h * W->w);
  for (int n = 0; n < Y->n; n++) for (int o = 0; o < Y->c; o++) for (int oh = 0; oh < Y->h; oh++) for (int ow = 0; ow < Y->w; ow++)
    for (int ci = 0; ci < cg; ci++) for (int kh = 0; kh < W->h; kh++) for (int kw = 0; kw < W->w; kw++) {
      int ih = oh * c->sh - c->ph + kh * c->dh, iw = ow * c->sw - c->pw + kw * c->dw;
      if (ih < 0 || iw < 0 || ih >= X->h || iw >= X->w) continue;
      int g = o / og;
      long xi = (((long)n * X->c + g * cg + ci) * X->h + ih) * X->w + iw;
      long wi = (((long)o * cg + ci) * W->h + kh) * W->w + kw;
      long yi = (((long)n * Y->c + o) * Y->h + oh) * Y->w + ow;
      if (mode == 0) y[yi] += x[xi] * w[wi]; else if (mode == 1) x[xi] += y[yi] * w[wi]; else w[wi] += x[xi] * y[yi];
    }
}
/* 0 when the algorithm can run: algo 2 with its 4096 bytes (not for 1x1 kernels), algo 0 with none. */
static int check_ws(int algo, void* ws, size_t n, Conv* c, T4* w) {
  if (getenv("FAKE_LOG")) fprintf(stderr, "[fakecudnn] algo=%d ws=%p bytes=%zu math=%d groups=%d kernel=%dx%d\n", algo, ws, n, c->math, c->groups, w->h, w->w);
  if (c->math != 3) return 3;
  if (algo == 2 && w->h == 1 && w->w == 1) { snprintf(last_error, sizeof last_error, "fake: algo 2 cannot do 1x1 kernels"); return 8; }
  return (algo == 2 && n == 4096 && ws) || (algo == 0 && n == 0 && !ws) ? 0 : 3;
}
int cudnnConvolutionForward(void* h, const float* a, T4* xd, float* x, T4* wd, float* w, Conv* c, int algo, void* ws, size_t wsn, const float* b, T4* yd, float* y) {
  if (c->groups == 3) { snprintf(last_error, sizeof last_error, "fake: groups 3 unsupported by algo %d", algo); return 9; }
  int rc = *a != 1 || *b != 0 ? 3 : check_ws(algo, ws, wsn, c, wd); if (rc) return rc; conv(0, xd, wd, yd, c, x, w, y); return 0; }
int cudnnConvolutionBackwardData(void* h, const float* a, T4* wd, float* w, T4* dyd, float* dy, Conv* c, int algo, void* ws, size_t wsn, const float* b, T4* dxd, float* dx) {
  int rc = *a != 1 || *b != 0 ? 3 : check_ws(algo, ws, wsn, c, wd); if (rc) return rc; conv(1, dxd, wd, dyd, c, dx, w, dy); return 0; }
int cudnnConvolutionBackwardFilter(void* h, const float* a, T4* xd, float* x, T4* dyd, float* dy, Conv* c, int algo, void* ws, size_t wsn, const float* b, T4* dwd, float* dw) {
  int rc = *a != 1 || *b != 0 ? 3 : check_ws(algo, ws, wsn, c, dwd); if (rc) return rc; conv(2, xd, dwd, dyd, c, x, dw, dy); return 0; }
void cudnnGetLastErrorString(char* m, size_t n) { snprintf(m, n, "%s", last_error); last_error[0] = 0; }
