// 2-D pooling, forward and backward, with PyTorch's semantics (torch.nn.functional max_pool2d,
// avg_pool2d, adaptive_avg_pool2d(x, 1), adaptive_max_pool2d(x, 1)).
// Shapes: x, dx [N, C, H, W]; y, dy [N, C, outH, outW] ([N, C, 1, 1] for the global pools);
// indices [N, C, outH, outW] int64, the argmax as h * W + w inside its (n, c) plane, or -1 for a
// window that covers no input pixel (possible with dilation; PyTorch reports an index outside
// the plane there, which its own backward would write through).
// Max selection everywhere follows PyTorch's scan `if (v > best || isnan(v))` from best = -inf:
// the first strict maximum wins ties, every NaN replaces the best (so the last NaN wins), and a
// window of only -inf reports its first pixel.
// Thread mapping: one item per output value for the windowed forwards and one per input pixel
// for their backwards (a gather: no atomics, deterministic sums); the global pools reduce one
// (n, c) plane per item, which on the GPU is a whole block (shared memory + warp shuffles).
#include "plugkit/portable.cuh"

// True when (v, i) replaces (best, bestI) as the maximum. As an order on (value, index) pairs this
// equals PyTorch's sequential scan over increasing indices, and it is associative, so a block
// reduction that combines partial results in any order picks the same pixel.
PK_INLINE bool pool_max_beats(float v, int64_t i, float best, int64_t bestI) {
  bool vNan = v != v;
  bool bestNan = best != best;
  if (vNan || bestNan) return vNan && (!bestNan || i > bestI);
  return v > best || (v == best && i < bestI);
}

// ---- global pools: one (n, c) plane per item -------------------------------------------------

#if PK_GPU
// The block size comes from the launcher (Kernel.withBlock, 256): any multiple of 32 up to 1024
// works, the shared arrays hold one partial per warp. Blocks stride over planes, so every grid
// size is correct; one block per plane is the fastest.
#define POOL_MAX_WARPS 32

PK_INLINE float pool_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

PK_INLINE void pool_warp_max(float* v, int64_t* i) {
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_down_sync(0xffffffffu, *v, o);
    int64_t oi = __shfl_down_sync(0xffffffffu, *i, o);
    if (pool_max_beats(ov, oi, *v, *i)) { *v = ov; *i = oi; }
  }
}

PK_KERNEL void global_avg_pool2d_forward(int64_t n, const float* x, float* y, int64_t planeSize) {
  __shared__ float partial[POOL_MAX_WARPS];
  int lane = threadIdx.x & 31;
  int warp = threadIdx.x >> 5;
  int warps = (blockDim.x + 31) >> 5;
  for (int64_t p = blockIdx.x; p < n; p += gridDim.x) {
    const float* plane = x + p * planeSize;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < planeSize; i += blockDim.x) sum += plane[i];  // coalesced
    sum = pool_warp_sum(sum);
    if (lane == 0) partial[warp] = sum;
    __syncthreads();
    if (warp == 0) {
      sum = lane < warps ? partial[lane] : 0.0f;
      sum = pool_warp_sum(sum);
      if (lane == 0) y[p] = sum / (float)planeSize;
    }
    __syncthreads();  // partial is rewritten for the next plane
  }
}

