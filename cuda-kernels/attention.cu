// Fused attention for non-local blocks (Wang et al. 2018, "Non-local Neural Networks"):
//   out = softmax(scale * q k^T) v, computed as FlashAttention does (Dao et al. 2022): keys are
//   visited in tiles and the softmax is kept online (running row max m and row sum l, earlier
//   partial outputs rescaled by exp(m_old - m_new) when the max grows), so the N x M affinity
//   matrix is never stored. The forward saves lse = m + log(l) per query row; the backward
//   (FlashAttention-2, Dao 2023) recomputes P = exp(scale * q k^T - lse) tile by tile:
//     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - delta),  delta = rowsum(dO * O),
//     dQ = scale * dS K,  dK = scale * dS^T Q.
// Shapes (contiguous): q [B, N, D], k [B, M, D], v [B, M, Dv], out and dout [B, N, Dv],
// lse and delta [B, N]; dq, dk, dv as q, k, v. M = 0 gives out = 0 and lse = -inf.
//
// Thread mapping. n counts rows on both targets: B*N query rows for the forward, delta and dQ,
// B*M key rows for dK/dV. The host runs one row per OpenMP item (forward and dQ loop over the
// keys of their query row, dK/dV over the queries of their key row), accumulating straight into
// the output row, so nothing is allocated. The GPU groups rows into tiles of 64 and gives each
// tile to one 256-thread block (the launcher starts min(n, cap) blocks; blocks stride over the
// tiles): 4 threads per row, each holding 16 of the row's 64 scores and 16 of the block's 64
// output columns in registers; score tiles are staged through shared memory in chunks of 32
// along D (or Dv), probability tiles and 64x64 operand tiles sit in shared memory. Wider outputs
// (D or Dv > 64) take one block per 64-column chunk, each recomputing the scores. Every output
// element is written by exactly one block and one thread: no atomics, deterministic results.
#include "plugkit/portable.cuh"

// rowsum(dO * O) per query row: the softmax backward's correction term, shared by dQ and dK.
PK_KERNEL void attention_backward_delta(int64_t n, const float* __restrict__ dout, const float* __restrict__ out,
                                        float* __restrict__ delta, int valueDim) {
  PK_FOR(i, n) {
    const float* g = dout + i * valueDim;
    const float* o = out + i * valueDim;
    float s = 0.0f;
    for (int c = 0; c < valueDim; ++c) s += g[c] * o[c];
    delta[i] = s;
  }
}

#if PK_GPU

#define ATTENTION_TILE 64     // query rows per block and key rows per tile (and the reverse for dK/dV)
#define ATTENTION_CHUNK 32    // score reduction staged 32 columns at a time: two 64x33 tiles
#define ATTENTION_COLS 64     // output columns per block, 16 per thread in registers
#define ATTENTION_PER_THREAD 16
// Shared staging: two 64 x 33 score operands, or one 64 x 64 operand tile (fewer floats).
#define ATTENTION_STAGE (2 * ATTENTION_TILE * (ATTENTION_CHUNK + 1))

typedef float AttentionChunk[ATTENTION_CHUNK + 1];  // +1: rows fall in different banks
typedef float AttentionRow[ATTENTION_TILE + 1];
typedef float AttentionCols[ATTENTION_COLS];

// s[j] = a[row] . b[lane + 4j] over len columns for a 64-row tile of a (aValid real rows, row
// stride len) and of b; missing rows read as 0. Every thread of the block must call it.
__device__ void attention_scores(float s[ATTENTION_PER_THREAD], const float* __restrict__ a, int aValid,
                                 const float* __restrict__ b, int bValid, int len, float* stage) {
  AttentionChunk* sa = (AttentionChunk*)stage;
  AttentionChunk* sb = sa + ATTENTION_TILE;
  const int row = threadIdx.x >> 2;
  const int lane = threadIdx.x & 3;
  for (int j = 0; j < ATTENTION_PER_THREAD; ++j) s[j] = 0.0f;
  for (int c0 = 0; c0 < len; c0 += ATTENTION_CHUNK) {
    const int width = min(ATTENTION_CHUNK, len - c0);
    // Neighbouring threads load neighbouring columns of a row: coalesced.
    for (int e = threadIdx.x; e < ATTENTION_TILE * ATTENTION_CHUNK; e += blockDim.x) {
      const int r = e / ATTENTION_CHUNK;
      const int c = e % ATTENTION_CHUNK;
      sa[r][c] = (r < aValid && c < width) ? a[(int64_t)r * len + c0 + c] : 0.0f;
      sb[r][c] = (r < bValid && c < width) ? b[(int64_t)r * len + c0 + c] : 0.0f;
    }
    __syncthreads();
    for (int c = 0; c < width; ++c) {
      const float av = sa[row][c];
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) s[j] += av * sb[lane + 4 * j][c];
    }
    __syncthreads();
  }
}

