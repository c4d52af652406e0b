// Fused attention for non-local blocks (Wang et al. 2018, "Non-local Neural Networks"):
//   out = softmax(scale * q k^T) v, computed as FlashAttention does (Dao et al. 2022): keys are
//   visited in tiles and the softmax is kept online (running row max m and row sum l, earlier
//   partial outputs rescaled by exp(m_old - m_new) when the max grows), so the N x M affinity
//   matrix is never stored. The forward saves stats = (m, 1 / l) per query row; the backward
//   (FlashAttention-2, Dao 2023) recomputes P = exp(t - m) / l tile by tile, t = (q . k) * scale:
//     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - delta),  delta = rowsum(dO * O),
//     dQ = scale * dS K,  dK = scale * dS^T Q.
// Shapes (contiguous): q [B, N, D], k [B, M, D], v [B, M, Dv], out and dout [B, N, Dv],
// stats [B, N, 2], delta [B, N]; dq, dk, dv as q, k, v. M = 0 gives out = 0 and stats (-inf, 0).
//
// Exact recomputation. The backward must see the very logits the forward rounded: at |t| = 7e7 one
// ulp of t is 8, so a logit off by one rounding (another summation order, an FMA of t - m that the
// forward rounded in two steps) or a saved logsumexp m + log(l) (log(l) vanishes into m) moves P by
// a factor e^8, and dV with it. So: every (query, key) dot product is computed by the same code in
// the same order as in the forward (GPU: the same sequential sum over D, whose FMAs are symmetric in
// q and k; host: one out-of-line attention_dots called with the forward's arguments, query groups of
// 4 included); t = dot * scale is rounded on its own before m is subtracted (__fmul_rn on the GPU, a
// separate loop on the host); and the backward takes m and 1/l, not their logsumexp.
//
// Thread mapping. n counts rows on both targets: B*N query rows for the forward, delta and dQ,
// B*M key rows for dK/dV. The host runs 4 rows (of one batch) per OpenMP item (forward and dQ
// loop over the keys of their query rows, dK/dV over the queries of their key rows), with the
// scores of a 64-column tile on the stack, accumulating straight into the output rows, so nothing
// is allocated. The GPU groups rows into tiles of 64 and gives each
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

// The scaled logit, rounded on its own: no FMA may fuse it with the subtraction of the max (the
// forward and the backward must agree bit for bit, see the file comment).
__device__ __forceinline__ float attention_scaled(float dot, float scale) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(dot, scale);
#else  // the emulated device (g++): an empty asm makes the product a value the compiler must keep
  float t = dot * scale;
  __asm__("" : "+x"(t));
  return t;
#endif
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
// computes the row stats (forward) when Dv = 0.
__device__ __forceinline__ int attention_chunks(int width) { return width > 0 ? (width + ATTENTION_COLS - 1) / ATTENTION_COLS : 1; }

PK_KERNEL void attention_forward(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, float* __restrict__ out, float* __restrict__ stats,
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
        s[j] = lane + 4 * j < keyValid ? attention_scaled(s[j], scale) : -INFINITY;
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
      if (c0 == 0 && lane == 0) {
        stats[2 * r] = m;
        stats[2 * r + 1] = inv;
      }
    }
  }
}

PK_KERNEL void attention_backward_dq(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, const float* __restrict__ dout,
                                     const float* __restrict__ stats, const float* __restrict__ delta,
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
    const float rowMax = row < queryValid ? stats[2 * r] : 0.0f;
    const float rowInv = row < queryValid ? stats[2 * r + 1] : 0.0f;
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
        const float p = real ? expf(attention_scaled(s[j], scale) - rowMax) * rowInv : 0.0f;
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
                                       const float* __restrict__ stats, const float* __restrict__ delta,
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
        const int64_t qr = b * queries + q0 + qi;
        const float p = real ? expf(attention_scaled(s[j], scale) - stats[2 * qr]) * stats[2 * qr + 1] : 0.0f;
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

#else  // host: 4 rows per OpenMP item

// Without trapping math GCC may turn the float comparisons of pk_host_exp and the max into
// selects and vectorise those loops (nothing here reads the floating-point exception flags); with
// associative math it may reorder the float sums of the dot products and grouped axpys, as the
// omp simd reductions already allow (NaN and infinity keep their IEEE behaviour).
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "associative-math", "no-signed-zeros")

