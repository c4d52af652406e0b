// Attention gates of SE (Hu et al. 2018, "Squeeze-and-Excitation Networks"), CBAM (Woo et al. 2018,
// "CBAM: Convolutional Block Attention Module") and DCANet (Ma et al. 2020, "DCANet: Learning
// Connected Attentions for Convolutional Neural Networks"), forward and backward:
//  - gate_channel_mean_max: CBAM's spatial descriptor in one pass, x [N, C, H, W] -> y [N, 2, H, W]
//    (y[:, 0] = mean over C, y[:, 1] = max over C);
//  - gate_global_mean_max: SE's and CBAM's squeeze, the mean and the max of every (n, c) plane in
//    one pass;
//  - gate_channel / gate_spatial: the final scaling fused with its gate, y = x * g(a), a [N, C] for
//    the channel gate (SE, CBAM's channel attention) or [N, H*W] for the spatial one; g is
//    sigmoid (gate 0) or hard sigmoid relu6(a + 3) / 6 (gate 1);
//  - dca_layer_norm: LayerNorm over the last dim of short rows [R, K] (DCANet's attention
//    connection normalises the mixed channel descriptors [N, C]).
// Maxima follow x.amax (timm's modules): NaN propagates and the gradient is shared among ties.
// Thread mapping is given per kernel; planeSize = H * W.
#include "plugkit/portable.cuh"

#define GATE_SIGMOID 0
#define GATE_HARD_SIGMOID 1

// Hard sigmoid as PyTorch's hardsigmoid, min(max(a + 3, 0), 6) / 6 with NaN propagating (its
// std::min/std::max and vector minimum/maximum keep NaN; fminf/fmaxf would give 0.5 or 0).
PK_INLINE float gates_apply(float a, int gate) {
  if (gate == GATE_HARD_SIGMOID) {
    const float t = a + 3.0f;
    return (t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t)) / 6.0f;
  }
  return pk_sigmoid(a);
}

// da from a, s = g(a) and the summed gradient of the gate. Hard sigmoid: PyTorch's
// hardsigmoid_backward, (a > -3 && a < 3) ? grad / 6 : 0, a select, so a NaN a or a NaN sum
// outside (-3, 3) gives 0 as in PyTorch (a product with a zero slope would give NaN).
PK_INLINE float gates_grad(float sum, float a, float s, int gate) {
  if (gate == GATE_HARD_SIGMOID) return (a > -3.0f && a < 3.0f) ? sum * (1.0f / 6.0f) : 0.0f;
  return sum * (s * (1.0f - s));
}

// ---- max with amax's tie rule -----------------------------------------------------------------
// x.amax(dims) (timm's SE and CBAM): the maximum, and its gradient shared equally by every element
// equal to it. Kept as (best, count): count is the number of elements equal to best; a NaN makes
// the maximum NaN with count 0 (no element equals a NaN). Counts are stored as float, the type
// PyTorch divides by (and one the host vectorises; an int64 -> float conversion does not). The backward is PyTorch's
// (dMax / count) * (x == max), so a NaN maximum gives NaN to every element, as PyTorch does.
PK_INLINE void gates_max_merge(float v, int64_t c, float* best, int64_t* count) {
  if (*best != *best) return;
  if (v != v) { *best = v; *count = 0; return; }
  if (v > *best) { *best = v; *count = c; }
  else if (v == *best) { *count += c; }
}

PK_INLINE float gates_max_share(float v, float best, float dMax, float count) {
  return (dMax / count) * (float)(v == best);
}

// ---- channel mean and max (CBAM's spatial descriptor) ------------------------------------------
// Forward: n = N * H * W items, one per (n, pixel), each looping over the channels; y [N, 2, H, W]
// (mean, max), count [N, H, W]. GPU: one thread per item; neighbouring threads read neighbouring
// pixels, so every channel step is a coalesced row. Host: items go in tiles of GATES_TILE pixels of
// one image, and each channel row of a tile is a unit-stride, vectorisable loop (one pixel per
// iteration would stride a plane per load).
// Backward: one item per input value (a gather, no atomics): the mean's share plus the max's share;
// it overwrites dx. The host walks (n, c) planes, so no index is divided per value.
// 1024 pixels: 4 KB unit-stride runs per channel row keep the hardware prefetchers streaming (tiles
// of 128 measured several times slower at 8x256x28x28), and a tile's per-pixel arrays stay in L1.
#define GATES_TILE 1024
#define GATES_LANES 8  // also the width of pk_f8

