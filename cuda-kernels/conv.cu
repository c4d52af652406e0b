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