// acc[j] += sum_r t[row][r] * x[r][c0 + lane + 4j]: t is a 64x64 tile in shared memory (row =
// this thread's row), x a 64-row tile in global memory (xValid real rows, row stride ld) of which
// columns c0 .. c0+width are staged. Every thread of the block must call it; it ends synchronised.
__device__ void attention_accumulate(float acc[ATTENTION_PER_THREAD], AttentionRow* t, const float* __restrict__ x,
                                     int xValid, int64_t ld, int c0, int width, float* stage) {
  AttentionCols* xs = (AttentionCols*)stage;
  const int row = threadIdx.x >> 2;
  const int lane = threadIdx.x & 3;
  for (int e = threadIdx.x; e < ATTENTION_TILE * ATTENTION_COLS; e += blockDim.x) {
    const int r = e / ATTENTION_COLS;
    const int c = e % ATTENTION_COLS;
    xs[r][c] = (r < xValid && c < width) ? x[(int64_t)r * ld + c0 + c] : 0.0f;
  }
  __syncthreads();  // also publishes t, written by the caller before the call
  for (int r = 0; r < ATTENTION_TILE; ++r) {
    const float tv = t[row][r];
    for (int j = 0; j < ATTENTION_PER_THREAD; ++j) acc[j] += tv * xs[r][lane + 4 * j];
  }
  __syncthreads();
}

// The 4 threads of a row are neighbours in one warp: two xor-shuffles combine them.
__device__ __forceinline__ float attention_row_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

__device__ __forceinline__ float attention_row_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

__device__ __forceinline__ int attention_tiles(int size) { return (size + ATTENTION_TILE - 1) / ATTENTION_TILE; }

// Column chunks of 64 for an output of `width` columns; at least one, so that a block still
// computes lse (forward) when Dv = 0.
__device__ __forceinline__ int attention_chunks(int width) { return width > 0 ? (width + ATTENTION_COLS - 1) / ATTENTION_COLS : 1; }

PK_KERNEL void attention_forward(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse,
                                 int queries, int keys, int dim, int valueDim, float scale) {
  __shared__ float stage[ATTENTION_STAGE];
  __shared__ AttentionRow probs[ATTENTION_TILE];
  const int row = threadIdx.x >> 2;
  const int lane = threadIdx.x & 3;
  const int64_t batches = n / queries;
  const int queryTiles = attention_tiles(queries);
  const int chunks = attention_chunks(valueDim);
  for (int64_t t = blockIdx.x; t < batches * queryTiles * chunks; t += gridDim.x) {
    const int64_t b = t / ((int64_t)queryTiles * chunks);
    const int q0 = (int)(t / chunks % queryTiles) * ATTENTION_TILE;
    const int c0 = (int)(t % chunks) * ATTENTION_COLS;
    const int queryValid = min(ATTENTION_TILE, queries - q0);
    const int width = min(ATTENTION_COLS, valueDim - c0);
    const float* qTile = q + (b * queries + q0) * dim;
    float m = -INFINITY;
    float l = 0.0f;
    float acc[ATTENTION_PER_THREAD];
    for (int j = 0; j < ATTENTION_PER_THREAD; ++j) acc[j] = 0.0f;
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_TILE) {
      const int keyValid = min(ATTENTION_TILE, keys - k0);
      float s[ATTENTION_PER_THREAD];
      attention_scores(s, qTile, queryValid, k + (b * keys + k0) * dim, keyValid, dim, stage);
      float tileMax = -INFINITY;
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        s[j] = lane + 4 * j < keyValid ? s[j] * scale : -INFINITY;
        tileMax = fmaxf(tileMax, s[j]);
      }
      // Every tile holds at least one real key, so mNew is finite and alpha = 0 on the first tile.
      const float mNew = fmaxf(m, attention_row_max(tileMax));
      const float alpha = expf(m - mNew);
      float sum = 0.0f;
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const float p = expf(s[j] - mNew);
        probs[row][lane + 4 * j] = p;
        sum += p;
      }
      l = l * alpha + attention_row_sum(sum);
      m = mNew;
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) acc[j] *= alpha;
      attention_accumulate(acc, probs, v + (b * keys + k0) * valueDim, keyValid, valueDim, c0, width, stage);
    }
    if (row < queryValid) {
      const int64_t r = b * queries + q0 + row;
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const int c = lane + 4 * j;
        if (c < width) out[r * valueDim + c0 + c] = acc[j] * inv;
      }
      if (c0 == 0 && lane == 0) lse[r] = m + logf(l);
    }
  }
}