PK_KERNEL void global_max_pool2d_forward(int64_t n, const float* x, float* y, int64_t* indices,
                                         int64_t planeSize) {
  __shared__ float partialV[POOL_MAX_WARPS];
  __shared__ int64_t partialI[POOL_MAX_WARPS];
  int lane = threadIdx.x & 31;
  int warp = threadIdx.x >> 5;
  int warps = (blockDim.x + 31) >> 5;
  for (int64_t p = blockIdx.x; p < n; p += gridDim.x) {
    const float* plane = x + p * planeSize;
    // planeSize as the index of "nothing yet": it loses every tie against a real pixel.
    float best = -INFINITY;
    int64_t bestI = planeSize;
    for (int64_t i = threadIdx.x; i < planeSize; i += blockDim.x) {
      if (pool_max_beats(plane[i], i, best, bestI)) { best = plane[i]; bestI = i; }
    }
    pool_warp_max(&best, &bestI);
    if (lane == 0) { partialV[warp] = best; partialI[warp] = bestI; }
    __syncthreads();
    if (warp == 0) {
      best = lane < warps ? partialV[lane] : -INFINITY;
      bestI = lane < warps ? partialI[lane] : planeSize;
      pool_warp_max(&best, &bestI);
      if (lane == 0) { y[p] = best; indices[p] = bestI; }
    }
    __syncthreads();  // the partials are rewritten for the next plane
  }
}
#else
// Host: one item per plane; double accumulation keeps long planes accurate, in 8 independent
// lanes so the compiler vectorizes the sum (one serial chain would be latency-bound).
PK_KERNEL void global_avg_pool2d_forward(int64_t n, const float* x, float* y, int64_t planeSize) {
  PK_FOR_WORK(p, n, planeSize) {
    const float* plane = x + p * planeSize;
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= planeSize; i += 8) {
      for (int j = 0; j < 8; ++j) lanes[j] += plane[i + j];
    }
    double sum = 0.0;
    for (; i < planeSize; ++i) sum += plane[i];
    for (int j = 0; j < 8; ++j) sum += lanes[j];
    y[p] = (float)(sum / (double)planeSize);
  }
}

PK_KERNEL void global_max_pool2d_forward(int64_t n, const float* x, float* y, int64_t* indices,
                                         int64_t planeSize) {
  PK_FOR_WORK(p, n, planeSize) {
    const float* plane = x + p * planeSize;
    // Fast path, two branch-free passes that vectorize: the maximum (and whether a NaN is
    // present), then the first index holding it, which is the pixel the sequential rule picks.
    // A plane with a NaN takes the sequential rule itself.
    pk_f8 lanes = pk_f8{} - INFINITY;
    pk_i8 nans = pk_i8{};
    int64_t i = 0;
    for (; i + 8 <= planeSize; i += 8) {
      const pk_f8 v = pk_load8(plane + i);
      nans |= v != v;
      lanes = v > lanes ? v : lanes;
    }
    float best = -INFINITY;
    int nan = 0;
    for (; i < planeSize; ++i) {
      nan |= plane[i] != plane[i];
      best = plane[i] > best ? plane[i] : best;
    }
    for (int j = 0; j < 8; ++j) {
      best = lanes[j] > best ? lanes[j] : best;
      nan |= nans[j] != 0;
    }
    int64_t bestI = 0;
    if (nan) {
      best = -INFINITY;
      bestI = planeSize;
      for (int64_t k = 0; k < planeSize; ++k) {
        if (pool_max_beats(plane[k], k, best, bestI)) { best = plane[k]; bestI = k; }
      }
    } else {
      while (bestI < planeSize - 1 && plane[bestI] != best) ++bestI;
    }
    y[p] = best;
    indices[p] = bestI;
  }
}
#endif

// Overwrites dx. GPU: one item per input pixel. Host: one (n, c) plane per item, so no index is
// divided per value (a 64-bit division per value made these ten times slower than the store).
#if PK_GPU
PK_KERNEL void global_avg_pool2d_backward(int64_t n, const float* dy, float* dx, int64_t planeSize) {
  PK_FOR(i, n) { dx[i] = dy[i / planeSize] / (float)planeSize; }
}

// The plane's gradient goes to its argmax only.
PK_KERNEL void global_max_pool2d_backward(int64_t n, const float* dy, const int64_t* indices, float* dx,
                                          int64_t planeSize) {
  PK_FOR(i, n) {
    int64_t p = i / planeSize;
    dx[i] = (i - p * planeSize) == indices[p] ? dy[p] : 0.0f;
  }
}
#else
PK_KERNEL void global_avg_pool2d_backward(int64_t n, const float* dy, float* dx, int64_t planeSize) {
  PK_FOR_WORK(p, n / planeSize, planeSize) {
    const float g = dy[p] / (float)planeSize;
    float* dxp = dx + p * planeSize;
    for (int64_t k = 0; k < planeSize; ++k) dxp[k] = g;
  }
}