// Rows per item (query rows for the forward and dQ, key rows for dK/dV, never across a batch):
// every row of the other operand read from cache serves 4 rows of this item, so K and V (or Q and
// dO) stream through the cache a quarter as often as with one row per item, and the 4 rows of
// each item stay in L1. Wider blocks run out of the 16 vector registers.
#define ATTENTION_ROWS 4
// Columns of the other operand per online-softmax step (and per staged score tile).
#define ATTENTION_HOST_TILE 64

typedef float AttentionScores[ATTENTION_HOST_TILE];

PK_INLINE int attention_min(int a, int b) { return a < b ? a : b; }

// out[r] = a . b_r for the `rows` (1 to 4) rows b_r = b + r * stride: 4 independent sums keep 4
// vector accumulators busy and read a once. Out of line on purpose: one compiled body, so a call with
// the same arguments gives the same bits in every kernel (the backward recomputes the forward's
// logits with the forward's calls; an inlined copy could be vectorised or contracted differently).
static __attribute__((noinline)) void attention_dots(const float* __restrict__ a, const float* __restrict__ b, int64_t stride, int rows,
                              int len, float out[ATTENTION_ROWS]) {
  if (rows == ATTENTION_ROWS) {
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

// scores[r][t] = a_r . b_t (a_r = a + r * aStride, r < rows; b_t = b + t * bStride, t < count).
PK_INLINE void attention_score_tile(AttentionScores* scores, const float* __restrict__ a, int64_t aStride, int rows,
                                    const float* __restrict__ b, int64_t bStride, int count, int len) {
  for (int t = 0; t < count; ++t) {
    float d[ATTENTION_ROWS];
    attention_dots(b + t * bStride, a, aStride, rows, len, d);
    for (int r = 0; r < rows; ++r) scores[r][t] = d[r];
  }
}

// y_r += sum_t coef[r][t] x_t for r < rows (y_r = y + r * yStride) and t < count (x_t = x + t * xStride):
// in blocks of 4 x 4, each vector of x_t and y_r is loaded once for 16 multiply-adds.
PK_INLINE void attention_accumulate_tile(float* __restrict__ y, int64_t yStride, int rows, const AttentionScores* coef,
                                         const float* __restrict__ x, int64_t xStride, int count, int len) {
  int t = 0;
  if (rows == ATTENTION_ROWS) {
    float* y0 = y;
    float* y1 = y0 + yStride;
    float* y2 = y1 + yStride;
    float* y3 = y2 + yStride;
    for (; t + 4 <= count; t += 4) {
      const float* x0 = x + t * xStride;
      const float* x1 = x0 + xStride;
      const float* x2 = x1 + xStride;
      const float* x3 = x2 + xStride;
      const float* c0 = coef[0] + t;
      const float* c1 = coef[1] + t;
      const float* c2 = coef[2] + t;
      const float* c3 = coef[3] + t;
      #pragma omp simd
      for (int c = 0; c < len; ++c) {
        const float v0 = x0[c], v1 = x1[c], v2 = x2[c], v3 = x3[c];
        y0[c] += c0[0] * v0 + c0[1] * v1 + c0[2] * v2 + c0[3] * v3;
        y1[c] += c1[0] * v0 + c1[1] * v1 + c1[2] * v2 + c1[3] * v3;
        y2[c] += c2[0] * v0 + c2[1] * v1 + c2[2] * v2 + c2[3] * v3;
        y3[c] += c3[0] * v0 + c3[1] * v1 + c3[2] * v2 + c3[3] * v3;
      }
    }
  }
  for (; t < count; ++t) {
    const float* xt = x + t * xStride;
    for (int r = 0; r < rows; ++r) {
      float* yr = y + r * yStride;
      const float cr = coef[r][t];
      #pragma omp simd
      for (int c = 0; c < len; ++c) yr[c] += cr * xt[c];
    }
  }
}

#include "plugkit/host_exp.cuh"  // inside this optimize region: see the header

// Items of n rows (`size` rows per batch) grouped by 4 within each batch.
PK_INLINE int64_t attention_items(int64_t n, int size) { return n / size * ((size + ATTENTION_ROWS - 1) / ATTENTION_ROWS); }

// An item costs 4 x (other rows) x (row lengths) multiply-adds, far above an elementwise item:
// PK_FOR's threshold (in items) would keep a few hundred heavy items on one thread, so these loops
// weigh the work instead (`work`: multiply-adds per item).

PK_KERNEL void attention_forward(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, float* __restrict__ out, float* __restrict__ stats,
                                 int queries, int keys, int dim, int valueDim, float scale) {
  const int groups = (queries + ATTENTION_ROWS - 1) / ATTENTION_ROWS;
  const int64_t items = attention_items(n, queries);
  const int64_t work = (int64_t)ATTENTION_ROWS * keys * (dim + valueDim);
  #pragma omp parallel for schedule(static) if (items > 1 && items * work > PK_PAR_MIN)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / groups;
    const int64_t row0 = b * queries + (item % groups) * ATTENTION_ROWS;
    const int rows = attention_min(ATTENTION_ROWS, (int)(b * queries + queries - row0));
    const float* kb = k + b * keys * dim;
    const float* vb = v + b * keys * valueDim;
    float* o = out + row0 * valueDim;
    for (int64_t c = 0; c < (int64_t)rows * valueDim; ++c) o[c] = 0.0f;
    float m[ATTENTION_ROWS];
    float l[ATTENTION_ROWS];
    AttentionScores s[ATTENTION_ROWS];
    for (int r = 0; r < rows; ++r) {
      m[r] = -INFINITY;
      l[r] = 0.0f;
    }
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_HOST_TILE) {
      const int count = attention_min(ATTENTION_HOST_TILE, keys - k0);
      attention_score_tile(s, q + row0 * dim, dim, rows, kb + (int64_t)k0 * dim, dim, count, dim);
      for (int r = 0; r < rows; ++r) {
        float* sr = s[r];
        float tileMax = -INFINITY;  // a NaN score is skipped here and turns the row NaN through exp
        #pragma omp simd reduction(max : tileMax)
        for (int j = 0; j < count; ++j) {
          sr[j] *= scale;
          tileMax = sr[j] > tileMax ? sr[j] : tileMax;
        }
        const float mNew = fmaxf(m[r], tileMax);
        const float alpha = pk_host_exp(m[r] - mNew);
        float* orow = o + (int64_t)r * valueDim;
        for (int c = 0; c < valueDim; ++c) orow[c] *= alpha;
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int j = 0; j < count; ++j) {
          sr[j] = pk_host_exp(sr[j] - mNew);
          sum += sr[j];
        }
        l[r] = l[r] * alpha + sum;
        m[r] = mNew;
      }
      attention_accumulate_tile(o, valueDim, rows, s, vb + (int64_t)k0 * valueDim, valueDim, count, valueDim);
    }
    for (int r = 0; r < rows; ++r) {
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
      float* orow = o + (int64_t)r * valueDim;
      for (int c = 0; c < valueDim; ++c) orow[c] *= inv;
      stats[2 * (row0 + r)] = m[r];
      stats[2 * (row0 + r) + 1] = inv;
    }
  }
}