PK_KERNEL void attention_backward_dq(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, const float* __restrict__ dout,
                                     const float* __restrict__ lse, const float* __restrict__ delta,
                                     float* __restrict__ dq, int queries, int keys, int dim, int valueDim, float scale) {
  __shared__ float stage[ATTENTION_STAGE];
  __shared__ AttentionRow grads[ATTENTION_TILE];
  const int row = threadIdx.x >> 2;
  const int lane = threadIdx.x & 3;
  const int64_t batches = n / queries;
  const int queryTiles = attention_tiles(queries);
  const int chunks = attention_chunks(dim);
  for (int64_t t = blockIdx.x; t < batches * queryTiles * chunks; t += gridDim.x) {
    const int64_t b = t / ((int64_t)queryTiles * chunks);
    const int q0 = (int)(t / chunks % queryTiles) * ATTENTION_TILE;
    const int c0 = (int)(t % chunks) * ATTENTION_COLS;
    const int queryValid = min(ATTENTION_TILE, queries - q0);
    const int width = min(ATTENTION_COLS, dim - c0);
    const int64_t r = b * queries + q0 + row;
    const float rowLse = row < queryValid ? lse[r] : 0.0f;
    const float rowDelta = row < queryValid ? delta[r] : 0.0f;
    float acc[ATTENTION_PER_THREAD];
    for (int j = 0; j < ATTENTION_PER_THREAD; ++j) acc[j] = 0.0f;
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_TILE) {
      const int keyValid = min(ATTENTION_TILE, keys - k0);
      float s[ATTENTION_PER_THREAD];
      float dp[ATTENTION_PER_THREAD];
      attention_scores(s, q + (b * queries + q0) * dim, queryValid, k + (b * keys + k0) * dim, keyValid, dim, stage);
      attention_scores(dp, dout + (b * queries + q0) * valueDim, queryValid, v + (b * keys + k0) * valueDim, keyValid,
                       valueDim, stage);
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const bool real = row < queryValid && lane + 4 * j < keyValid;
        const float p = real ? expf(s[j] * scale - rowLse) : 0.0f;
        grads[row][lane + 4 * j] = p * (dp[j] - rowDelta);
      }
      attention_accumulate(acc, grads, k + (b * keys + k0) * dim, keyValid, dim, c0, width, stage);
    }
    if (row < queryValid) {
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const int c = lane + 4 * j;
        if (c < width) dq[r * dim + c0 + c] = acc[j] * scale;
      }
    }
  }
}