PK_KERNEL void global_max_pool2d_backward(int64_t n, const float* dy, const int64_t* indices, float* dx,
                                          int64_t planeSize) {
  PK_FOR_WORK(p, n / planeSize, planeSize) {
    float* dxp = dx + p * planeSize;
    memset(dxp, 0, sizeof(float) * planeSize);
    dxp[indices[p]] = dy[p];
  }
}
#endif

// ---- max_pool2d ----------------------------------------------------------------------------

#define POOL_SPAN 256

// One item per output value: window rows oh * strideH - padH + ki * dilationH (likewise columns);
// rows and columns outside the input are the -inf padding and never selected.
PK_KERNEL void max_pool2d_forward(int64_t n, const float* x, float* y, int64_t* indices, int height,
                                  int width, int outH, int outW, int kernelH, int kernelW, int strideH,
                                  int strideW, int padH, int padW, int dilationH, int dilationW) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    const float* xp = x + plane * height * width;
    float best = -INFINITY;
    int64_t bestI = -1;
    for (int ki = 0; ki < kernelH; ++ki) {
      int64_t h = oh * strideH - padH + (int64_t)ki * dilationH;
      if (h < 0 || h >= height) continue;
      for (int kj = 0; kj < kernelW; ++kj) {
        int64_t w = ow * strideW - padW + (int64_t)kj * dilationW;
        if (w < 0 || w >= width) continue;
        int64_t idx = h * width + w;
        // The first pixel seen counts as the incumbent even when it is -inf.
        if (bestI < 0 || pool_max_beats(xp[idx], idx, best, bestI)) { best = xp[idx]; bestI = idx; }
      }
    }
    y[i] = best;
    indices[i] = bestI;
  }
#else
  // Host: a row of outputs per item (no index decoding per value), in spans of POOL_SPAN outputs
  // updated tap by tap, so each tap is a branch-free loop over the span that vectorises. Taps go
  // in increasing pixel index, so pool_max_beats reduces to "first tap, larger, or NaN".
  PK_FOR_WORK(row, n / outW, (int64_t)outW * kernelH * kernelW) {
    const int64_t oh = row % outH;
    const float* xp = x + row / outH * height * width;
    for (int64_t ow0 = 0; ow0 < outW; ow0 += POOL_SPAN) {
      const int len = (int)(outW - ow0 < POOL_SPAN ? outW - ow0 : POOL_SPAN);
      float best[POOL_SPAN];
      int64_t bestI[POOL_SPAN];
      for (int k = 0; k < len; ++k) { best[k] = -INFINITY; bestI[k] = -1; }
      for (int ki = 0; ki < kernelH; ++ki) {
        const int64_t h = oh * strideH - padH + (int64_t)ki * dilationH;
        if (h < 0 || h >= height) continue;
        for (int kj = 0; kj < kernelW; ++kj) {
          // Span output k taps column w0 + k * strideW; [lo, hi) lie inside the row.
          const int64_t w0 = ow0 * strideW + (int64_t)kj * dilationW - padW;
          int lo, hi;
          pk_inside_range(w0, strideW, width, len, &lo, &hi);
          const int64_t base = h * width + w0;
          for (int k = lo; k < hi; ++k) {
            const float v = xp[base + (int64_t)k * strideW];
            const bool take = bestI[k] < 0 || v > best[k] || v != v;
            best[k] = take ? v : best[k];
            bestI[k] = take ? base + (int64_t)k * strideW : bestI[k];
          }
        }
      }
      for (int k = 0; k < len; ++k) {
        y[row * outW + ow0 + k] = best[k];
        indices[row * outW + ow0 + k] = bestI[k];
      }
    }
  }
#endif
}

