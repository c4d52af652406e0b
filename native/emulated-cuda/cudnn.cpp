// Stand-in libcudnn.so.9 (test only): cuDNN 9's legacy convolution API over the emulated device.
// Descriptors are validated as cuDNN does (CUDNN_STATUS_BAD_PARAM with a last-error text), the
// algorithm queries rank three algorithms (one needing tensor-op math, one a workspace, one
// none), a call checks its workspace and operand ranges, and the convolutions are plain
// reference loops with double accumulation, run in the handle's stream order.
#include <stdio.h>
#include <string.h>

#include "emulator.h"

namespace {
enum { SUCCESS = 0, NOT_INITIALIZED = 1001, BAD_PARAM = 2000, NOT_SUPPORTED = 3000, EXECUTION_FAILED = 5000 };
enum { DEFAULT_MATH = 0, TENSOR_OP_MATH = 1, FMA_MATH = 3 };

struct Handle {
  void* stream = nullptr;
};
struct Tensor {
  int n = 0, c = 0, h = 0, w = 0;
  bool set = false;
};
struct Conv {
  int padH = 0, padW = 0, strideH = 0, strideW = 0, dilationH = 0, dilationW = 0, groups = 1, math = DEFAULT_MATH;
  bool set = false;
};
struct Perf {
  int algo, status;
  float time;
  size_t memory;
  int determinism, mathType, reserved[3];
};

thread_local char lastError[256];

int bad(const char* message) {
  snprintf(lastError, sizeof lastError, "%s", message);
  return BAD_PARAM;
}

// The workspace an algorithm needs (the first ranked needs some, to exercise the allocation).
size_t workspace_of(int algo) { return algo == 1 ? 64 * 1024 : 0; }

// x, w, y must agree with the convolution: channels by groups, y's size by the output formula.
int check(const Tensor* x, const Tensor* w, const Conv* c, const Tensor* y) {
  if (!x || !w || !c || !y || !x->set || !w->set || !c->set || !y->set) return bad("a descriptor is null or not set");
  if (x->c != w->c * c->groups) return bad("x channels != filter channels * groups");
  if (w->n % c->groups != 0) return bad("filter count is not a multiple of groups");
  if (y->n != x->n || y->c != w->n) return bad("y batch or channels do not match x and the filter");
  const int oh = (x->h + 2 * c->padH - ((w->h - 1) * c->dilationH + 1)) / c->strideH + 1;
  const int ow = (x->w + 2 * c->padW - ((w->w - 1) * c->dilationW + 1)) / c->strideW + 1;
  if (oh < 1 || ow < 1 || y->h != oh || y->w != ow) return bad("y spatial size does not match the convolution's output size");
  return SUCCESS;
}

int algorithms(const Tensor* x, const Tensor* w, const Conv* c, const Tensor* y, int requested, int* returned, Perf* perf) {
  if (int e = check(x, w, c, y)) return e;
  if (requested < 1 || returned == nullptr || perf == nullptr) return bad("requestedAlgoCount < 1 or a null output");
  const Perf ranked[] = {{1, 0, 0.1f, (size_t)1 << 20, 1, TENSOR_OP_MATH, {0, 0, 0}},
                         {1, 0, 0.2f, workspace_of(1), 1, FMA_MATH, {0, 0, 0}},
                         {0, 0, 0.3f, workspace_of(0), 1, DEFAULT_MATH, {0, 0, 0}}};
  const int count = requested < 3 ? requested : 3;
  memcpy(perf, ranked, sizeof(Perf) * count);
  *returned = count;
  return SUCCESS;
}

size_t elements(const Tensor* t) { return (size_t)t->n * t->c * t->h * t->w; }

enum Direction { FORWARD, BACKWARD_DATA, BACKWARD_FILTER };

// One direction, alpha/beta as cuDNN: out = alpha * result + beta * out (out not read when beta = 0).
void convolve(Direction d, const Tensor* X, const Tensor* W, const Tensor* Y, const Conv* c, const float* x,
              const float* w, const float* y, float* out, float alpha, float beta) {
  const size_t outCount = d == FORWARD ? elements(Y) : d == BACKWARD_DATA ? elements(X) : elements(W);
  double* acc = new double[outCount]();
  const int cg = X->c / c->groups;
  const int og = Y->c / c->groups;
  for (int n = 0; n < Y->n; ++n)
    for (int o = 0; o < Y->c; ++o)
      for (int oh = 0; oh < Y->h; ++oh)
        for (int ow = 0; ow < Y->w; ++ow)
          for (int ci = 0; ci < cg; ++ci)
            for (int kh = 0; kh < W->h; ++kh)
              for (int kw = 0; kw < W->w; ++kw) {
                const int ih = oh * c->strideH - c->padH + kh * c->dilationH;
                const int iw = ow * c->strideW - c->padW + kw * c->dilationW;
                if (ih < 0 || iw < 0 || ih >= X->h || iw >= X->w) continue;
                const size_t xi = (((size_t)n * X->c + (size_t)(o / og) * cg + ci) * X->h + ih) * X->w + iw;
                const size_t wi = (((size_t)o * cg + ci) * W->h + kh) * W->w + kw;
                const size_t yi = (((size_t)n * Y->c + o) * Y->h + oh) * Y->w + ow;
                if (d == FORWARD) acc[yi] += (double)x[xi] * w[wi];
                else if (d == BACKWARD_DATA) acc[xi] += (double)y[yi] * w[wi];
                else acc[wi] += (double)x[xi] * y[yi];
              }
  for (size_t i = 0; i < outCount; ++i) out[i] = (float)(alpha * acc[i] + (beta == 0.0f ? 0.0 : (double)beta * out[i]));
  delete[] acc;
}

int run(Direction d, void* handle, const float* alpha, const Tensor* X, const Tensor* W, const Tensor* Y, const Conv* c,
        int algo, void* workspace, size_t workspaceBytes, const float* beta, const float* x, const float* w,
        const float* y, float* out) {
  if (handle == nullptr) return NOT_INITIALIZED;
  if (int e = check(X, W, c, Y)) return e;
  if (alpha == nullptr || beta == nullptr) return bad("alpha or beta is null");
  if (algo < 0 || algo > 7) return bad("algorithm id out of range");
  if (workspaceBytes < workspace_of(algo) || (workspaceBytes > 0 && workspace == nullptr)) {
    return bad("the workspace is smaller than the algorithm needs");
  }
  const float a = *alpha;
  const float b = *beta;
  const Tensor Xc = *X, Wc = *W, Yc = *Y;
  const Conv cc = *c;
  int rc = pkemu::enqueue(((Handle*)handle)->stream, [=] {
    const struct { const char* name; const void* p; size_t floats; } operands[] = {
        {"x", d == BACKWARD_DATA ? out : x, elements(&Xc)}, {"w", d == BACKWARD_FILTER ? out : w, elements(&Wc)},
        {"y", d == FORWARD ? out : y, elements(&Yc)}, {"workspace", workspace, workspaceBytes / 4}};
    for (const auto& o : operands) {
      if (o.floats == 0) continue;
      std::string problem = pkemu::check_device_range(o.p, o.floats * 4);
      if (!problem.empty()) {
        pkemu::fail(pkemu::ILLEGAL_ADDRESS, std::string("cuDNN convolution, operand ") + o.name + ": " + problem);
        return;
      }
    }
    if (workspaceBytes > 0) memset(workspace, 0xFF, workspaceBytes);  // scratch holds garbage afterwards
    convolve(d, &Xc, &Wc, &Yc, &cc, x, w, y, out, a, b);
  });
  return rc == 0 ? SUCCESS : EXECUTION_FAILED;
}
}  // namespace

