// 2-D resampling, forward and backward, as torch.nn.functional.interpolate (PyTorch 1.13, CPU
// kernels UpSampleKernel.cpp / UpSample.h) in modes "nearest" and "bilinear".
// Shapes: x, dx [N, C, H, W]; y, dy [N, C, outH, outW].
// scaleH/scaleW are the source-per-destination steps the Java op computes as PyTorch does:
// 1/scale_factor when a scale factor is given (and not recomputed), else H/outH; for bilinear
// with alignCorners, (H-1)/(outH-1), or 0 when outH == 1.
// Thread mapping: one item per output value, forward and backward (on the host, the backwards
// take one item per plane instead and need no atomics). The GPU backwards scatter into a
// zeroed dx with atomics: each output reads 1 (nearest) or 4 (bilinear) input pixels chosen by the
// forward's exact float index math, and repeating that math is the only way to hit the same
// pixels; a gather would have to invert floor() of a float product, which disagrees with the
// forward at boundaries. Several outputs share a source pixel, hence pk_atomic_add; the sums are
// therefore not bitwise reproducible on the GPU.
#include "plugkit/portable.cuh"
#if !PK_GPU
#include <stdlib.h>
#endif

// PyTorch's nearest_idx: exact shortcuts for same size and 2x, else floor(dst * scale) in float,
// clamped to the last pixel.
PK_INLINE int64_t interp_nearest_source(int64_t dst, int inSize, int outSize, float scale) {
  if (outSize == inSize) return dst;
  if (outSize == 2 * inSize) return dst >> 1;
  int64_t src = (int64_t)floorf((float)dst * scale);
  return src < inSize - 1 ? src : inSize - 1;
}

// PyTorch's compute_source_index_and_lambda: the two source pixels of dst and their weights.
// Same size copies. The align_corners-false position is computed in double and rounded to float,
// as the CPU code does, and clamped at 0.
PK_INLINE void interp_linear_source(int64_t dst, int inSize, int outSize, float scale, int alignCorners,
                                    int64_t* i0, int64_t* i1, float* l0, float* l1) {
  if (outSize == inSize) {
    *i0 = dst;
    *i1 = dst;
    *l0 = 1.0f;
    *l1 = 0.0f;
    return;
  }
  float src = alignCorners ? scale * (float)dst : (float)((double)scale * ((double)dst + 0.5) - 0.5);
  if (src < 0.0f) src = 0.0f;
  *i0 = (int64_t)src;
  *i1 = *i0 + (*i0 < inSize - 1 ? 1 : 0);
  float lambda = src - (float)*i0;
  *l1 = lambda < 0.0f ? 0.0f : (lambda > 1.0f ? 1.0f : lambda);
  *l0 = 1.0f - *l1;
}

PK_KERNEL void interpolate_nearest_forward(int64_t n, const float* x, float* y, int height, int width,
                                           int outH, int outW, float scaleH, float scaleW) {
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h = interp_nearest_source(oh, height, outH, scaleH);
    int64_t w = interp_nearest_source(ow, width, outW, scaleW);
    y[i] = x[(plane * height + h) * width + w];
  }
}

// Adds into dx, which the caller zeroes.
PK_KERNEL void interpolate_nearest_backward(int64_t n, const float* dy, float* dx, int height, int width,
                                            int outH, int outW, float scaleH, float scaleW) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h = interp_nearest_source(oh, height, outH, scaleH);
    int64_t w = interp_nearest_source(ow, width, outW, scaleW);
    pk_atomic_add(&dx[(plane * height + h) * width + w], dy[i]);  // outputs share source pixels
  }
#else
  // Host: one item per plane walks its outputs in order with plain adds (atomics cost more than
  // the work on a CPU), which is also PyTorch's CPU order.
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / outPlane, outPlane) {
    float* dxp = dx + plane * height * width;
    const float* dyp = dy + plane * outPlane;
    for (int64_t oh = 0; oh < outH; ++oh) {
      const int64_t h = interp_nearest_source(oh, height, outH, scaleH);
      for (int64_t ow = 0; ow < outW; ++ow) {
        dxp[h * width + interp_nearest_source(ow, width, outW, scaleW)] += dyp[oh * outW + ow];
      }
    }
  }