// One item per input pixel: the windows that can hold pixel (h, w) are those with
// oh * strideH - padH + ki * dilationH == h for some ki (the adjoint walk of col2im); each sends
// its gradient here when its argmax is this pixel. A gather rather than a scatter from the
// outputs: overlapping windows (stride < kernel) would need atomics there, giving sums whose
// order varies run to run on the GPU; here each pixel sums its windows in a fixed order, the work
// is the same (at most kernelH * kernelW windows per pixel), and dx needs no zero-fill pass.
// Overwrites dx.
PK_KERNEL void max_pool2d_backward(int64_t n, const float* dy, const int64_t* indices, float* dx, int height,
                                   int width, int outH, int outW, int kernelH, int kernelW, int strideH,
                                   int strideW, int padH, int padW, int dilationH, int dilationW) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t w = i % width;
    int64_t h = (i / width) % height;
    int64_t plane = i / ((int64_t)width * height);
    int64_t self = h * width + w;
    const float* dyp = dy + plane * outH * outW;
    const int64_t* ip = indices + plane * outH * outW;
    float sum = 0.0f;
    for (int ki = 0; ki < kernelH; ++ki) {
      int64_t hs = h + padH - (int64_t)ki * dilationH;
      if (hs < 0 || hs % strideH != 0) continue;
      int64_t oh = hs / strideH;
      if (oh >= outH) continue;
      for (int kj = 0; kj < kernelW; ++kj) {
        int64_t ws = w + padW - (int64_t)kj * dilationW;
        if (ws < 0 || ws % strideW != 0) continue;
        int64_t ow = ws / strideW;
        if (ow >= outW) continue;
        int64_t o = oh * outW + ow;
        if (ip[o] == self) sum += dyp[o];
      }
    }
    dx[i] = sum;
  }
#else
  // Host: one item per plane owns it, so the saved argmax can be followed directly (a scatter in
  // output order, PyTorch's CPU order) without the gather's per-pixel divisions or atomics.
  const int64_t inPlane = (int64_t)height * width;
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / inPlane, inPlane + outPlane) {
    float* dxp = dx + plane * inPlane;
    const float* dyp = dy + plane * outPlane;
    const int64_t* ip = indices + plane * outPlane;
    for (int64_t k = 0; k < inPlane; ++k) dxp[k] = 0.0f;
    for (int64_t o = 0; o < outPlane; ++o) {
      if (ip[o] >= 0) dxp[ip[o]] += dyp[o];  // -1: a window of padding only, nothing to route
    }
  }
#endif
}

// ---- avg_pool2d ----------------------------------------------------------------------------

// PyTorch's divisor for output (oh, ow): divisorOverride when nonzero; else with countIncludePad
// the window clipped to the padded input (padding counts, the ceil_mode overhang past it does
// not); else the number of real pixels in the window.
PK_INLINE int pool_avg_divisor(int64_t oh, int64_t ow, int height, int width, int kernelH, int kernelW,
                               int strideH, int strideW, int padH, int padW, int countIncludePad,
                               int divisorOverride) {
  if (divisorOverride != 0) return divisorOverride;
  int64_t h0 = oh * strideH - padH;
  int64_t w0 = ow * strideW - padW;
  int64_t h1 = h0 + kernelH < (int64_t)height + padH ? h0 + kernelH : (int64_t)height + padH;
  int64_t w1 = w0 + kernelW < (int64_t)width + padW ? w0 + kernelW : (int64_t)width + padW;
  if (countIncludePad) return (int)((h1 - h0) * (w1 - w0));
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > height) h1 = height;
  if (w1 > width) w1 = width;
  return (int)((h1 - h0) * (w1 - w0));
}

// One item per output value (PK_FOR_ROWS: output rows of a plane); the window never is empty (the
// output-size rule keeps every window start inside the input or its left padding, and padding is
// at most half the kernel).
PK_KERNEL void avg_pool2d_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                  int outW, int kernelH, int kernelW, int strideH, int strideW, int padH,
                                  int padW, int countIncludePad, int divisorOverride) {
  PK_FOR_ROWS(row, ow, n / outW, outW) {
    const int64_t i = row * outW + ow;
    int64_t oh = row % outH;
    int64_t plane = row / outH;
    const float* xp = x + plane * height * width;
    int64_t h0 = oh * strideH - padH;
    int64_t w0 = ow * strideW - padW;
    int64_t h1 = h0 + kernelH < height ? h0 + kernelH : height;
    int64_t w1 = w0 + kernelW < width ? w0 + kernelW : width;
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    float sum = 0.0f;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) sum += xp[h * width + w];
    }
    y[i] = sum / (float)pool_avg_divisor(oh, ow, height, width, kernelH, kernelW, strideH, strideW, padH, padW,
                                         countIncludePad, divisorOverride);
  }
}