// The forward of the channel mean and max into desc and count, alone (a == NULL) or behind the
// channel gate (each channel first scaled by g(a) and written to y); see the kernels below.
#if PK_GPU
PK_INLINE void gates_channel_mean_max(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                      float* __restrict__ y, float* __restrict__ desc, float* __restrict__ count,
                                      int channels, int64_t planeSize, int gate) {
  PK_FOR(i, n) {
    int64_t b = i / planeSize;
    int64_t p = i - b * planeSize;
    const int64_t offset = b * channels * planeSize + p;
    float sum = 0.0f;
    float best = -INFINITY;
    int64_t bestCount = 0;
    for (int c = 0; c < channels; ++c) {
      float v = x[offset + c * planeSize];
      if (a != NULL) {
        v *= gates_apply(a[b * channels + c], gate);
        y[offset + c * planeSize] = v;
      }
      sum += v;
      gates_max_merge(v, 1, &best, &bestCount);
    }
    desc[(2 * b) * planeSize + p] = sum / (float)channels;
    desc[(2 * b + 1) * planeSize + p] = best;
    count[i] = (float)bestCount;
  }
}

PK_KERNEL void gate_channel_mean_max_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ y,
                                              const float* __restrict__ count, const float* __restrict__ dy,
                                              float* __restrict__ dx, int channels, int64_t planeSize) {
  PK_FOR(i, n) {
    int64_t plane = i / planeSize;
    int64_t p = i - plane * planeSize;
    int64_t b = plane / channels;
    const int64_t m = (2 * b + 1) * planeSize + p;
    dx[i] = dy[m - planeSize] / (float)channels + gates_max_share(x[i], y[m], dy[m], count[b * planeSize + p]);
  }
}
#else
// Host: branch-free so it vectorises: NaNs are only flagged in the channel loop and settled at the end.
PK_INLINE void gates_channel_mean_max(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                           float* __restrict__ y, float* __restrict__ desc,
                                           float* __restrict__ count, int channels, int64_t planeSize, int gate) {
  const int64_t tilesPerImage = (planeSize + GATES_TILE - 1) / GATES_TILE;
  const int64_t tiles = n / planeSize * tilesPerImage;
  #pragma omp parallel for schedule(static) if (n * channels > PK_PAR_MIN && tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / tilesPerImage;
    const int64_t p0 = (t - b * tilesPerImage) * GATES_TILE;
    const int len = (int)(planeSize - p0 < GATES_TILE ? planeSize - p0 : GATES_TILE);
    float sum[GATES_TILE];
    float best[GATES_TILE];
    int bestCount[GATES_TILE];
    int nan[GATES_TILE];
    for (int k = 0; k < len; ++k) { sum[k] = 0.0f; best[k] = -INFINITY; bestCount[k] = 0; nan[k] = 0; }
    for (int c = 0; c < channels; ++c) {
      const float s = a != NULL ? gates_apply(a[b * channels + c], gate) : 1.0f;  // x * 1 is x, NaN included
      const int64_t offset = (b * channels + c) * planeSize + p0;
      for (int k = 0; k < len; ++k) {
        const float v = x[offset + k] * s;
        if (y != NULL) y[offset + k] = v;
        sum[k] += v;
        nan[k] |= v != v;
        bestCount[k] = v > best[k] ? 1 : bestCount[k] + (v == best[k]);
        best[k] = v > best[k] ? v : best[k];
      }
    }
    float* mean = desc + 2 * b * planeSize + p0;
    for (int k = 0; k < len; ++k) {
      mean[k] = sum[k] / (float)channels;
      mean[planeSize + k] = nan[k] ? NAN : best[k];
      count[b * planeSize + p0 + k] = nan[k] ? 0.0f : (float)bestCount[k];
    }
  }
}