PK_KERNEL void attention_backward_dq(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                     const float* __restrict__ v, const float* __restrict__ dout,
                                     const float* __restrict__ stats, const float* __restrict__ delta,
                                     float* __restrict__ dq, int queries, int keys, int dim, int valueDim, float scale) {
  const int groups = (queries + ATTENTION_ROWS - 1) / ATTENTION_ROWS;
  const int64_t items = attention_items(n, queries);
  const int64_t work = (int64_t)ATTENTION_ROWS * keys * (2 * dim + valueDim);
  #pragma omp parallel for schedule(static) if (items > 1 && items * work > PK_PAR_MIN)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / groups;
    const int64_t row0 = b * queries + (item % groups) * ATTENTION_ROWS;
    const int rows = attention_min(ATTENTION_ROWS, (int)(b * queries + queries - row0));
    float* d = dq + row0 * dim;
    for (int64_t c = 0; c < (int64_t)rows * dim; ++c) d[c] = 0.0f;
    AttentionScores s[ATTENTION_ROWS];
    AttentionScores ds[ATTENTION_ROWS];
    for (int k0 = 0; k0 < keys; k0 += ATTENTION_HOST_TILE) {
      const int count = attention_min(ATTENTION_HOST_TILE, keys - k0);
      const float* kt = k + (b * keys + k0) * dim;
      attention_score_tile(s, q + row0 * dim, dim, rows, kt, dim, count, dim);
      attention_score_tile(ds, dout + row0 * valueDim, valueDim, rows, v + (b * keys + k0) * valueDim, valueDim, count,
                           valueDim);
      for (int r = 0; r < rows; ++r) {
        const float rowMax = stats[2 * (row0 + r)];
        const float rowInv = stats[2 * (row0 + r) + 1];
        const float rowDelta = delta[row0 + r];
        float* sr = s[r];
        float* dsr = ds[r];
        // Two loops: t = dot * scale is stored rounded, as the forward's, before m is subtracted.
        #pragma omp simd
        for (int j = 0; j < count; ++j) sr[j] *= scale;
        #pragma omp simd
        for (int j = 0; j < count; ++j) sr[j] = pk_host_exp(sr[j] - rowMax) * rowInv;
        // dS * scale: the scale of dQ = scale * dS K folded in
        #pragma omp simd
        for (int j = 0; j < count; ++j) dsr[j] = sr[j] * (dsr[j] - rowDelta) * scale;
      }
      attention_accumulate_tile(d, dim, rows, ds, kt, dim, count, dim);
    }
  }
}