// One item per input pixel (PK_FOR_ROWS: input rows of a plane): sums dy / divisor over the
// windows that cover it, i.e. the outputs with oh * strideH - padH <= h < oh * strideH - padH +
// kernelH (likewise columns). Overwrites dx.
PK_KERNEL void avg_pool2d_backward(int64_t n, const float* dy, float* dx, int height, int width, int outH,
                                   int outW, int kernelH, int kernelW, int strideH, int strideW, int padH,
                                   int padW, int countIncludePad, int divisorOverride) {
#if !PK_GPU
  const int64_t planes = n / ((int64_t)height * width);
  if (planes >= 16) {
    // Host, a plane per item: each output's dy / divisor is added to its window's pixels, outputs
    // in row-major order, so every pixel sums its windows in the order of the gather below (the
    // same bits), without its per-pixel divisions (0.4x PyTorch at 8x64x56x56 k2 s2).
    PK_FOR_WORK(plane, planes, (int64_t)outH * outW * kernelH * kernelW) {
      float* dxp = dx + plane * height * width;
      const float* dyp = dy + plane * outH * outW;
      float* g = (float*)malloc(sizeof(float) * outW);  // the output row's dy / divisor
      memset(dxp, 0, sizeof(float) * height * width);
      for (int64_t oh = 0; oh < outH; ++oh) {
        for (int64_t ow = 0; ow < outW; ++ow) {
          g[ow] = dyp[oh * outW + ow] / (float)pool_avg_divisor(oh, ow, height, width, kernelH, kernelW, strideH,
                                                                strideW, padH, padW, countIncludePad, divisorOverride);
        }
        const int64_t h0 = oh * strideH - padH;
        const int64_t hLo = h0 > 0 ? h0 : 0;
        const int64_t hHi = h0 + kernelH < height ? h0 + kernelH : height;
        for (int64_t h = hLo; h < hHi; ++h) {
          float* dxr = dxp + h * width;
          for (int64_t ow = 0; ow < outW; ++ow) {
            const int64_t w0 = ow * strideW - padW;
            const int64_t wLo = w0 > 0 ? w0 : 0;
            const int64_t wHi = w0 + kernelW < width ? w0 + kernelW : width;
            for (int64_t w = wLo; w < wHi; ++w) dxr[w] += g[ow];
          }
        }
      }
      free(g);
    }
    return;
  }
#endif
  PK_FOR_ROWS(row, w, n / width, width) {
    const int64_t i = row * width + w;
    int64_t h = row % height;
    int64_t plane = row / height;
    const float* dyp = dy + plane * outH * outW;
    int64_t ohFirst = h + padH < kernelH ? 0 : (h + padH - kernelH) / strideH + 1;
    int64_t owFirst = w + padW < kernelW ? 0 : (w + padW - kernelW) / strideW + 1;
    int64_t ohEnd = (h + padH) / strideH + 1 < outH ? (h + padH) / strideH + 1 : outH;
    int64_t owEnd = (w + padW) / strideW + 1 < outW ? (w + padW) / strideW + 1 : outW;
    float sum = 0.0f;
    for (int64_t oh = ohFirst; oh < ohEnd; ++oh) {
      for (int64_t ow = owFirst; ow < owEnd; ++ow) {
        sum += dyp[oh * outW + ow] / (float)pool_avg_divisor(oh, ow, height, width, kernelH, kernelW, strideH,
                                                             strideW, padH, padW, countIncludePad,
                                                             divisorOverride);
      }
    }
    dx[i] = sum;
  }
}
