// softmax and log_softmax along one dim: x viewed as [outer, dim, inner], each (outer, inner)
// row of `dim` values normalised on its own. Numerically stable: the row max is subtracted
// before exp, so no exp overflows (a row of -inf gives NaN, as in PyTorch).
//   softmax:     y = exp(x - m) / s,        s = sum exp(x - m)
//   log_softmax: y = (x - m) - log(s)
// Backward from the saved output y:
//   softmax:     dx = y * (g - sum(g * y))
//   log_softmax: dx = g - exp(y) * sum(g)
// Thread mapping: one item per row; with inner > 1 neighbouring items read neighbouring
// addresses (coalesced on the GPU).
#include "plugkit/host_exp.cuh"
#include "plugkit/portable.cuh"

#if !PK_GPU
// Host, rows along the last dim (inner == 1): the max and the sum run in 8 independent lanes so
// they vectorize, with pk_host_exp (glibc's scalar expf is faster only where a loop cannot
// vectorize, as in the strided rows below), and softmax takes exp once per value (stored, then
// scaled).
static void softmax_host_row(const float* __restrict__ xr, float* __restrict__ yr, int64_t dim, int log) {
  const float m = pk_host_row_max(xr, dim);
  const float s = pk_host_row_exp_sum(xr, log ? nullptr : yr, dim, m);
  if (log) {
    // (x - m) first, as PyTorch (see below).
    const float logS = logf(s);
    for (int64_t d = 0; d < dim; ++d) yr[d] = (xr[d] - m) - logS;
  } else {
    const float r = 1.0f / s;
    for (int64_t d = 0; d < dim; ++d) yr[d] *= r;
  }
}
#endif

PK_KERNEL void softmax_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t dim,
                               int64_t inner, int log) {
#if !PK_GPU
  if (inner == 1) {
    PK_FOR_WORK(i, n, dim) { softmax_host_row(x + i * dim, y + i * dim, dim, log); }
    return;
  }
#endif
  PK_FOR_WORK(i, n, dim) {
    int64_t base = (i / inner) * dim * inner + i % inner;
    const float* xr = x + base;
    float* yr = y + base;
    float m = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) m = xr[d * inner] > m ? xr[d * inner] : m;  // fmaxf without the libm call
    float s = 0.0f;
    for (int64_t d = 0; d < dim; ++d) s += expf(xr[d * inner] - m);
    if (log) {
      // (x - m) first, as PyTorch: it is exact for x near m, where y is small and m + log(s)
      // would round at the magnitude of m.
      float logS = logf(s);
      for (int64_t d = 0; d < dim; ++d) yr[d * inner] = (xr[d * inner] - m) - logS;
    } else {
      float r = 1.0f / s;
      for (int64_t d = 0; d < dim; ++d) yr[d * inner] = expf(xr[d * inner] - m) * r;
    }
  }
}

PK_KERNEL void softmax_backward(int64_t n, const float* __restrict__ y, const float* __restrict__ g,
                                float* __restrict__ dx, int64_t dim, int64_t inner, int log) {
  PK_FOR_WORK(i, n, dim) {
    int64_t base = (i / inner) * dim * inner + i % inner;
    const float* yr = y + base;
    const float* gr = g + base;
    float* dr = dx + base;
    float s = 0.0f;
    if (log) {
      for (int64_t d = 0; d < dim; ++d) s += gr[d * inner];
      for (int64_t d = 0; d < dim; ++d) dr[d * inner] = gr[d * inner] - expf(yr[d * inner]) * s;
    } else {
      for (int64_t d = 0; d < dim; ++d) s += gr[d * inner] * yr[d * inner];
      for (int64_t d = 0; d < dim; ++d) dr[d * inner] = yr[d * inner] * (gr[d * inner] - s);
    }
  }
}
