// Batch normalization (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network
// Training by Reducing Internal Covariate Shift"), forward and backward, PyTorch semantics.
// x, y, dy, dx: [batch, channels, spatial] (spatial = product of the dims after the channel, 1
// for a [N, C] input); every per-channel array (mean, invstd, weight, running stats, sums): [channels].
// Thread mapping: the per-channel reductions use one block per channel on the GPU (n = channels,
// Kernel.withBlock; the blocks stride over channels, so any grid is correct) and one loop
// iteration per channel on the host; the elementwise kernels use one item per value.
#include "plugkit/portable.cuh"


#if !PK_GPU
// Sum of v (power 1) or of (v - mu)^2 (power 2) in double, in 8 independent lanes so that the
// compiler vectorizes it (one serial double chain is latency-bound).
static inline double batchnorm_host_sum(const float* v, int64_t count, double mu, int power) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  double tail = 0.0;
  int64_t s = 0;
  if (power == 1) {
    for (; s + 8 <= count; s += 8) {
      for (int j = 0; j < 8; ++j) lanes[j] += v[s + j];
    }
    for (; s < count; ++s) tail += v[s];
  } else {
    for (; s + 8 <= count; s += 8) {
      for (int j = 0; j < 8; ++j) lanes[j] += (v[s + j] - mu) * (v[s + j] - mu);
    }
    for (; s < count; ++s) tail += (v[s] - mu) * (v[s] - mu);
  }
  for (int j = 0; j < 8; ++j) tail += lanes[j];
  return tail;
}
#endif

PK_INLINE int64_t batchnorm_index(int64_t j, int64_t c, int channels, int spatial) {
  int64_t b = j / spatial;
  return (b * channels + c) * spatial + (j - b * spatial);
}

// Stores one channel's statistics and, where the pointers are non-null, moves the running stats by
// momentum towards the mean and the UNBIASED variance (count / (count - 1)), as PyTorch does.
PK_INLINE void batchnorm_store_stats(int64_t c, double mu, double var, int64_t count, float* mean, float* invstd,
                                     float* runningMean, float* runningVar, float momentum, float eps) {
  mean[c] = (float)mu;
  invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
  if (runningMean) runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * (float)mu;
  if (runningVar) {
    const float unbiased = (float)(var * ((double)count / (double)(count - 1)));
    runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * unbiased;
  }
}

// Training statistics: mean and invstd = 1/sqrt(biased var + eps) per channel, in two passes
// (mean first, then the centred squares: no cancellation when the mean is large), then the
// running stats update. Needs batch * spatial >= 2 (checked in Java).
PK_KERNEL void batch_norm_stats(int64_t n, const float* x, float* mean, float* invstd, float* runningMean,
                                float* runningVar, int batch, int channels, int spatial, float momentum,
                                float eps) {
  const int64_t count = (int64_t)batch * spatial;
#if PK_GPU
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) sum += x[batchnorm_index(j, c, channels, spatial)];
    const float mu = pk_block_sum(sum) / (float)count;
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const float d = x[batchnorm_index(j, c, channels, spatial)] - mu;
      squares += d * d;
    }
    const float var = pk_block_sum(squares) / (float)count;
    if (threadIdx.x == 0) batchnorm_store_stats(c, mu, var, count, mean, invstd, runningMean, runningVar, momentum, eps);
  }
#else
  #pragma omp parallel for schedule(static) if(count * channels > PK_PAR_MIN)
  for (int c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t b = 0; b < batch; ++b) sum += batchnorm_host_sum(x + (b * channels + c) * (int64_t)spatial, spatial, 0.0, 1);
    const double mu = sum / (double)count;
    double squares = 0.0;
    for (int64_t b = 0; b < batch; ++b) {
      squares += batchnorm_host_sum(x + (b * channels + c) * (int64_t)spatial, spatial, mu, 2);
    }
    batchnorm_store_stats(c, mu, squares / (double)count, count, mean, invstd, runningMean, runningVar, momentum, eps);
  }
#endif
}

// Evaluation: invstd from the running variance. One item per channel.
PK_KERNEL void batch_norm_invstd(int64_t n, const float* var, float* invstd, float eps) {
  PK_FOR(c, n) { invstd[c] = 1.0f / sqrtf(var[c] + eps); }
}

