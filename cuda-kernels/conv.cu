// im2col / col2im for 2-D convolution (Chellapilla et al. 2006, "High performance convolutional
// neural networks for document processing"): the CPU driver's conv is im2col + GEMM; the CUDA
// driver uses cuDNN and does not need these, but they are compiled for both targets.
// Input x: [C, H, W] of one image; col: [C*kh*kw, outH*outW] (row = (c, ki, kj), column = (oh, ow)).
#include "plugkit/portable.cuh"

// One item per col element. Samples in the padding read zero.
PK_KERNEL void im2col(int64_t n, const float* x, float* col, int channels, int height, int width,
                      int kernelH, int kernelW, int padH, int padW, int strideH, int strideW,
                      int dilationH, int dilationW, int outH, int outW) {
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t row = i / ((int64_t)outW * outH);
    int kj = (int)(row % kernelW);
    int ki = (int)((row / kernelW) % kernelH);
    int64_t c = row / ((int64_t)kernelW * kernelH);
    int64_t h = oh * strideH - padH + (int64_t)ki * dilationH;
    int64_t w = ow * strideW - padW + (int64_t)kj * dilationW;
    col[i] = (h >= 0 && h < height && w >= 0 && w < width) ? x[(c * height + h) * width + w] : 0.0f;
  }
}

// The adjoint of im2col, as a gather: one item per input pixel sums every col entry that read it,
// so no atomics are needed and the result is deterministic. Overwrites dx.
PK_KERNEL void col2im(int64_t n, const float* col, float* dx, int channels, int height, int width,
                      int kernelH, int kernelW, int padH, int padW, int strideH, int strideW,
                      int dilationH, int dilationW, int outH, int outW) {
  PK_FOR(i, n) {
    int64_t w = i % width;
    int64_t h = (i / width) % height;
    int64_t c = i / ((int64_t)width * height);
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
        int64_t row = (c * kernelH + ki) * kernelW + kj;
        sum += col[(row * outH + oh) * outW + ow];
      }
    }
    dx[i] = sum;
  }
}

// ---- Bias of conv2d (and of linear, with spatial = 1) ----------------------------------------
// y: [batch, channels, spatial] (spatial = outH*outW), bias: [channels].

// One item per output value: y[i] += bias[channel of i].
PK_KERNEL void conv2d_bias_add(int64_t n, float* y, const float* bias, int channels, int spatial) {
  PK_FOR(i, n) { y[i] += bias[(i / spatial) % channels]; }
}

#if PK_GPU
// Sum of v over the block; the result is returned to every thread. Works for any blockDim.x that
// is a multiple of 32 (at most 1024): warp shuffles first, then one warp sums the warp totals.
__device__ float conv_block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  __syncthreads();  // a previous call may still be reading partial[0]
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}
#endif

// dbias[c] = sum of dy over batch and spatial. Overwrites dbias (zeros when batch is 0).
// GPU: n = channels * 256 threads, so the launcher makes one block of 256 per channel; the block
// strides over channels too, so any grid size is correct. Threads of a block walk the channel's
// values in order (coalesced within each image) and meet in a block reduction: no atomics, and
// the sum is deterministic. Host: one channel per loop iteration, summed in double.
PK_KERNEL void conv2d_bias_grad(int64_t n, const float* dy, float* dbias, int batch, int channels, int spatial) {
  const int64_t count = (int64_t)batch * spatial;
#if PK_GPU
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      int64_t b = j / spatial;
      sum += dy[(b * channels + c) * spatial + (j - b * spatial)];
    }
    sum = conv_block_sum(sum);
    if (threadIdx.x == 0) dbias[c] = sum;
  }
#else
  #pragma omp parallel for schedule(static) if(count * channels > PK_PAR_MIN)
  for (int c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t b = 0; b < batch; ++b) {
      const float* row = dy + (b * channels + c) * (int64_t)spatial;
      for (int64_t s = 0; s < spatial; ++s) sum += row[s];
    }
    dbias[c] = (float)sum;
  }
#endif
}