extern "C" {

size_t cudnnGetVersion(void) { return 91002; }
size_t cudnnGetCudartVersion(void) { return 13000; }

const char* cudnnGetErrorString(int s) {
  switch (s) {
    case SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    default: return "CUDNN_STATUS_UNKNOWN";
  }
}

void cudnnGetLastErrorString(char* message, size_t max) {
  snprintf(message, max, "%s", lastError);
  lastError[0] = 0;
}

int cudnnCreate(void** handle) {
  *handle = new Handle;
  return SUCCESS;
}

int cudnnDestroy(void* handle) {
  delete (Handle*)handle;
  return SUCCESS;
}

int cudnnSetStream(void* handle, void* stream) {
  if (handle == nullptr) return NOT_INITIALIZED;
  ((Handle*)handle)->stream = stream;
  return SUCCESS;
}

int cudnnCreateTensorDescriptor(void** d) {
  *d = new Tensor;
  return SUCCESS;
}

int cudnnDestroyTensorDescriptor(void* d) {
  delete (Tensor*)d;
  return SUCCESS;
}

int cudnnSetTensor4dDescriptor(void* d, int format, int dataType, int n, int c, int h, int w) {
  if (format != 0) return NOT_SUPPORTED;  // NCHW only here
  if (dataType != 0) return NOT_SUPPORTED;  // float only here
  if (n < 1 || c < 1 || h < 1 || w < 1) return bad("tensor dimensions must be positive");
  *(Tensor*)d = Tensor{n, c, h, w, true};
  return SUCCESS;
}

int cudnnCreateFilterDescriptor(void** d) { return cudnnCreateTensorDescriptor(d); }
int cudnnDestroyFilterDescriptor(void* d) { return cudnnDestroyTensorDescriptor(d); }

int cudnnSetFilter4dDescriptor(void* d, int dataType, int format, int k, int c, int h, int w) {
  return cudnnSetTensor4dDescriptor(d, format, dataType, k, c, h, w);
}

int cudnnCreateConvolutionDescriptor(void** d) {
  *d = new Conv;
  return SUCCESS;
}

int cudnnDestroyConvolutionDescriptor(void* d) {
  delete (Conv*)d;
  return SUCCESS;
}

int cudnnSetConvolution2dDescriptor(void* d, int padH, int padW, int strideH, int strideW, int dilationH, int dilationW,
                                    int mode, int computeType) {
  if (padH < 0 || padW < 0 || strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1) {
    return bad("padding must be >= 0, stride and dilation >= 1");
  }
  if (mode != 1) return NOT_SUPPORTED;  // CUDNN_CROSS_CORRELATION only here
  if (computeType != 0) return NOT_SUPPORTED;
  Conv* c = (Conv*)d;
  c->padH = padH;
  c->padW = padW;
  c->strideH = strideH;
  c->strideW = strideW;
  c->dilationH = dilationH;
  c->dilationW = dilationW;
  c->set = true;
  return SUCCESS;
}

int cudnnSetConvolutionGroupCount(void* d, int groups) {
  if (groups < 1) return bad("groups must be >= 1");
  ((Conv*)d)->groups = groups;
  return SUCCESS;
}

int cudnnSetConvolutionMathType(void* d, int math) {
  if (math < 0 || math > 3) return bad("unknown math type");
  ((Conv*)d)->math = math;
  return SUCCESS;
}

int cudnnGetConvolutionForwardAlgorithm_v7(void*, const Tensor* x, const Tensor* w, const Conv* c, const Tensor* y,
                                           int requested, int* returned, Perf* perf) {
  return algorithms(x, w, c, y, requested, returned, perf);
}

int cudnnGetConvolutionBackwardDataAlgorithm_v7(void*, const Tensor* w, const Tensor* dy, const Conv* c,
                                                const Tensor* dx, int requested, int* returned, Perf* perf) {
  return algorithms(dx, w, c, dy, requested, returned, perf);
}

int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void*, const Tensor* x, const Tensor* dy, const Conv* c,
                                                  const Tensor* dw, int requested, int* returned, Perf* perf) {
  return algorithms(x, dw, c, dy, requested, returned, perf);
}

