// Losses: cross-entropy (fused log-softmax + NLL, with class weights, ignore_index and label
// smoothing, as torch.nn.functional.cross_entropy in PyTorch 1.13) and mean squared error.
//
// Cross-entropy shapes: logits [N, C, S] (S = d1*d2*..., 1 for [N, C]), target int64 [N, S],
// weight [C] or null. A "row" is one (n, s): its C logits sit S floats apart. Per row r with
// target t (not ignored), w_c = weight[c] (1 without weights), logp = log_softmax(row):
//   nll[r]    = -w_t * logp_t
//   smooth[r] = -sum_c w_c * logp_c
//   wt[r]     = w_t
// and all three are 0 for an ignored row. The reductions are combined from the row sums:
//   none: (1 - eps) * nll + eps / C * smooth
//   sum:  (1 - eps) * sum(nll) + eps / C * sum(smooth)
//   mean: ((1 - eps) * sum(nll) + eps / C * sum(smooth)) / sum(wt)
// (sum(wt) is the count of non-ignored rows without weights, which PyTorch 1.13 divides both
// terms by.) The log-softmax is computed as (z - max) - log(sum(exp(z - max))), never as
// z - logsumexp, which would lose the digits of a small loss next to large logits.
//
// Thread mapping: the row kernels take one work item per row (rows = N * S); with S = 1 a warp
// reads C-strided rows, which is uncoalesced but fine for classification's small C. The column
// sum needs cooperation: on the GPU one block of LOSS_BLOCK threads (launched with n =
// LOSS_BLOCK) reduces in shared memory; on the host an OpenMP reduction in double does it.
#include "plugkit/host_exp.cuh"
#include "plugkit/portable.cuh"

// Reduction modes, the order of io.plugkit.ops.Losses.Reduction.
#define LOSS_REDUCTION_NONE 0
#define LOSS_REDUCTION_MEAN 1
#define LOSS_REDUCTION_SUM 2

// Block size of loss_column_sums on the GPU: one block, a power of two for the tree reduction.
#define LOSS_BLOCK 256

PK_INLINE float loss_class_weight(const float* weight, int64_t c) { return weight ? weight[c] : 1.0f; }

// The max of a row of C logits S apart (NaNs skipped, as fmaxf); subtracting it keeps exp() <= 1:
// no overflow for any finite logits. The host's contiguous rows run in 8 lanes (host_exp.cuh).
PK_INLINE float loss_row_max(const float* z, int64_t C, int64_t S) {
#if !PK_GPU
  if (S == 1) return pk_host_row_max(z, C);
#endif
  float m = z[0];
  for (int64_t c = 1; c < C; ++c) m = fmaxf(m, z[c * S]);
  return m;
}

// sum_c exp(z_c - m) over the row, each exp also kept in e (same stride) when e is not null; the
// host's contiguous rows take host_exp.cuh's vectorised exp.
PK_INLINE float loss_row_exp_sum(const float* z, float* e, int64_t C, int64_t S, float m) {
#if !PK_GPU
  if (S == 1) return pk_host_row_exp_sum(z, e, C, m);
#endif
  float sum = 0.0f;
  for (int64_t c = 0; c < C; ++c) {
    const float v = expf(z[c * S] - m);
    if (e) e[c * S] = v;
    sum += v;
  }
  return sum;
}

// Writes the per-row nll, smooth and wt into rowStats[3 * row ...]; lossOut (none only) gets the
// combined per-row loss. Targets were validated on the host: each is ignoreIndex or in [0, C).
PK_KERNEL void cross_entropy_forward(int64_t n, const float* logits, const int64_t* target,
                                     const float* weight, int64_t C, int64_t S, int64_t ignoreIndex,
                                     float labelSmoothing, float* rowStats, float* lossOut) {
  PK_FOR_WORK(r, n, C) {
    const int64_t t = target[r];
    float nll = 0.0f, smooth = 0.0f, wt = 0.0f;
    if (t != ignoreIndex) {
      const float* z = logits + (r / S) * C * S + (r % S);
      const float m = loss_row_max(z, C, S);
      const float logSum = logf(loss_row_exp_sum(z, nullptr, C, S, m));
      wt = loss_class_weight(weight, t);
      nll = -wt * ((z[t * S] - m) - logSum);
      if (labelSmoothing != 0.0f) {
        for (int64_t c = 0; c < C; ++c) smooth -= loss_class_weight(weight, c) * ((z[c * S] - m) - logSum);
      }
    }
    rowStats[3 * r] = nll;
    rowStats[3 * r + 1] = smooth;
    rowStats[3 * r + 2] = wt;
    if (lossOut) lossOut[r] = (1.0f - labelSmoothing) * nll + labelSmoothing / (float)C * smooth;
  }
}