// One block per (batch, 64-key tile, 64-column chunk); the chunk covers columns of dK (when
// c0 < D) and of dV (when c0 < Dv), so both gradients come from one recomputation of P and dS.
PK_KERNEL void attention_backward_dkdv(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, const float* __restrict__ dout,
                                       const float* __restrict__ lse, const float* __restrict__ delta,
                                       float* __restrict__ dk, float* __restrict__ dv, int queries, int keys, int dim,
                                       int valueDim, float scale) {
  __shared__ float stage[ATTENTION_STAGE];
  __shared__ AttentionRow tile[ATTENTION_TILE];
  const int row = threadIdx.x >> 2;  // a key row here
  const int lane = threadIdx.x & 3;
  const int64_t batches = n / keys;
  const int keyTiles = attention_tiles(keys);
  const int chunks = attention_chunks(max(dim, valueDim));
  for (int64_t t = blockIdx.x; t < batches * keyTiles * chunks; t += gridDim.x) {
    const int64_t b = t / ((int64_t)keyTiles * chunks);
    const int k0 = (int)(t / chunks % keyTiles) * ATTENTION_TILE;
    const int c0 = (int)(t % chunks) * ATTENTION_COLS;
    const int keyValid = min(ATTENTION_TILE, keys - k0);
    const int widthK = min(ATTENTION_COLS, dim - c0);
    const int widthV = min(ATTENTION_COLS, valueDim - c0);
    float accK[ATTENTION_PER_THREAD];
    float accV[ATTENTION_PER_THREAD];
    for (int j = 0; j < ATTENTION_PER_THREAD; ++j) accK[j] = accV[j] = 0.0f;
    for (int q0 = 0; q0 < queries; q0 += ATTENTION_TILE) {
      const int queryValid = min(ATTENTION_TILE, queries - q0);
      float s[ATTENTION_PER_THREAD];
      float dp[ATTENTION_PER_THREAD];
      attention_scores(s, k + (b * keys + k0) * dim, keyValid, q + (b * queries + q0) * dim, queryValid, dim, stage);
      attention_scores(dp, v + (b * keys + k0) * valueDim, keyValid, dout + (b * queries + q0) * valueDim, queryValid,
                       valueDim, stage);
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const int qi = lane + 4 * j;
        const bool real = row < keyValid && qi < queryValid;
        const float p = real ? expf(s[j] * scale - lse[b * queries + q0 + qi]) : 0.0f;
        dp[j] = real ? p * (dp[j] - delta[b * queries + q0 + qi]) : 0.0f;  // now dS
        tile[row][qi] = p;
      }
      // Both calls are block-uniform; each ends synchronised, so P may then be overwritten by dS.
      if (widthV > 0) attention_accumulate(accV, tile, dout + (b * queries + q0) * valueDim, queryValid, valueDim, c0, widthV, stage);
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) tile[row][lane + 4 * j] = dp[j];
      if (widthK > 0) attention_accumulate(accK, tile, q + (b * queries + q0) * dim, queryValid, dim, c0, widthK, stage);
    }
    if (row < keyValid) {
      const int64_t r = b * keys + k0 + row;
      for (int j = 0; j < ATTENTION_PER_THREAD; ++j) {
        const int c = lane + 4 * j;
        if (c < widthK) dk[r * dim + c0 + c] = accK[j] * scale;
        if (c < widthV) dv[r * valueDim + c0 + c] = accV[j];
      }
    }
  }
}

#else  // host: one row per OpenMP item

// Without trapping math GCC may turn the float comparisons of attention_exp and the max into
// selects and vectorise those loops; nothing here reads the floating-point exception flags.
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")

// The host works on 4 rows of the other operand at a time: 4 independent dot products (or 4
// axpys folded into one pass over y) keep 4 vector accumulators busy and read the row of this
// item once per 4 rows instead of once per row. The float sums may be reordered (omp simd
// reduction), so they vectorise.
#define ATTENTION_GROUP 4

// out[r] = a . b_r for the `rows` (1 to 4) rows b_r = b + r * stride.
PK_INLINE void attention_dots(const float* __restrict__ a, const float* __restrict__ b, int64_t stride, int rows,
                              int len, float out[ATTENTION_GROUP]) {
  if (rows == ATTENTION_GROUP) {
    const float* b1 = b + stride;
    const float* b2 = b1 + stride;
    const float* b3 = b2 + stride;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    #pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int c = 0; c < len; ++c) {
      s0 += a[c] * b[c];
      s1 += a[c] * b1[c];
      s2 += a[c] * b2[c];
      s3 += a[c] * b3[c];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
    return;
  }
  for (int r = 0; r < rows; ++r) {
    const float* br = b + r * stride;
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (int c = 0; c < len; ++c) s += a[c] * br[c];
    out[r] = s;
  }
}