int cudnnConvolutionForward(void* h, const float* alpha, const Tensor* xd, const float* x, const Tensor* wd,
                            const float* w, const Conv* c, int algo, void* ws, size_t wsBytes, const float* beta,
                            const Tensor* yd, float* y) {
  return run(FORWARD, h, alpha, xd, wd, yd, c, algo, ws, wsBytes, beta, x, w, nullptr, y);
}

int cudnnConvolutionBackwardData(void* h, const float* alpha, const Tensor* wd, const float* w, const Tensor* dyd,
                                 const float* dy, const Conv* c, int algo, void* ws, size_t wsBytes, const float* beta,
                                 const Tensor* dxd, float* dx) {
  return run(BACKWARD_DATA, h, alpha, dxd, wd, dyd, c, algo, ws, wsBytes, beta, nullptr, w, dy, dx);
}

int cudnnConvolutionBackwardFilter(void* h, const float* alpha, const Tensor* xd, const float* x, const Tensor* dyd,
                                   const float* dy, const Conv* c, int algo, void* ws, size_t wsBytes,
                                   const float* beta, const Tensor* dwd, float* dw) {
  return run(BACKWARD_FILTER, h, alpha, xd, dwd, dyd, c, algo, ws, wsBytes, beta, x, nullptr, dy, dw);
}

}  // extern "C"