PK_KERNEL void gate_channel_mean_max_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ y,
                                              const float* __restrict__ count, const float* __restrict__ dy,
                                              float* __restrict__ dx, int channels, int64_t planeSize) {
  const int64_t planes = n / planeSize;
  #pragma omp parallel for schedule(static) if (n > PK_PAR_MIN && planes > 1)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t b = q / channels;
    const float* dMean = dy + 2 * b * planeSize;
    const float* dMax = dMean + planeSize;
    const float* yMax = y + (2 * b + 1) * planeSize;
    const float* cb = count + b * planeSize;
    const float* xq = x + q * planeSize;
    float* dxq = dx + q * planeSize;
    for (int64_t p = 0; p < planeSize; ++p) {
      dxq[p] = dMean[p] / (float)channels + gates_max_share(xq[p], yMax[p], dMax[p], cb[p]);
    }
  }
}
#endif

PK_KERNEL void gate_channel_mean_max_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y,
                                             float* __restrict__ count, int channels, int64_t planeSize) {
  gates_channel_mean_max(n, x, NULL, NULL, y, count, channels, planeSize, GATE_SIGMOID);
}

// ---- channel gate fused with the channel mean and max (CBAM's two halves joined) --------------
// y = x * g(a) (a [N, C]) and, in the same pass, y's channel mean and max per pixel as
// gate_channel_mean_max_forward computes them from y: desc [N, 2, H, W], count [N, H, W]. One read
// of x instead of two; same thread mapping, the gate evaluated per (n, c).
PK_KERNEL void gate_channel_mean_max_fused_forward(int64_t n, const float* __restrict__ x,
                                                   const float* __restrict__ a, float* __restrict__ y,
                                                   float* __restrict__ desc, float* __restrict__ count,
                                                   int channels, int64_t planeSize, int gate) {
  gates_channel_mean_max(n, x, a, y, desc, count, channels, planeSize, gate);
}

// ---- global mean and max of each plane (SE's and CBAM's squeeze) -------------------------------
// x.mean((2, 3)) and x.amax((2, 3)) in one read of x: n = N * C planes; y [2, n] (y[p] the mean of
// plane p, y[n + p] its maximum), count [n]. Backward: dx = dMean / planeSize + the max's share;
// overwrites dx. GPU: one block of GATES_BLOCK threads per plane, a tree over shared memory
// combining (sum, max, count); the backward is one thread per value. Host: one plane per item, the
// forward with GATES_LANES independent lanes so it vectorises (the sum in double, as
// global_avg_pool2d_forward).
#define GATES_BLOCK 256
#define GATES_SUM_BLOCK 128

#if PK_GPU
PK_KERNEL void gate_global_mean_max_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y,
                                            float* __restrict__ count, int64_t planeSize) {
  __shared__ float sums[GATES_BLOCK];
  __shared__ float bests[GATES_BLOCK];
  __shared__ int64_t counts[GATES_BLOCK];
  for (int64_t q = blockIdx.x; q < n; q += gridDim.x) {
    const float* xq = x + q * planeSize;
    float sum = 0.0f;
    float best = -INFINITY;
    int64_t bestCount = 0;
    for (int64_t i = threadIdx.x; i < planeSize; i += blockDim.x) {
      sum += xq[i];
      gates_max_merge(xq[i], 1, &best, &bestCount);
    }
    __syncthreads();  // the previous plane's results may still be read
    sums[threadIdx.x] = sum;
    bests[threadIdx.x] = best;
    counts[threadIdx.x] = bestCount;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
      if (threadIdx.x < half) {
        sums[threadIdx.x] += sums[threadIdx.x + half];
        gates_max_merge(bests[threadIdx.x + half], counts[threadIdx.x + half], &bests[threadIdx.x], &counts[threadIdx.x]);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      y[q] = sums[0] / (float)planeSize;
      y[n + q] = bests[0];
      count[q] = (float)counts[0];
    }
  }
}