// y += sum_r coef[r] * x_r for the `rows` (1 to 4) rows x_r = x + r * stride.
PK_INLINE void attention_axpys(float* __restrict__ y, const float coef[ATTENTION_GROUP], const float* __restrict__ x,
                               int64_t stride, int rows, int len) {
  if (rows == ATTENTION_GROUP) {
    const float* x1 = x + stride;
    const float* x2 = x1 + stride;
    const float* x3 = x2 + stride;
    const float c0 = coef[0], c1 = coef[1], c2 = coef[2], c3 = coef[3];
    #pragma omp simd
    for (int c = 0; c < len; ++c) y[c] += c0 * x[c] + c1 * x1[c] + c2 * x2[c] + c3 * x3[c];
    return;
  }
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + r * stride;
    const float cr = coef[r];
    #pragma omp simd
    for (int c = 0; c < len; ++c) y[c] += cr * xr[c];
  }
}

PK_INLINE int attention_group(int remaining) { return remaining < ATTENTION_GROUP ? remaining : ATTENTION_GROUP; }

// e^x for the probabilities, branch-free so that loops over a tile vectorise (the host build has
// no vector expf): Cephes' expf, e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in
// two parts), e^r by a degree-7 polynomial; within about 1 ulp of expf. Below -87 it returns 0
// (e^-87 is 1.6e-38), above 88 +inf, and NaN stays NaN.
PK_INLINE float attention_exp(float x) {
  const float c = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : (x == x ? x : 0.0f));
  const float n = floorf(c * 1.44269504088896341f + 0.5f);
  const float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } two = {((int32_t)n + 127) << 23};
  const float y = p * two.f;
  return x < -87.0f ? 0.0f : (x > 88.0f ? INFINITY : (x == x ? y : x));
}

// Keys per online-softmax step: the output row is rescaled once per tile, not once per key.
#define ATTENTION_HOST_TILE 64

// A row costs keys x (D + Dv) multiply-adds or more, far above an elementwise item: PK_FOR's
// threshold (in items) would keep a few hundred heavy rows on one thread, so these loops weigh
// the work instead (`work`: multiply-adds per row).

PK_KERNEL void attention_forward(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse,
                                 int queries, int keys, int dim, int valueDim, float scale) {
  const int64_t work = (int64_t)keys * (dim + valueDim);
  #pragma omp parallel for schedule(static) if (n > 1 && n * work > PK_PAR_MIN)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / queries;
    const float* qr = q + i * dim;
    const float* kb = k + b * keys * dim;
    const float* vb = v + b * keys * valueDim;
    float* o = out + i * valueDim;
    for (int c = 0; c < valueDim; ++c) o[c] = 0.0f;
    float m = -INFINITY;
    float l = 0.0f;
    float s[ATTENTION_HOST_TILE];
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_HOST_TILE) {
      const int count = keys - k0 < ATTENTION_HOST_TILE ? keys - k0 : ATTENTION_HOST_TILE;
      for (int j = 0; j < count; j += ATTENTION_GROUP) {
        attention_dots(qr, kb + (int64_t)(k0 + j) * dim, dim, attention_group(count - j), dim, s + j);
      }
      float tileMax = -INFINITY;  // a NaN score is skipped here and turns the row NaN through exp
      #pragma omp simd reduction(max : tileMax)
      for (int j = 0; j < count; ++j) {
        s[j] *= scale;
        tileMax = s[j] > tileMax ? s[j] : tileMax;
      }
      const float mNew = fmaxf(m, tileMax);
      const float alpha = attention_exp(m - mNew);
      for (int c = 0; c < valueDim; ++c) o[c] *= alpha;
      float sum = 0.0f;
      #pragma omp simd reduction(+ : sum)
      for (int j = 0; j < count; ++j) {
        s[j] = attention_exp(s[j] - mNew);
        sum += s[j];
      }
      for (int j = 0; j < count; j += ATTENTION_GROUP) {
        attention_axpys(o, s + j, vb + (int64_t)(k0 + j) * valueDim, valueDim, attention_group(count - j), valueDim);
      }
      l = l * alpha + sum;
      m = mNew;
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int c = 0; c < valueDim; ++c) o[c] *= inv;
    lse[i] = m + logf(l);
  }
}