#endif
}

PK_KERNEL void interpolate_bilinear_forward(int64_t n, const float* x, float* y, int height, int width,
                                            int outH, int outW, float scaleH, float scaleW, int alignCorners) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, h1, w0, w1;
    float lh0, lh1, lw0, lw1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
    const float* xp = x + plane * height * width;
    y[i] = lh0 * (lw0 * xp[h0 * width + w0] + lw1 * xp[h0 * width + w1]) +
           lh1 * (lw0 * xp[h1 * width + w0] + lw1 * xp[h1 * width + w1]);
  }
#else
  // Host: the column sources depend only on ow, so they are computed once per call; one item
  // per output row then finds its row sources once. Same arithmetic as above.
  int64_t* w0s = (int64_t*)malloc(sizeof(int64_t) * 2 * outW);
  float* lws = (float*)malloc(sizeof(float) * 2 * outW);
  for (int64_t ow = 0; ow < outW; ++ow) {
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0s[2 * ow], &w0s[2 * ow + 1], &lws[2 * ow],
                         &lws[2 * ow + 1]);
  }
  PK_FOR_WORK(r, n / outW, outW) {
    const int64_t oh = r % outH;
    const int64_t plane = r / outH;
    int64_t h0, h1;
    float lh0, lh1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    const float* row0 = x + (plane * height + h0) * width;
    const float* row1 = x + (plane * height + h1) * width;
    float* yr = y + r * outW;
    for (int64_t ow = 0; ow < outW; ++ow) {
      const int64_t w0 = w0s[2 * ow], w1 = w0s[2 * ow + 1];
      const float lw0 = lws[2 * ow], lw1 = lws[2 * ow + 1];
      yr[ow] = lh0 * (lw0 * row0[w0] + lw1 * row0[w1]) + lh1 * (lw0 * row1[w0] + lw1 * row1[w1]);
    }
  }
  free(w0s);
  free(lws);
#endif
}

// Adds into dx, which the caller zeroes.
PK_KERNEL void interpolate_bilinear_backward(int64_t n, const float* dy, float* dx, int height, int width,
                                             int outH, int outW, float scaleH, float scaleW, int alignCorners) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, h1, w0, w1;
    float lh0, lh1, lw0, lw1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
    float* dxp = dx + plane * height * width;
    float g = dy[i];
    // Neighbouring outputs share these four pixels (and h0 == h1 at the last row), hence atomics.
    pk_atomic_add(&dxp[h0 * width + w0], lh0 * lw0 * g);
    pk_atomic_add(&dxp[h0 * width + w1], lh0 * lw1 * g);
    pk_atomic_add(&dxp[h1 * width + w0], lh1 * lw0 * g);
    pk_atomic_add(&dxp[h1 * width + w1], lh1 * lw1 * g);
  }
#else
  // Host: one item per plane walks its outputs in order with plain adds (no atomics, PyTorch's
  // CPU order); the row's source pair is found once per row.
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / outPlane, outPlane) {
    float* dxp = dx + plane * height * width;
    const float* dyp = dy + plane * outPlane;
    for (int64_t oh = 0; oh < outH; ++oh) {
      int64_t h0, h1;
      float lh0, lh1;
      interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
      for (int64_t ow = 0; ow < outW; ++ow) {
        int64_t w0, w1;
        float lw0, lw1;
        interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
        const float g = dyp[oh * outW + ow];
        dxp[h0 * width + w0] += lh0 * lw0 * g;
        dxp[h0 * width + w1] += lh0 * lw1 * g;
        dxp[h1 * width + w0] += lh1 * lw0 * g;
        dxp[h1 * width + w1] += lh1 * lw1 * g;
      }
    }
  }
#endif
}