// y = (x - mean) * invstd * weight + bias; weight and bias may be null (1 and 0). One item per value.
PK_KERNEL void batch_norm_forward(int64_t n, const float* x, float* y, const float* mean, const float* invstd,
                                  const float* weight, const float* bias, int channels, int spatial) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t c = (i / spatial) % channels;
    const float scale = weight ? invstd[c] * weight[c] : invstd[c];
    y[i] = (x[i] - mean[c]) * scale + (bias ? bias[c] : 0.0f);
  }
#else
  // Host: one item per (image, channel) row, so the channel is found once a row, not by a
  // 64-bit division per value; the arithmetic is the same.
  PK_FOR_WORK(r, n / spatial, spatial) {
    const int64_t c = r % channels;
    const float scale = weight ? invstd[c] * weight[c] : invstd[c];
    const float m = mean[c], shift = bias ? bias[c] : 0.0f;
    const float* xr = x + r * spatial;
    float* yr = y + r * spatial;
    for (int64_t s = 0; s < spatial; ++s) yr[s] = (xr[s] - m) * scale + shift;
  }
#endif
}

// Per channel: sumDy = sum(dy) (the bias gradient) and sumDyXhat = sum(dy * xhat) with
// xhat = (x - mean) * invstd (the weight gradient). Overwrites both; zeros when batch is 0.
PK_KERNEL void batch_norm_backward_reduce(int64_t n, const float* x, const float* dy, const float* mean,
                                          const float* invstd, float* sumDy, float* sumDyXhat, int batch,
                                          int channels, int spatial) {
  const int64_t count = (int64_t)batch * spatial;
#if PK_GPU
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const float mu = mean[c];
    float sdy = 0.0f;
    float sdyx = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const int64_t i = batchnorm_index(j, c, channels, spatial);
      sdy += dy[i];
      sdyx += dy[i] * (x[i] - mu);
    }
    sdy = pk_block_sum(sdy);
    sdyx = pk_block_sum(sdyx);
    if (threadIdx.x == 0) {
      sumDy[c] = sdy;
      sumDyXhat[c] = count > 0 ? sdyx * invstd[c] : 0.0f;  // an empty batch has no statistics
    }
  }
#else
  #pragma omp parallel for schedule(static) if(count * channels > PK_PAR_MIN)
  for (int c = 0; c < channels; ++c) {
    const double mu = mean[c];
    double sdy = 0.0;
    double sdyx = 0.0;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t base = (b * channels + c) * (int64_t)spatial;
      sdy += batchnorm_host_sum(dy + base, spatial, 0.0, 1);
      double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t s = 0;
      for (; s + 8 <= spatial; s += 8) {
        for (int j = 0; j < 8; ++j) lanes[j] += dy[base + s + j] * (x[base + s + j] - mu);
      }
      for (; s < spatial; ++s) sdyx += dy[base + s] * (x[base + s] - mu);
      for (int j = 0; j < 8; ++j) sdyx += lanes[j];
    }
    sumDy[c] = (float)sdy;
    sumDyXhat[c] = count > 0 ? (float)(sdyx * invstd[c]) : 0.0f;  // an empty batch has no statistics
  }
#endif
}

// dx, one item per value. training != 0: the batch statistics depend on x, so
//   dx = weight * invstd * (dy - sumDy / count - xhat * sumDyXhat / count)   (invCount = 1/count);
// training == 0 (running statistics are constants): dx = weight * invstd * dy, and the sums are
// not read (they may be null). weight may be null (1).
PK_KERNEL void batch_norm_backward_data(int64_t n, const float* x, const float* dy, const float* mean,
                                        const float* invstd, const float* weight, const float* sumDy,
                                        const float* sumDyXhat, float* dx, int channels, int spatial,
                                        float invCount, int training) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t c = (i / spatial) % channels;
    const float scale = weight ? invstd[c] * weight[c] : invstd[c];
    float g = dy[i];
    if (training) g -= (sumDy[c] + (x[i] - mean[c]) * invstd[c] * sumDyXhat[c]) * invCount;
    dx[i] = g * scale;
  }