PK_KERNEL void attention_backward_dq(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, const float* __restrict__ dout,
                                     const float* __restrict__ lse, const float* __restrict__ delta,
                                     float* __restrict__ dq, int queries, int keys, int dim, int valueDim, float scale) {
  const int64_t work = (int64_t)keys * (2 * dim + valueDim);
  #pragma omp parallel for schedule(static) if (n > 1 && n * work > PK_PAR_MIN)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / queries;
    const float* qr = q + i * dim;
    const float* g = dout + i * valueDim;
    float* d = dq + i * dim;
    const float rowLse = lse[i];
    const float rowDelta = delta[i];
    for (int c = 0; c < dim; ++c) d[c] = 0.0f;
    float s[ATTENTION_HOST_TILE];
    float ds[ATTENTION_HOST_TILE];
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_HOST_TILE) {
      const int count = keys - k0 < ATTENTION_HOST_TILE ? keys - k0 : ATTENTION_HOST_TILE;
      const float* kt = k + (b * keys + k0) * dim;
      const float* vt = v + (b * keys + k0) * valueDim;
      for (int j = 0; j < count; j += ATTENTION_GROUP) {
        attention_dots(qr, kt + (int64_t)j * dim, dim, attention_group(count - j), dim, s + j);
        attention_dots(g, vt + (int64_t)j * valueDim, valueDim, attention_group(count - j), valueDim, ds + j);
      }
      #pragma omp simd
      for (int j = 0; j < count; ++j) s[j] = attention_exp(scale * s[j] - rowLse);
      // dS * scale: the scale of dQ = scale * dS K folded in
      #pragma omp simd
      for (int j = 0; j < count; ++j) ds[j] = s[j] * (ds[j] - rowDelta) * scale;
      for (int j = 0; j < count; j += ATTENTION_GROUP) {
        attention_axpys(d, ds + j, kt + (int64_t)j * dim, dim, attention_group(count - j), dim);
      }
    }
  }
}

PK_KERNEL void attention_backward_dkdv(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, const float* __restrict__ dout,
                                       const float* __restrict__ lse, const float* __restrict__ delta,
                                       float* __restrict__ dk, float* __restrict__ dv, int queries, int keys, int dim,
                                       int valueDim, float scale) {
  const int64_t work = (int64_t)queries * 2 * (dim + valueDim);
  #pragma omp parallel for schedule(static) if (n > 1 && n * work > PK_PAR_MIN)
  for (int64_t j = 0; j < n; ++j) {
    const int64_t b = j / keys;
    const float* kr = k + j * dim;
    const float* vr = v + j * valueDim;
    float* dkr = dk + j * dim;
    float* dvr = dv + j * valueDim;
    for (int c = 0; c < dim; ++c) dkr[c] = 0.0f;
    for (int c = 0; c < valueDim; ++c) dvr[c] = 0.0f;
    float p[ATTENTION_HOST_TILE];
    float ds[ATTENTION_HOST_TILE];
    for (int q0 = 0; q0 < queries; q0 += ATTENTION_HOST_TILE) {
      const int count = queries - q0 < ATTENTION_HOST_TILE ? queries - q0 : ATTENTION_HOST_TILE;
      const int64_t r0 = b * queries + q0;
      const float* qt = q + r0 * dim;
      const float* gt = dout + r0 * valueDim;
      for (int i = 0; i < count; i += ATTENTION_GROUP) {
        attention_dots(kr, qt + (int64_t)i * dim, dim, attention_group(count - i), dim, p + i);
        attention_dots(vr, gt + (int64_t)i * valueDim, valueDim, attention_group(count - i), valueDim, ds + i);
      }
      #pragma omp simd
      for (int i = 0; i < count; ++i) p[i] = attention_exp(scale * p[i] - lse[r0 + i]);
      #pragma omp simd
      for (int i = 0; i < count; ++i) ds[i] = p[i] * (ds[i] - delta[r0 + i]) * scale;  // scale of dK = scale * dS^T Q folded in
      for (int i = 0; i < count; i += ATTENTION_GROUP) {
        attention_axpys(dvr, p + i, gt + (int64_t)i * valueDim, valueDim, attention_group(count - i), valueDim);
        attention_axpys(dkr, ds + i, qt + (int64_t)i * dim, dim, attention_group(count - i), dim);
      }
    }
  }
}

#pragma GCC pop_options

#endif
