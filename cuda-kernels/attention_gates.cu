// Attention gates of SE (Hu et al. 2018, "Squeeze-and-Excitation Networks"), CBAM (Woo et al. 2018,
// "CBAM: Convolutional Block Attention Module") and DCANet (Ma et al. 2020, "DCANet: Learning
// Connected Attentions for Convolutional Neural Networks"), forward and backward:
//  - gate_channel_mean_max: CBAM's spatial descriptor in one pass, x [N, C, H, W] -> y [N, 2, H, W]
//    (y[:, 0] = mean over C, y[:, 1] = max over C) with argmax [N, H, W] (int64 channel index);
//  - gate_channel / gate_spatial: the final scaling fused with its gate, y = x * g(a), a [N, C] for
//    the channel gate (SE, CBAM's channel attention) or [N, H*W] for the spatial one; g is
//    sigmoid (gate 0) or hard sigmoid relu6(a + 3) / 6 (gate 1);
//  - dca_layer_norm: LayerNorm over the last dim of short rows [R, K] (DCANet's attention
//    connection normalises the mixed channel descriptors [N, C]).
// Max selection (PyTorch's max(dim)): the first maximum wins ties and the first NaN wins over every
// number, so NaN propagates; its gradient goes to the selected channel only.
// Thread mapping is given per kernel; planeSize = H * W.
#include "plugkit/portable.cuh"

#define GATE_SIGMOID 0
#define GATE_HARD_SIGMOID 1

PK_INLINE float gates_apply(float a, int gate) {
  if (gate == GATE_HARD_SIGMOID) return fminf(fmaxf(a + 3.0f, 0.0f), 6.0f) / 6.0f;
  return pk_sigmoid(a);
}

// dg/da from a and s = g(a). Hard sigmoid: 1/6 strictly inside (-3, 3), 0 elsewhere (PyTorch's
// hardsigmoid_backward).
PK_INLINE float gates_slope(float a, float s, int gate) {
  if (gate == GATE_HARD_SIGMOID) return (a > -3.0f && a < 3.0f) ? 1.0f / 6.0f : 0.0f;
  return s * (1.0f - s);
}

// True when v replaces best in PyTorch's sequential max scan: a larger number, or a first NaN.
PK_INLINE bool gates_max_beats(float v, float best) {
  if (best != best) return false;
  return v > best || v != v;
}

// ---- channel mean and max ------------------------------------------------------------------
// Forward: n = N * H * W items, one per (n, pixel), each looping over the channels. GPU: one thread
// per item; neighbouring threads read neighbouring pixels, so every channel step is a coalesced row.
// Host: items go in tiles of GATES_TILE pixels of one image, and each channel row of a tile is a
// unit-stride, vectorisable loop (one pixel per iteration would stride a plane per load).
// Backward: one item per input value (a gather, no atomics): the mean's share plus, at the argmax
// channel, the max's gradient; it overwrites dx. The host walks (n, c) planes, so no index is
// divided per value.
// 1024 pixels: 4 KB unit-stride runs per channel row keep the hardware prefetchers streaming (tiles
// of 128 measured several times slower at 8x256x28x28), and a tile's per-pixel arrays (16 KB) stay in L1.
#define GATES_TILE 1024
#define GATES_LANES 8

#if PK_GPU
PK_KERNEL void gate_channel_mean_max_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y,
                                             int64_t* __restrict__ argmax, int channels, int64_t planeSize) {
  PK_FOR(i, n) {
    int64_t b = i / planeSize;
    int64_t p = i - b * planeSize;
    const float* xp = x + b * channels * planeSize + p;
    float sum = 0.0f;
    float best = xp[0];
    int bestC = 0;
    for (int c = 0; c < channels; ++c) {
      float v = xp[c * planeSize];
      sum += v;
      if (gates_max_beats(v, best)) { best = v; bestC = c; }
    }
    y[(2 * b) * planeSize + p] = sum / (float)channels;
    y[(2 * b + 1) * planeSize + p] = best;
    argmax[i] = bestC;
  }
}