PK_KERNEL void gate_global_mean_max_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ y,
                                             const float* __restrict__ count, const float* __restrict__ dy,
                                             float* __restrict__ dx, int64_t planes, int64_t planeSize) {
  PK_FOR(i, n) {
    const int64_t q = i / planeSize;
    dx[i] = dy[q] / (float)planeSize + gates_max_share(x[i], y[planes + q], dy[planes + q], count[q]);
  }
}
#else
PK_KERNEL void gate_global_mean_max_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y,
                                            float* __restrict__ count, int64_t planeSize) {
  PK_FOR_WORK(q, n, planeSize) {
    const float* xq = x + q * planeSize;
    // One vector pass for the sum, the max and NaN flags, then the ties of the max (the plane is
    // still in cache). The sum adds float lanes over blocks of GATES_SUM_BLOCK values (a few adds
    // each) and the blocks in double, as precise as global_avg_pool2d_forward's double lanes
    // without their float -> double conversions, which made this pass compute-bound.
    double sum = 0.0;
    pk_f8 bests = pk_f8{} - INFINITY;
    pk_i8 nans = pk_i8{};
    const int64_t body = planeSize / GATES_LANES * GATES_LANES;
    for (int64_t i = 0; i < body;) {
      const int64_t end = i + GATES_SUM_BLOCK < body ? i + GATES_SUM_BLOCK : body;
      pk_f8 partial = pk_f8{};
      for (; i < end; i += GATES_LANES) {
        const pk_f8 v = pk_load8(xq + i);
        partial += v;
        nans |= v != v;
        bests = v > bests ? v : bests;
      }
      for (int k = 0; k < GATES_LANES; ++k) sum += partial[k];
    }
    float best = -INFINITY;
    int nan = 0;
    for (int64_t i = body; i < planeSize; ++i) {
      sum += xq[i];
      nan |= xq[i] != xq[i];
      best = xq[i] > best ? xq[i] : best;
    }
    for (int k = 0; k < GATES_LANES; ++k) {
      nan |= nans[k] != 0;
      best = bests[k] > best ? bests[k] : best;
    }
    int64_t ties = 0;
    if (!nan) {
      // 32-bit counts vectorise twice as wide; blocks keep them from overflowing.
      for (int64_t i0 = 0; i0 < planeSize; i0 += GATES_SUM_BLOCK) {
        const int64_t end = i0 + GATES_SUM_BLOCK < planeSize ? i0 + GATES_SUM_BLOCK : planeSize;
        int blockTies = 0;
        for (int64_t k = i0; k < end; ++k) blockTies += xq[k] == best;
        ties += blockTies;
      }
    }
    y[q] = (float)(sum / (double)planeSize);
    y[n + q] = nan ? NAN : best;
    count[q] = (float)ties;
  }
}

PK_KERNEL void gate_global_mean_max_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ y,
                                             const float* __restrict__ count, const float* __restrict__ dy,
                                             float* __restrict__ dx, int64_t planes, int64_t planeSize) {
  PK_FOR_WORK(q, planes, planeSize) {
    const float dMean = dy[q] / (float)planeSize;
    const float best = y[planes + q];
    const float dMax = dy[planes + q];
    const float c = count[q];
    const float* xq = x + q * planeSize;
    float* dxq = dx + q * planeSize;
    for (int64_t i = 0; i < planeSize; ++i) dxq[i] = dMean + gates_max_share(xq[i], best, dMax, c);
  }
}
#endif

// ---- gated scaling, forward ------------------------------------------------------------------
// n = N * C * H * W values. GPU: one thread per value (any plane size keeps every thread busy and
// reads coalesced; the gate is a few flops). Host: the channel gate walks (n, c) planes with the
// gate evaluated once per plane; the spatial gate walks tiles of GATES_TILE pixels of one image,
// evaluating each pixel's gate once for all channels.

#if PK_GPU
PK_KERNEL void gate_channel_forward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                    float* __restrict__ y, int64_t planeSize, int gate) {
  PK_FOR(i, n) { y[i] = x[i] * gates_apply(a[i / planeSize], gate); }
}

PK_KERNEL void gate_spatial_forward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                    float* __restrict__ y, int channels, int64_t planeSize, int gate) {
  PK_FOR(i, n) {
    int64_t b = i / (channels * planeSize);
    y[i] = x[i] * gates_apply(a[b * planeSize + i % planeSize], gate);
  }
}
#else
PK_KERNEL void gate_channel_forward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                    float* __restrict__ y, int64_t planeSize, int gate) {
  const int64_t planes = n / planeSize;
  #pragma omp parallel for schedule(static) if (n > PK_PAR_MIN && planes > 1)
  for (int64_t q = 0; q < planes; ++q) {
    const float s = gates_apply(a[q], gate);
    const float* xq = x + q * planeSize;
    float* yq = y + q * planeSize;
    for (int64_t i = 0; i < planeSize; ++i) yq[i] = xq[i] * s;
  }
}

