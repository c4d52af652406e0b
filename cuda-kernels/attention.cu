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

// The float sums may be reordered (omp simd reduction), so the dot products vectorise.
PK_INLINE float attention_dot(const float* __restrict__ a, const float* __restrict__ b, int len) {
  float s = 0.0f;
  #pragma omp simd reduction(+ : s)
  for (int c = 0; c < len; ++c) s += a[c] * b[c];
  return s;
}

PK_INLINE void attention_axpy(float* __restrict__ y, float a, const float* __restrict__ x, int len) {
  #pragma omp simd
  for (int c = 0; c < len; ++c) y[c] += a * x[c];
}

// Keys per online-softmax step: the output row is rescaled once per tile, not once per key.
#define ATTENTION_HOST_TILE 64

PK_KERNEL void attention_forward(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse,
                                 int queries, int keys, int dim, int valueDim, float scale) {
  PK_FOR(i, n) {
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
      float tileMax = -INFINITY;
      for (int j = 0; j < count; ++j) {
        s[j] = scale * attention_dot(qr, kb + (int64_t)(k0 + j) * dim, dim);
        tileMax = fmaxf(tileMax, s[j]);
      }
      const float mNew = fmaxf(m, tileMax);
      const float alpha = expf(m - mNew);
      for (int c = 0; c < valueDim; ++c) o[c] *= alpha;
      float sum = 0.0f;
      for (int j = 0; j < count; ++j) {
        const float p = expf(s[j] - mNew);
        sum += p;
        attention_axpy(o, p, vb + (int64_t)(k0 + j) * valueDim, valueDim);
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
  PK_FOR(i, n) {
    const int64_t b = i / queries;
    const float* qr = q + i * dim;
    const float* g = dout + i * valueDim;
    float* d = dq + i * dim;
    for (int c = 0; c < dim; ++c) d[c] = 0.0f;
    for (int j = 0; j < keys; ++j) {
      const float* kr = k + (b * keys + j) * dim;
      const float p = expf(scale * attention_dot(qr, kr, dim) - lse[i]);
      const float ds = p * (attention_dot(g, v + (b * keys + j) * valueDim, valueDim) - delta[i]);
      attention_axpy(d, ds * scale, kr, dim);
    }
  }
}

PK_KERNEL void attention_backward_dkdv(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, const float* __restrict__ dout,
                                       const float* __restrict__ lse, const float* __restrict__ delta,
                                       float* __restrict__ dk, float* __restrict__ dv, int queries, int keys, int dim,
                                       int valueDim, float scale) {
  PK_FOR(j, n) {
    const int64_t b = j / keys;
    const float* kr = k + j * dim;
    const float* vr = v + j * valueDim;
    float* dkr = dk + j * dim;
    float* dvr = dv + j * valueDim;
    for (int c = 0; c < dim; ++c) dkr[c] = 0.0f;
    for (int c = 0; c < valueDim; ++c) dvr[c] = 0.0f;
    for (int qi = 0; qi < queries; ++qi) {
      const int64_t r = b * queries + qi;
      const float* qr = q + r * dim;
      const float* g = dout + r * valueDim;
      const float p = expf(scale * attention_dot(qr, kr, dim) - lse[r]);
      attention_axpy(dvr, p, g, valueDim);
      const float ds = p * (attention_dot(g, vr, valueDim) - delta[r]);
      attention_axpy(dkr, ds * scale, qr, dim);
    }
  }
}

#endif