PK_KERNEL void gate_channel_mean_max_backward(int64_t n, const float* __restrict__ dy,
                                              const int64_t* __restrict__ argmax, float* __restrict__ dx,
                                              int channels, int64_t planeSize) {
  PK_FOR(i, n) {
    int64_t plane = i / planeSize;
    int64_t p = i - plane * planeSize;
    int64_t b = plane / channels;
    int64_t c = plane - b * channels;
    const float* dyb = dy + 2 * b * planeSize;
    float g = dyb[p] / (float)channels;
    if (argmax[b * planeSize + p] == c) g += dyb[planeSize + p];
    dx[i] = g;
  }
}
#else
PK_KERNEL void gate_channel_mean_max_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y,
                                             int64_t* __restrict__ argmax, int channels, int64_t planeSize) {
  const int64_t tilesPerImage = (planeSize + GATES_TILE - 1) / GATES_TILE;
  const int64_t tiles = n / planeSize * tilesPerImage;
  #pragma omp parallel for schedule(static) if (n * channels > PK_PAR_MIN && tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / tilesPerImage;
    const int64_t p0 = (t - b * tilesPerImage) * GATES_TILE;
    const int len = (int)(planeSize - p0 < GATES_TILE ? planeSize - p0 : GATES_TILE);
    const float* xb = x + b * channels * planeSize + p0;
    float sum[GATES_TILE];
    float best[GATES_TILE];
    int bestC[GATES_TILE];
    for (int k = 0; k < len; ++k) { sum[k] = 0.0f; best[k] = xb[k]; bestC[k] = 0; }
    for (int c = 0; c < channels; ++c) {
      const float* xc = xb + c * planeSize;
      for (int k = 0; k < len; ++k) {
        const float v = xc[k];
        const bool take = gates_max_beats(v, best[k]);
        sum[k] += v;
        best[k] = take ? v : best[k];
        bestC[k] = take ? c : bestC[k];
      }
    }
    float* mean = y + 2 * b * planeSize + p0;
    for (int k = 0; k < len; ++k) {
      mean[k] = sum[k] / (float)channels;
      mean[planeSize + k] = best[k];
      argmax[b * planeSize + p0 + k] = bestC[k];
    }
  }
}

PK_KERNEL void gate_channel_mean_max_backward(int64_t n, const float* __restrict__ dy,
                                              const int64_t* __restrict__ argmax, float* __restrict__ dx,
                                              int channels, int64_t planeSize) {
  const int64_t planes = n / planeSize;
  #pragma omp parallel for schedule(static) if (n > PK_PAR_MIN && planes > 1)
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t b = q / channels;
    const int64_t c = q - b * channels;
    const float* dMean = dy + 2 * b * planeSize;
    const float* dMax = dMean + planeSize;
    const int64_t* am = argmax + b * planeSize;
    float* dxq = dx + q * planeSize;
    for (int64_t p = 0; p < planeSize; ++p) dxq[p] = dMean[p] / (float)channels + (am[p] == c ? dMax[p] : 0.0f);
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
    if (threadIdx.x == 0) da[q] = sum * gates_slope(a[q], s, gate);
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
    // GATES_LANES independent partial sums: a float reduction the compiler may vectorise without
    // reassociating (one serial sum would be bound by the add latency).
    float lanes[GATES_LANES] = {0.0f};
    int64_t i = 0;
    for (; i + GATES_LANES <= planeSize; i += GATES_LANES) {
      for (int k = 0; k < GATES_LANES; ++k) {
        dxq[i + k] = dyq[i + k] * s;
        lanes[k] += dyq[i + k] * xq[i + k];
      }
    }
    float sum = 0.0f;
    for (; i < planeSize; ++i) {
      dxq[i] = dyq[i] * s;
      sum += dyq[i] * xq[i];
    }
    for (int k = 0; k < GATES_LANES; ++k) sum += lanes[k];
    da[q] = sum * gates_slope(a[q], s, gate);
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
    da[i] = sum * gates_slope(a[i], s, gate);
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
    for (int k = 0; k < len; ++k) da[b * planeSize + p0 + k] = sum[k] * gates_slope(ab[k], s[k], gate);
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
