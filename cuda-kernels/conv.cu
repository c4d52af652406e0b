// im2col / col2im for 2-D convolution (Chellapilla et al. 2006, "High performance convolutional
// neural networks for document processing"): the CPU driver's conv is im2col + GEMM; the CUDA
// driver uses cuDNN and does not need these, but they are compiled for both targets. Below them,
// the bias kernels of conv2d (and of linear), used on both targets.
// Input x: [C, H, W] of one image; col: [C*kh*kw, outH*outW] (row = (c, ki, kj), column = (oh, ow)).
#include "plugkit/portable.cuh"

// n = channels*kernelH*kernelW*outH col row segments (row, oh) of outW values. GPU: one item per
// segment, so the index decoding (64-bit divisions, the main cost of a per-element mapping) happens
// once per segment and the writes are contiguous. Samples in the padding read zero.
PK_KERNEL void im2col(int64_t n, const float* x, float* col, int channels, int height, int width,
                      int kernelH, int kernelW, int padH, int padW, int strideH, int strideW,
                      int dilationH, int dilationW, int outH, int outW) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t oh = i % outH;
    const int64_t row = i / outH;
    const int kj = (int)(row % kernelW);
    const int ki = (int)((row / kernelW) % kernelH);
    const int64_t c = row / ((int64_t)kernelW * kernelH);
    const int64_t h = oh * strideH - padH + (int64_t)ki * dilationH;
    float* dst = col + i * outW;
    if (h < 0 || h >= height) {
      for (int ow = 0; ow < outW; ++ow) dst[ow] = 0.0f;
      continue;
    }
    const float* src = x + (c * height + h) * width;
    const int64_t w0 = (int64_t)kj * dilationW - padW;
    for (int ow = 0; ow < outW; ++ow) {
      const int64_t w = w0 + (int64_t)ow * strideW;
      dst[ow] = (w >= 0 && w < width) ? src[w] : 0.0f;
    }
  }
#else
  // Host: one item per col row (c, ki, kj), its outH segments in a loop, so the index decoding
  // runs once a row; zeros, then the samples inside the input row without a bounds test each (a
  // copy at stride 1).
  PK_FOR_WORK(row, n / outH, (int64_t)outH * outW) {
    const int kj = (int)(row % kernelW);
    const int ki = (int)((row / kernelW) % kernelH);
    const int64_t c = row / ((int64_t)kernelW * kernelH);
    const int64_t w0 = (int64_t)kj * dilationW - padW;
    int lo, hi;
    pk_inside_range(w0, strideW, width, outW, &lo, &hi);
    for (int oh = 0; oh < outH; ++oh) {
      const int64_t h = (int64_t)oh * strideH - padH + (int64_t)ki * dilationH;
      float* dst = col + (row * outH + oh) * outW;
      if (h < 0 || h >= height) {
        for (int ow = 0; ow < outW; ++ow) dst[ow] = 0.0f;
        continue;
      }
      const float* src = x + (c * height + h) * width;
      for (int ow = 0; ow < lo; ++ow) dst[ow] = 0.0f;
      if (strideW == 1) {
        memcpy(dst + lo, src + w0 + lo, sizeof(float) * (hi - lo));
      } else {
        for (int ow = lo; ow < hi; ++ow) dst[ow] = src[w0 + (int64_t)ow * strideW];
      }
      for (int ow = hi; ow < outW; ++ow) dst[ow] = 0.0f;
    }
  }
#endif
}

// The adjoint of im2col. One item per input row (c, h): it sums every col entry that read that
// row, so items never write the same value (no atomics; deterministic). n = channels*height.
// Overwrites dx.
PK_KERNEL void col2im(int64_t n, const float* col, float* dx, int channels, int height, int width,
                      int kernelH, int kernelW, int padH, int padW, int strideH, int strideW,
                      int dilationH, int dilationW, int outH, int outW) {
  PK_FOR(i, n) {
    const int64_t h = i % height;
    const int64_t c = i / height;
    float* dst = dx + i * width;
    for (int w = 0; w < width; ++w) dst[w] = 0.0f;
    for (int ki = 0; ki < kernelH; ++ki) {
      const int64_t hs = h + padH - (int64_t)ki * dilationH;  // = oh * strideH for the oh that read row h
      if (hs < 0 || hs % strideH != 0 || hs / strideH >= outH) continue;
      const int64_t oh = hs / strideH;
      for (int kj = 0; kj < kernelW; ++kj) {
        const float* src = col + (((c * kernelH + ki) * kernelW + kj) * outH + oh) * outW;
        const int64_t w0 = (int64_t)kj * dilationW - padW;
#if PK_GPU
        for (int ow = 0; ow < outW; ++ow) {
          const int64_t w = w0 + (int64_t)ow * strideW;
          if (w >= 0 && w < width) dst[w] += src[ow];
        }
#else
        int lo, hi;
        pk_inside_range(w0, strideW, width, outW, &lo, &hi);
        if (strideW == 1) {
          for (int ow = lo; ow < hi; ++ow) dst[w0 + ow] += src[ow];
        } else {
          for (int ow = lo; ow < hi; ++ow) dst[w0 + (int64_t)ow * strideW] += src[ow];
        }
#endif
      }
    }
  }
}

// ---- Bias of conv2d (and of linear, with spatial = 1) ----------------------------------------
// y: [batch, channels, spatial] (spatial = outH*outW), bias: [channels].

// One item per output value: y[i] += bias[channel of i].
PK_KERNEL void conv2d_bias_add(int64_t n, float* y, const float* bias, int channels, int spatial) {
#if PK_GPU
  PK_FOR(i, n) { y[i] += bias[(i / spatial) % channels]; }
#else
  // Host: one item per (image, channel) row; no division per value.
  PK_FOR_WORK(r, n / spatial, spatial) {
    const float b = bias[r % channels];
    float* yr = y + r * spatial;
    for (int64_t s = 0; s < spatial; ++s) yr[s] += b;
  }
#endif
}


// dbias[c] = sum of dy over batch and spatial. Overwrites dbias (zeros when batch is 0).
// GPU: n = channels, one block per channel (Kernel.withBlock); the blocks stride over channels,
// so any grid size is correct. Threads of a block walk the channel's
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
    sum = pk_block_sum(sum);
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