PK_KERNEL void attention_backward_dkdv(int64_t n, const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, const float* __restrict__ dout,
                                       const float* __restrict__ stats, const float* __restrict__ delta,
                                       float* __restrict__ dk, float* __restrict__ dv, int queries, int keys, int dim,
                                       int valueDim, float scale) {
  const int groups = (keys + ATTENTION_ROWS - 1) / ATTENTION_ROWS;
  const int64_t items = attention_items(n, keys);
  const int64_t work = (int64_t)ATTENTION_ROWS * queries * 2 * (dim + valueDim);
  #pragma omp parallel for schedule(static) if (items > 1 && items * work > PK_PAR_MIN)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / groups;
    const int64_t row0 = b * keys + (item % groups) * ATTENTION_ROWS;
    const int rows = attention_min(ATTENTION_ROWS, (int)(b * keys + keys - row0));
    float* dkr = dk + row0 * dim;
    float* dvr = dv + row0 * valueDim;
    for (int64_t c = 0; c < (int64_t)rows * dim; ++c) dkr[c] = 0.0f;
    for (int64_t c = 0; c < (int64_t)rows * valueDim; ++c) dvr[c] = 0.0f;
    AttentionScores p[ATTENTION_ROWS];
    AttentionScores ds[ATTENTION_ROWS];
    for (int q0 = 0; q0 < queries; q0 += ATTENTION_HOST_TILE) {
      const int count = attention_min(ATTENTION_HOST_TILE, queries - q0);
      const int64_t r0 = b * queries + q0;
      const float* qt = q + r0 * dim;
      const float* gt = dout + r0 * valueDim;
      // The logits as the forward computed them: its calls, one per key, over query groups of 4
      // (q0 is a multiple of 64, so these groups are the forward's), then transposed.
      for (int g = 0; g < count; g += ATTENTION_ROWS) {
        AttentionScores t[ATTENTION_ROWS];
        const int groupRows = attention_min(ATTENTION_ROWS, count - g);
        attention_score_tile(t, qt + (int64_t)g * dim, dim, groupRows, k + row0 * dim, dim, rows, dim);
        for (int r = 0; r < rows; ++r) {
          for (int i = 0; i < groupRows; ++i) p[r][g + i] = t[i][r];
        }
      }
      attention_score_tile(ds, v + row0 * valueDim, valueDim, rows, gt, valueDim, count, valueDim);
      for (int r = 0; r < rows; ++r) {
        float* pr = p[r];
        float* dsr = ds[r];
        #pragma omp simd
        for (int i = 0; i < count; ++i) pr[i] *= scale;  // rounded alone, as in the forward
        #pragma omp simd
        for (int i = 0; i < count; ++i) pr[i] = pk_host_exp(pr[i] - stats[2 * (r0 + i)]) * stats[2 * (r0 + i) + 1];
        #pragma omp simd
        for (int i = 0; i < count; ++i) dsr[i] = pr[i] * (dsr[i] - delta[r0 + i]) * scale;  // scale of dK folded in
      }
      attention_accumulate_tile(dvr, valueDim, rows, p, gt, valueDim, count, valueDim);
      attention_accumulate_tile(dkr, dim, rows, ds, qt, dim, count, dim);
    }
  }
}

#pragma GCC pop_options

#endif
