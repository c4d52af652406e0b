// ASFF's fusion (Liu et al. 2019, "Learning Spatial Fusion for Single-Shot Object Detection"): the
// softmax over the three weight logits of every pixel and the weighted sum of the three resized
// levels, one kernel forward, a main and a small finishing pass backward. The softmax map is never
// stored: the backward recomputes it from the logits (three exps per pixel).
//   logits [N, 3, H, W] (weight_levels' output), f0, f1, f2, y [N, C, H, W]; planeSize = H * W.
//   w = softmax(logits[n, :, p]) = exp(l - m) / sum exp(l - m), m the max of the three
//   y[n, c, p] = w0 f0 + w1 f1 + w2 f2            (PyTorch's order of the sum)
// Backward, with g_k = sum_c dy f_k (the gradient of w_k) and dot = sum_k w_k g_k:
//   df_k = w_k dy,   dlogit_k = w_k (g_k - dot)    (softmax_backward_data)
// The backward runs in two passes: asff_fuse_backward writes df_k and the sums g_k over chunks of
// `chunk` channels into partial [N, chunks, 3, planeSize] (chunks = ceil(C / chunk)), so the work
// spreads over C / chunk times more threads than one per pixel; asff_fuse_backward_logits adds
// the chunks up in order and writes dlogits. No atomics: the same bits every run.
// NaN: a NaN logit makes its pixel's weights NaN (through exp and the sum), as PyTorch's softmax;
// three -inf logits give NaN (exp(-inf - -inf)), as PyTorch's.
#include "plugkit/host_exp.cuh"
#include "plugkit/portable.cuh"

#if PK_GPU
#define asff_exp expf
#else
#define asff_exp pk_host_exp
#endif

// softmax of one pixel's three logits, PyTorch's way: exp(l - max) / sum.
PK_INLINE void asff_softmax3(float l0, float l1, float l2, float* w0, float* w1, float* w2) {
  float m = l0 > l1 ? l0 : l1;
  m = m > l2 ? m : l2;
  const float e0 = asff_exp(l0 - m), e1 = asff_exp(l1 - m), e2 = asff_exp(l2 - m);
  const float s = e0 + e1 + e2;
  *w0 = e0 / s;
  *w1 = e1 / s;
  *w2 = e2 / s;
}

// Backward, pass 2: n = N * planeSize items, one per pixel: g_k summed over the chunks in chunk
// order, then dlogit_k = w_k (g_k - dot). Both targets.
PK_KERNEL void asff_fuse_backward_logits(int64_t n, const float* __restrict__ logits,
                                         const float* __restrict__ partial, float* __restrict__ dlogits, int chunks,
                                         int64_t planeSize) {
  PK_FOR(i, n) {
    const int64_t b = i / planeSize;
    const int64_t p = i - b * planeSize;
    const int64_t lo = b * 3 * planeSize + p;
    float w0, w1, w2;
    asff_softmax3(logits[lo], logits[lo + planeSize], logits[lo + 2 * planeSize], &w0, &w1, &w2);
    float g0 = 0.0f, g1 = 0.0f, g2 = 0.0f;
    const float* g = partial + b * chunks * 3 * planeSize + p;
    for (int k = 0; k < chunks; ++k, g += 3 * planeSize) {
      g0 += g[0];
      g1 += g[planeSize];
      g2 += g[2 * planeSize];
    }
    const float dot = w0 * g0 + w1 * g1 + w2 * g2;
    dlogits[lo] = w0 * (g0 - dot);
    dlogits[lo + planeSize] = w1 * (g1 - dot);
    dlogits[lo + 2 * planeSize] = w2 * (g2 - dot);
  }
}

#if PK_GPU

// Forward: n = N * C * planeSize items, one per output value (neighbouring threads, neighbouring
// pixels: coalesced); the C threads of a pixel read the same three logits, which stay in cache.
PK_KERNEL void asff_fuse_forward(int64_t n, const float* __restrict__ logits, const float* __restrict__ f0,
                                 const float* __restrict__ f1, const float* __restrict__ f2, float* __restrict__ y,
                                 int channels, int64_t planeSize) {
  PK_FOR(i, n) {
    const int64_t plane = i / planeSize;
    const int64_t p = i - plane * planeSize;
    const float* l = logits + (plane / channels) * 3 * planeSize + p;
    float w0, w1, w2;
    asff_softmax3(l[0], l[planeSize], l[2 * planeSize], &w0, &w1, &w2);
    y[i] = f0[i] * w0 + f1[i] * w1 + f2[i] * w2;
  }
}