#if PK_GPU
// sums[c] = scale * sum_r v[r * cols + c] for c < cols <= 4. One work item (n = 1), so one block.
PK_KERNEL void loss_column_sums(int64_t n, int64_t rows, int cols, const float* v, float scale, float* sums) {
  __shared__ float partial[4][LOSS_BLOCK];
  const int tid = threadIdx.x;
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t r = tid; r < rows; r += blockDim.x) {
    for (int c = 0; c < cols; ++c) acc[c] += v[r * cols + c];
  }
  for (int c = 0; c < 4; ++c) partial[c][tid] = acc[c];
  __syncthreads();
  for (int half = LOSS_BLOCK / 2; half > 0; half /= 2) {
    if (tid < half) {
      for (int c = 0; c < cols; ++c) partial[c][tid] += partial[c][tid + half];
    }
    __syncthreads();
  }
  if (tid < cols) sums[tid] = scale * partial[tid][0];
}
#else
// Host: one OpenMP reduction per column, accumulated in double.
PK_KERNEL void loss_column_sums(int64_t n, int64_t rows, int cols, const float* v, float scale, float* sums) {
  (void)n;
  for (int c = 0; c < cols; ++c) {
    double acc = 0.0;
    #pragma omp parallel for reduction(+ : acc) schedule(static) if (rows > PK_PAR_MIN)
    for (int64_t r = 0; r < rows; ++r) acc += v[r * cols + c];
    sums[c] = (float)(scale * acc);
  }
}
#endif

// The factor of a reduction from the row sums {nll, smooth, wt}: 1 / sum(wt) for mean, else 1.
PK_INLINE float loss_ce_scale(const float* sums, int reduction) {
  return reduction == LOSS_REDUCTION_MEAN ? 1.0f / sums[2] : 1.0f;
}

// The scalar loss (mean or sum) from the row sums. One work item.
PK_KERNEL void cross_entropy_reduce(int64_t n, const float* sums, int reduction, float labelSmoothing, int64_t C,
                                    float* loss) {
  PK_FOR(i, n) {
    loss[i] = loss_ce_scale(sums, reduction) * ((1.0f - labelSmoothing) * sums[0] + labelSmoothing / (float)C * sums[1]);
  }
}

// dlogits for one row: g * a * ((1-eps) * w_t * (p_j - [j == t]) + eps/C * (W * p_j - w_j)),
// W = sum_c w_c, a the reduction scale; g = gradOut[r * gradStride] (stride 0: scalar).
PK_KERNEL void cross_entropy_backward(int64_t n, const float* logits, const int64_t* target,
                                      const float* weight, int64_t C, int64_t S, int64_t ignoreIndex,
                                      float labelSmoothing, const float* sums, int reduction,
                                      const float* gradOut, int64_t gradStride, float* dlogits) {
  float totalWeight = 0.0f;  // W: the same for every row
  for (int64_t c = 0; c < C; ++c) totalWeight += loss_class_weight(weight, c);
  PK_FOR_WORK(r, n, C) {
    const int64_t t = target[r];
    const int64_t base = (r / S) * C * S + (r % S);
    const float* z = logits + base;
    float* dz = dlogits + base;
    if (t == ignoreIndex) {
      for (int64_t c = 0; c < C; ++c) dz[c * S] = 0.0f;
      continue;
    }
    const float g = gradOut[r * gradStride] * loss_ce_scale(sums, reduction);
    const float m = loss_row_max(z, C, S);
    const float sumExp = loss_row_exp_sum(z, dz, C, S, m);  // each exp once, kept in dz
    const float nllCoef = g * (1.0f - labelSmoothing) * loss_class_weight(weight, t);
    const float smoothCoef = g * labelSmoothing / (float)C;
    const float pt = dz[t * S] / sumExp;
    for (int64_t c = 0; c < C; ++c) {
      const float p = dz[c * S] / sumExp;
      dz[c * S] = nllCoef * p + smoothCoef * (totalWeight * p - loss_class_weight(weight, c));
    }
    // The target's p - 1 as one difference (exact near p = 1), as PyTorch.
    dz[t * S] = nllCoef * (pt - 1.0f) + smoothCoef * (totalWeight * pt - loss_class_weight(weight, t));
  }
}

// MSE: sq[i] = (x[i] - y[i])^2, any shape viewed as n values; one work item per value.
PK_KERNEL void mse_forward(int64_t n, const float* x, const float* y, float* sq) {
  PK_FOR(i, n) {
    const float d = x[i] - y[i];
    sq[i] = d * d;
  }
}

// dx = 2 * scale * (x - y) * g, dy = -dx; g = gradOut[i * gradStride] (stride 0: scalar loss).
// dx or dy is null when that input needs no gradient.
PK_KERNEL void mse_backward(int64_t n, const float* x, const float* y, const float* gradOut, int64_t gradStride,
                            float scale, float* dx, float* dy) {
  PK_FOR(i, n) {
    const float d = 2.0f * scale * (x[i] - y[i]) * gradOut[i * gradStride];
    if (dx) dx[i] = d;
    if (dy) dy[i] = -d;
  }
}