PK_KERNEL void gate_spatial_forward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                    float* __restrict__ y, int channels, int64_t planeSize, int gate) {
  const int64_t tilesPerImage = (planeSize + GATES_TILE - 1) / GATES_TILE;
  const int64_t tiles = n / (channels * planeSize) * tilesPerImage;
  #pragma omp parallel for schedule(static) if (n > PK_PAR_MIN && tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / tilesPerImage;
    const int64_t p0 = (t - b * tilesPerImage) * GATES_TILE;
    const int len = (int)(planeSize - p0 < GATES_TILE ? planeSize - p0 : GATES_TILE);
    float s[GATES_TILE];
    for (int k = 0; k < len; ++k) s[k] = gates_apply(a[b * planeSize + p0 + k], gate);
    for (int c = 0; c < channels; ++c) {
      const int64_t offset = (b * channels + c) * planeSize + p0;
      for (int k = 0; k < len; ++k) y[offset + k] = x[offset + k] * s[k];
    }
  }
}
#endif

// ---- gated scaling, backward -----------------------------------------------------------------

// Channel gate: n = N * C planes. dx = dy * s, da = g'(a) * sum over the plane of dy * x.
// GPU: one block per plane (Kernel.withBlock, 256 threads: 8 warps hide the load latency of a
// 28x28 plane); the threads stride the plane and pk_block_sum combines their partial sums, so no
// atomics and a fixed summation order. Blocks stride over planes, so any grid is correct.
// Host: one plane per iteration.
#if PK_GPU
PK_KERNEL void gate_channel_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                     const float* __restrict__ dy, float* __restrict__ dx,
                                     float* __restrict__ da, int64_t planeSize, int gate) {
  for (int64_t q = blockIdx.x; q < n; q += gridDim.x) {
    const float s = gates_apply(a[q], gate);
    const float* xq = x + q * planeSize;
    const float* dyq = dy + q * planeSize;
    float* dxq = dx + q * planeSize;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < planeSize; i += blockDim.x) {
      dxq[i] = dyq[i] * s;
      sum += dyq[i] * xq[i];
    }
    sum = pk_block_sum(sum);
    if (threadIdx.x == 0) da[q] = gates_grad(sum, a[q], s, gate);
  }
}
#else
PK_KERNEL void gate_channel_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                     const float* __restrict__ dy, float* __restrict__ dx,
                                     float* __restrict__ da, int64_t planeSize, int gate) {
  #pragma omp parallel for schedule(static) if (n * planeSize > PK_PAR_MIN && n > 1)
  for (int64_t q = 0; q < n; ++q) {
    const float s = gates_apply(a[q], gate);
    const float* xq = x + q * planeSize;
    const float* dyq = dy + q * planeSize;
    float* dxq = dx + q * planeSize;
    // GATES_LANES independent partial sums, one vector register: a float reduction vectorised
    // without reassociating (one serial sum would be bound by the add latency).
    pk_f8 lanes = pk_f8{};
    int64_t i = 0;
    for (; i + GATES_LANES <= planeSize; i += GATES_LANES) {
      const pk_f8 g = pk_load8(dyq + i);
      pk_store8(dxq + i, g * s);
      lanes += g * pk_load8(xq + i);
    }
    float sum = 0.0f;
    for (; i < planeSize; ++i) {
      dxq[i] = dyq[i] * s;
      sum += dyq[i] * xq[i];
    }
    for (int k = 0; k < GATES_LANES; ++k) sum += lanes[k];
    da[q] = gates_grad(sum, a[q], s, gate);
  }
}
#endif