// Backward, pass 1: n = N * chunks * planeSize items, one per (image, chunk, pixel), pixel fastest
// (coalesced per channel step): df_k of the chunk's channels and their share of g_k.
PK_KERNEL void asff_fuse_backward(int64_t n, const float* __restrict__ logits, const float* __restrict__ f0,
                                  const float* __restrict__ f1, const float* __restrict__ f2,
                                  const float* __restrict__ dy, float* __restrict__ partial, float* __restrict__ df0,
                                  float* __restrict__ df1, float* __restrict__ df2, int channels, int chunk,
                                  int64_t planeSize) {
  const int chunks = (channels + chunk - 1) / chunk;
  PK_FOR(i, n) {
    const int64_t row = i / planeSize;  // b * chunks + the chunk
    const int64_t p = i - row * planeSize;
    const int64_t b = row / chunks;
    const int64_t lo = b * 3 * planeSize + p;
    float w0, w1, w2;
    asff_softmax3(logits[lo], logits[lo + planeSize], logits[lo + 2 * planeSize], &w0, &w1, &w2);
    const int c0 = (int)(row - b * chunks) * chunk;
    const int c1 = c0 + chunk < channels ? c0 + chunk : channels;
    float g0 = 0.0f, g1 = 0.0f, g2 = 0.0f;
    for (int c = c0; c < c1; ++c) {
      const int64_t j = (b * channels + c) * planeSize + p;
      const float d = dy[j];
      g0 += d * f0[j];
      g1 += d * f1[j];
      g2 += d * f2[j];
      df0[j] = d * w0;
      df1[j] = d * w1;
      df2[j] = d * w2;
    }
    float* g = partial + row * 3 * planeSize + p;
    g[0] = g0;
    g[planeSize] = g1;
    g[2 * planeSize] = g2;
  }
}
#else
// Host: pixels go in tiles of one image; a tile's weights are computed once (a vectorisable loop
// with pk_host_exp) and every channel row of the tile is then a unit-stride loop.
#define ASFF_TILE 256
// Forward tiles also split the channels in chunks (weights recomputed per chunk, 3 exps per pixel
// against 3 products per pixel and channel), so a single small image still spreads over the cores.
#define ASFF_CHUNK 32

PK_INLINE void asff_tile_weights(const float* __restrict__ l, int64_t planeSize, int len, float* __restrict__ w0,
                                 float* __restrict__ w1, float* __restrict__ w2) {
  for (int k = 0; k < len; ++k) asff_softmax3(l[k], l[planeSize + k], l[2 * planeSize + k], w0 + k, w1 + k, w2 + k);
}

// n = N * C * planeSize (the GPU's item count).
PK_KERNEL void asff_fuse_forward(int64_t n, const float* __restrict__ logits, const float* __restrict__ f0,
                                 const float* __restrict__ f1, const float* __restrict__ f2, float* __restrict__ y,
                                 int channels, int64_t planeSize) {
  const int64_t images = n / ((int64_t)channels * planeSize);
  const int64_t tiles = (planeSize + ASFF_TILE - 1) / ASFF_TILE;
  const int64_t chunks = (channels + ASFF_CHUNK - 1) / ASFF_CHUNK;
  const int64_t items = images * tiles * chunks;
  #pragma omp parallel for schedule(static) if (items > 1 && n > PK_PAR_MIN)
  for (int64_t t = 0; t < items; ++t) {
    const int64_t b = t / (tiles * chunks);
    const int64_t r = t - b * tiles * chunks;
    const int64_t p0 = (r / chunks) * ASFF_TILE;
    const int c0 = (int)(r % chunks) * ASFF_CHUNK;
    const int c1 = c0 + ASFF_CHUNK < channels ? c0 + ASFF_CHUNK : channels;
    const int len = (int)(planeSize - p0 < ASFF_TILE ? planeSize - p0 : ASFF_TILE);
    float w0[ASFF_TILE], w1[ASFF_TILE], w2[ASFF_TILE];
    asff_tile_weights(logits + b * 3 * planeSize + p0, planeSize, len, w0, w1, w2);
    for (int c = c0; c < c1; ++c) {
      const int64_t o = (b * channels + c) * planeSize + p0;
      const float* __restrict__ a0 = f0 + o;
      const float* __restrict__ a1 = f1 + o;
      const float* __restrict__ a2 = f2 + o;
      float* __restrict__ out = y + o;
      for (int k = 0; k < len; ++k) out[k] = a0[k] * w0[k] + a1[k] * w1[k] + a2[k] * w2[k];
    }
  }
}