#else
  // Host: one item per (image, channel) row, as in batch_norm_forward.
  PK_FOR_WORK(r, n / spatial, spatial) {
    const int64_t c = r % channels;
    const float scale = weight ? invstd[c] * weight[c] : invstd[c];
    const int64_t base = r * spatial;
    if (training) {
      const float sdy = sumDy[c], m = mean[c], is = invstd[c], sx = sumDyXhat[c];
      for (int64_t s = 0; s < spatial; ++s) {
        dx[base + s] = (dy[base + s] - (sdy + (x[base + s] - m) * is * sx) * invCount) * scale;
      }
    } else {
      for (int64_t s = 0; s < spatial; ++s) dx[base + s] = dy[base + s] * scale;
    }
  }
#endif
}

// ---- SyncBatchNorm (io.plugkit.ops.BatchNorm.syncBatchNorm) -----------------------------------
// Each rank's per-channel moments are all-gathered, then merged in rank order on every rank.

// This rank's moments: stats [3, channels] = {count, mean, m2} with m2 the sum of squared
// deviations from this rank's mean (two passes, as batch_norm_stats). count 0 gives zeros.
PK_KERNEL void batch_norm_moments(int64_t n, const float* x, float* stats, int batch, int channels, int spatial) {
  const int64_t count = (int64_t)batch * spatial;
#if PK_GPU
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) sum += x[batchnorm_index(j, c, channels, spatial)];
    const float total = pk_block_sum(sum);
    const float mu = count > 0 ? total / (float)count : 0.0f;
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const float d = x[batchnorm_index(j, c, channels, spatial)] - mu;
      squares += d * d;
    }
    const float m2 = pk_block_sum(squares);
    if (threadIdx.x == 0) {
      stats[c] = (float)count;
      stats[channels + c] = mu;
      stats[2 * (int64_t)channels + c] = m2;
    }
  }
#else
  #pragma omp parallel for schedule(static) if(count * channels > PK_PAR_MIN)
  for (int c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t b = 0; b < batch; ++b) sum += batchnorm_host_sum(x + (b * channels + c) * (int64_t)spatial, spatial, 0.0, 1);
    const double mu = count > 0 ? sum / (double)count : 0.0;
    double squares = 0.0;
    for (int64_t b = 0; b < batch; ++b) {
      squares += batchnorm_host_sum(x + (b * channels + c) * (int64_t)spatial, spatial, mu, 2);
    }
    stats[c] = (float)count;
    stats[channels + c] = (float)mu;
    stats[2 * (int64_t)channels + c] = (float)squares;
  }
#endif
}

// Global statistics from gathered [ranks, 3, channels] moments: Chan et al.'s pairwise merge in
// double, ranks in order 0..ranks-1 (so every rank computes the same bits), ranks with count 0
// left out (as PyTorch's SyncBatchNorm). Stores mean and invstd, moves the running stats with
// the unbiased global variance (batchnorm_store_stats), and invCount[0] = 1 / global count (0
// when no rank has values: then the running stats stay and mean, invstd are 0). One item per channel.
PK_KERNEL void batch_norm_gather_stats(int64_t n, const float* gathered, float* mean, float* invstd,
                                       float* runningMean, float* runningVar, float* invCount, int ranks,
                                       int channels, float momentum, float eps) {
  PK_FOR(c, n) {
    double cnt = 0.0, mu = 0.0, m2 = 0.0;
    for (int r = 0; r < ranks; ++r) {
      const float* s = gathered + (int64_t)r * 3 * channels;
      const double nb = s[c];
      if (nb < 1.0) continue;
      const double total = cnt + nb;
      const double delta = (double)s[channels + c] - mu;
      mu += delta * nb / total;
      m2 += (double)s[2 * (int64_t)channels + c] + delta * delta * cnt * nb / total;
      cnt = total;
    }
    if (cnt > 0.0) {
      batchnorm_store_stats(c, mu, m2 / cnt, (int64_t)cnt, mean, invstd, runningMean, runningVar, momentum, eps);
    } else {
      mean[c] = 0.0f;
      invstd[c] = 0.0f;
    }
    if (c == 0) invCount[0] = cnt > 0.0 ? (float)(1.0 / cnt) : 0.0f;
  }
}