// Spatial gate: n = N * H * W items, one per (n, pixel), each looping over the channels:
// dx = dy * s, da = g'(a) * sum over C of dy * x. Each item owns its da value and its dx column, so
// there are no atomics. GPU: one thread per item (coalesced rows, as the mean/max forward). Host:
// tiles of GATES_TILE pixels of one image with unit-stride channel rows.
#if PK_GPU
PK_KERNEL void gate_spatial_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                     const float* __restrict__ dy, float* __restrict__ dx,
                                     float* __restrict__ da, int channels, int64_t planeSize, int gate) {
  PK_FOR(i, n) {
    int64_t b = i / planeSize;
    int64_t offset = b * channels * planeSize + (i - b * planeSize);
    const float s = gates_apply(a[i], gate);
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) {
      int64_t j = offset + c * planeSize;
      dx[j] = dy[j] * s;
      sum += dy[j] * x[j];
    }
    da[i] = gates_grad(sum, a[i], s, gate);
  }
}
#else
PK_KERNEL void gate_spatial_backward(int64_t n, const float* __restrict__ x, const float* __restrict__ a,
                                     const float* __restrict__ dy, float* __restrict__ dx,
                                     float* __restrict__ da, int channels, int64_t planeSize, int gate) {
  const int64_t tilesPerImage = (planeSize + GATES_TILE - 1) / GATES_TILE;
  const int64_t tiles = n / planeSize * tilesPerImage;
  #pragma omp parallel for schedule(static) if (n * channels > PK_PAR_MIN && tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / tilesPerImage;
    const int64_t p0 = (t - b * tilesPerImage) * GATES_TILE;
    const int len = (int)(planeSize - p0 < GATES_TILE ? planeSize - p0 : GATES_TILE);
    const float* ab = a + b * planeSize + p0;
    float s[GATES_TILE];
    float sum[GATES_TILE];
    for (int k = 0; k < len; ++k) { s[k] = gates_apply(ab[k], gate); sum[k] = 0.0f; }
    for (int c = 0; c < channels; ++c) {
      const int64_t offset = (b * channels + c) * planeSize + p0;
      for (int k = 0; k < len; ++k) {
        dx[offset + k] = dy[offset + k] * s[k];
        sum[k] += dy[offset + k] * x[offset + k];
      }
    }
    for (int k = 0; k < len; ++k) da[b * planeSize + p0 + k] = gates_grad(sum[k], ab[k], s[k], gate);
  }
}
#endif

// ---- LayerNorm over short rows (DCANet's connection) --------------------------------------------
// x, y, dy, dx [rows, cols]; weight, bias [cols]; mean, rstd [rows] saved for the backward.
// y = (x - mean) * rstd * weight + bias with the biased variance, as torch.nn.LayerNorm. One item
// per row: the rows are channel descriptors (a few hundred values, a few rows), far too little work
// for block cooperation to pay.
PK_KERNEL void dca_layer_norm_forward(int64_t n, const float* __restrict__ x,
                                      const float* __restrict__ weight, const float* __restrict__ bias,
                                      float* __restrict__ y, float* __restrict__ mean,
                                      float* __restrict__ rstd, int cols, float eps) {
  PK_FOR(r, n) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float mu = 0.0f;
    for (int j = 0; j < cols; ++j) mu += xr[j];
    mu /= (float)cols;
    float var = 0.0f;
    for (int j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    const float inv = 1.0f / sqrtf(var / (float)cols + eps);
    for (int j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * inv * weight[j] + bias[j];
    mean[r] = mu;
    rstd[r] = inv;
  }
}

// One item per row: with g = dy * weight and xhat = (x - mean) * rstd,
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). Overwrites dx.
PK_KERNEL void dca_layer_norm_backward(int64_t n, const float* __restrict__ x,
                                       const float* __restrict__ weight, const float* __restrict__ mean,
                                       const float* __restrict__ rstd, const float* __restrict__ dy,
                                       float* __restrict__ dx, int cols) {
  PK_FOR(r, n) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float sumG = 0.0f;
    float sumGX = 0.0f;
    for (int j = 0; j < cols; ++j) {
      float g = dyr[j] * weight[j];
      sumG += g;
      sumGX += g * (xr[j] - mean[r]) * rstd[r];
    }
    const float meanG = sumG / (float)cols;
    const float meanGX = sumGX / (float)cols;
    for (int j = 0; j < cols; ++j) {
      float xhat = (xr[j] - mean[r]) * rstd[r];
      dxr[j] = rstd[r] * (dyr[j] * weight[j] - meanG - xhat * meanGX);
    }
  }
}

// One item per column, summing over the rows: dweight = sum dy * xhat, dbias = sum dy. Overwrites both.
PK_KERNEL void dca_layer_norm_param_grad(int64_t n, const float* __restrict__ x,
                                         const float* __restrict__ mean, const float* __restrict__ rstd,
                                         const float* __restrict__ dy, float* __restrict__ dweight,
                                         float* __restrict__ dbias, int rows) {
  PK_FOR(j, n) {
    float sw = 0.0f;
    float sb = 0.0f;
    for (int r = 0; r < rows; ++r) {
      float g = dy[r * n + j];
      sw += g * (x[r * n + j] - mean[r]) * rstd[r];
      sb += g;
    }
    dweight[j] = sw;
    dbias[j] = sb;
  }
}