// One channel row of a tile: df_k = dy w_k and g_k += dy f_k. The pointers are parameters so the
// restrict promises hold for gcc, which then vectorises the loop (it did not with the same
// restrict pointers declared inside the caller's loop).
static inline void asff_backward_row(int len, const float* __restrict__ d, const float* __restrict__ a0,
                                     const float* __restrict__ a1, const float* __restrict__ a2,
                                     const float* __restrict__ w0, const float* __restrict__ w1,
                                     const float* __restrict__ w2, float* __restrict__ e0, float* __restrict__ e1,
                                     float* __restrict__ e2, float* __restrict__ g0, float* __restrict__ g1,
                                     float* __restrict__ g2) {
  for (int k = 0; k < len; ++k) {
    g0[k] += d[k] * a0[k];
    g1[k] += d[k] * a1[k];
    g2[k] += d[k] * a2[k];
    e0[k] = d[k] * w0[k];
    e1[k] = d[k] * w1[k];
    e2[k] = d[k] * w2[k];
  }
}

// n = N * chunks * planeSize (the GPU's item count); items here are (image, pixel tile, chunk).
PK_KERNEL void asff_fuse_backward(int64_t n, const float* __restrict__ logits, const float* __restrict__ f0,
                                  const float* __restrict__ f1, const float* __restrict__ f2,
                                  const float* __restrict__ dy, float* __restrict__ partial, float* __restrict__ df0,
                                  float* __restrict__ df1, float* __restrict__ df2, int channels, int chunk,
                                  int64_t planeSize) {
  const int64_t chunks = (channels + chunk - 1) / chunk;
  const int64_t images = n / (chunks * planeSize);
  const int64_t tiles = (planeSize + ASFF_TILE - 1) / ASFF_TILE;
  const int64_t items = images * tiles * chunks;
  #pragma omp parallel for schedule(static) if (items > 1 && images * planeSize * channels > PK_PAR_MIN)
  for (int64_t t = 0; t < items; ++t) {
    const int64_t b = t / (tiles * chunks);
    const int64_t r = t - b * tiles * chunks;
    const int64_t p0 = (r / chunks) * ASFF_TILE;
    const int64_t row = b * chunks + r % chunks;
    const int c0 = (int)(r % chunks) * chunk;
    const int c1 = c0 + chunk < channels ? c0 + chunk : channels;
    const int len = (int)(planeSize - p0 < ASFF_TILE ? planeSize - p0 : ASFF_TILE);
    float w0[ASFF_TILE], w1[ASFF_TILE], w2[ASFF_TILE];
    float g0[ASFF_TILE], g1[ASFF_TILE], g2[ASFF_TILE];
    asff_tile_weights(logits + b * 3 * planeSize + p0, planeSize, len, w0, w1, w2);
    for (int k = 0; k < len; ++k) { g0[k] = 0.0f; g1[k] = 0.0f; g2[k] = 0.0f; }
    for (int c = c0; c < c1; ++c) {
      const int64_t o = (b * channels + c) * planeSize + p0;
      asff_backward_row(len, dy + o, f0 + o, f1 + o, f2 + o, w0, w1, w2, df0 + o, df1 + o, df2 + o, g0, g1, g2);
    }
    float* g = partial + row * 3 * planeSize + p0;
    for (int k = 0; k < len; ++k) { g[k] = g0[k]; g[planeSize + k] = g1[k]; g[2 * planeSize + k] = g2[k]; }
  }
}
#endif
