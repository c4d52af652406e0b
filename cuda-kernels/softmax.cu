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
#include "plugkit/portable.cuh"

PK_KERNEL void softmax_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t dim,
                               int64_t inner, int log) {
  PK_FOR_WORK(i, n, dim) {
    int64_t base = (i / inner) * dim * inner + i % inner;
    const float* xr = x + base;
    float* yr = y + base;
    float m = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) m = fmaxf(m, xr[d * inner]);
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
