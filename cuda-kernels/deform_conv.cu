// Deformable convolution v1 (Dai et al. 2017, "Deformable Convolutional Networks") and v2
// (Zhu et al. 2019, "Deformable ConvNets v2: More Deformable, Better Results"), with
// torchvision.ops.deform_conv2d's semantics, as deformable im2col + GEMM (the GEMMs run in Java
// through Driver.gemm).
//
// Shapes (NCHW, one chunk of `images` images; the Java op passes pointers to the chunk's first image):
//   input  [images, channels, height, width]
//   offset [images, offsetGroups, kernelH*kernelW, 2, outH, outW]   (dy then dx per kernel point)
//   mask   [images, offsetGroups, kernelH*kernelW, outH, outW]      (v2 only: useMask = 1)
//   col    [images, channels, kernelH*kernelW, outH*outW]           (row = (c, ki*kernelW + kj))
// Channel c belongs to offset group c / (channels / offsetGroups).
//
// Sampling rule (torchvision): a sample at (h, w) reads 0 when h <= -1, h >= height, w <= -1 or
// w >= width; otherwise it is bilinear over its 4 corners, a corner outside the image reading 0.
// Beyond torchvision (whose CPU kernel reads out of bounds there): a NaN offset reads NaN, and
// gives NaN offset gradients and no input gradient; infinite offsets read 0.
#include "plugkit/portable.cuh"

// Whether a sample at (h, w) reads the image at all (the negated form is also false for NaN).
PK_INLINE bool deform_conv_inside(int height, int width, float h, float w) {
  return h > -1.0f && h < (float)height && w > -1.0f && w < (float)width;
}

// NaN when h or w is NaN (a NaN offset propagates, as through any arithmetic), else 0.
PK_INLINE float deform_conv_nan_or_zero(float h, float w) { return (h != h || w != w) ? h + w : 0.0f; }

// The sample of one image plane at (h, w), bilinear, with the rule above. Every position reaching
// floorf is finite and in range, so the int conversions are defined.
PK_INLINE float deform_conv_bilinear(const float* plane, int height, int width, float h, float w) {
  if (!deform_conv_inside(height, width, h, w)) return deform_conv_nan_or_zero(h, w);
  int hLow = (int)floorf(h), wLow = (int)floorf(w);
  int hHigh = hLow + 1, wHigh = wLow + 1;
  float lh = h - hLow, lw = w - wLow;
  float hh = 1.0f - lh, hw = 1.0f - lw;
  float v1 = (hLow >= 0 && wLow >= 0) ? plane[hLow * width + wLow] : 0.0f;
  float v2 = (hLow >= 0 && wHigh <= width - 1) ? plane[hLow * width + wHigh] : 0.0f;
  float v3 = (hHigh <= height - 1 && wLow >= 0) ? plane[hHigh * width + wLow] : 0.0f;
  float v4 = (hHigh <= height - 1 && wHigh <= width - 1) ? plane[hHigh * width + wHigh] : 0.0f;
  return hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4;
}

// d sample / d h (yDirection) or d sample / d w. As torchvision, this has no h <= -1 cut-off:
// only corners outside the image read 0 (so a sample at exactly h = -1 has a gradient). Beyond
// [-1, height) x [-1, width) all four corners are outside, so the early return only skips zeros
// (and keeps huge or NaN positions away from floorf's int conversion).
PK_INLINE float deform_conv_coordinate_weight(const float* plane, int height, int width, float h, float w,
                                              bool yDirection) {
  if (!(h >= -1.0f && h < (float)height && w >= -1.0f && w < (float)width)) return deform_conv_nan_or_zero(h, w);
  int hLow = (int)floorf(h), wLow = (int)floorf(w);
  int hHigh = hLow + 1, wHigh = wLow + 1;
  bool validHLow = 0 <= hLow && hLow < height, validHHigh = 0 <= hHigh && hHigh < height;
  bool validWLow = 0 <= wLow && wLow < width, validWHigh = 0 <= wHigh && wHigh < width;
  float vyx = (validHLow && validWLow) ? plane[hLow * width + wLow] : 0.0f;
  float vyX = (validHLow && validWHigh) ? plane[hLow * width + wHigh] : 0.0f;
  float vYx = (validHHigh && validWLow) ? plane[hHigh * width + wLow] : 0.0f;
  float vYX = (validHHigh && validWHigh) ? plane[hHigh * width + wHigh] : 0.0f;
  if (yDirection) {
    float dx = w - wLow;
    return dx * (vYX - vyX) + (1.0f - dx) * (vYx - vyx);
  }
  float dy = h - hLow;
  return dy * (vYX - vYx) + (1.0f - dy) * (vyX - vyx);
}

// Adds v times each in-image corner's bilinear weight to the gradient plane, the adjoint of
// deform_conv_bilinear; atomically when other work items may hit the same pixels.
PK_INLINE void deform_conv_scatter(float* plane, int height, int width, float h, float w, float v, bool atomic) {
  if (!deform_conv_inside(height, width, h, w)) return;
  int hLow = (int)floorf(h), wLow = (int)floorf(w);
  float lh = h - hLow, lw = w - wLow;
  float weightH[2] = {1.0f - lh, lh};
  float weightW[2] = {1.0f - lw, lw};
  for (int dh = 0; dh < 2; ++dh) {
    int y = hLow + dh;
    if (y < 0 || y >= height || weightH[dh] == 0.0f) continue;
    for (int dw = 0; dw < 2; ++dw) {
      int x = wLow + dw;
      if (x < 0 || x >= width || weightW[dw] == 0.0f) continue;
      float contribution = weightH[dh] * weightW[dw] * v;
      if (atomic) pk_atomic_add(plane + y * width + x, contribution);
      else plane[y * width + x] += contribution;
    }
  }
}

// The sampling position of kernel point (ki, kj) at output (oh, ow), before the learned offset.
PK_INLINE int deform_conv_base(int o, int stride, int pad, int k, int dilation) { return o * stride - pad + k * dilation; }

#if !PK_GPU
// Host tiles: the taps of DEFORM_CONV_TILE output locations of one kernel point (2.5 KB on the
// stack) are computed once and reused for every channel of the offset group.
#define DEFORM_CONV_TILE 64
// Channels per host item of the input gradient: enough items for the cores at batch 1.
#define DEFORM_CONV_HOST_CHANNELS 8

typedef struct {
  int index[DEFORM_CONV_TILE][4];     // corner pixel (row-major), -1 when outside the image
  float weight[DEFORM_CONV_TILE][4];  // bilinear weights, as deform_conv_bilinear forms them
  float nan[DEFORM_CONV_TILE];        // NaN for a NaN position, else 0 (see deform_conv_nan_or_zero)
  float mask[DEFORM_CONV_TILE];       // the v2 modulation, 1 for v1
  float h[DEFORM_CONV_TILE];          // the sampling position itself
  float w[DEFORM_CONV_TILE];
} DeformConvTaps;

// Fills the taps of locations p0 .. p0+count-1 for kernel point k of one offset group, with
// exactly deform_conv_bilinear's rule and weight arithmetic (so values match it bit for bit).
static void deform_conv_taps(DeformConvTaps* taps, const float* off, const float* mask, int k, int64_t p0, int count,
                             int height, int width, int kernelW, int padH, int padW, int strideH, int strideW,
                             int dilationH, int dilationW, int outW, int64_t outHw) {
  const int ki = k / kernelW, kj = k % kernelW;
  for (int t = 0; t < count; ++t) {
    const int64_t p = p0 + t;
    const int oh = (int)(p / outW), ow = (int)(p % outW);
    const float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw + p];
    const float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw + p];
    int* at = taps->index[t];
    float* wt = taps->weight[t];
    taps->h[t] = h;
    taps->w[t] = w;
    taps->mask[t] = mask ? mask[p] : 1.0f;
    taps->nan[t] = 0.0f;
    if (!deform_conv_inside(height, width, h, w)) {
      at[0] = at[1] = at[2] = at[3] = -1;
      wt[0] = wt[1] = wt[2] = wt[3] = 0.0f;
      taps->nan[t] = deform_conv_nan_or_zero(h, w);
      continue;
    }
    const int hLow = (int)floorf(h), wLow = (int)floorf(w);
    const int hHigh = hLow + 1, wHigh = wLow + 1;
    const float lh = h - hLow, lw = w - wLow;
    const float hh = 1.0f - lh, hw = 1.0f - lw;
    at[0] = (hLow >= 0 && wLow >= 0) ? hLow * width + wLow : -1;
    at[1] = (hLow >= 0 && wHigh <= width - 1) ? hLow * width + wHigh : -1;
    at[2] = (hHigh <= height - 1 && wLow >= 0) ? hHigh * width + wLow : -1;
    at[3] = (hHigh <= height - 1 && wHigh <= width - 1) ? hHigh * width + wHigh : -1;
    wt[0] = hh * hw;
    wt[1] = hh * lw;
    wt[2] = lh * hw;
    wt[3] = lh * lw;
  }
}
#endif

// Deformable im2col. One item per (image, channel, output location), looping over the kernel
// points: neighbouring items are neighbouring output locations, so the offset reads and the col
// writes are coalesced on the GPU. col = mask * sample (mask = 1 for v1).
PK_KERNEL void deform_conv_im2col(int64_t n, const float* input, const float* offset, const float* mask, float* col,
                                  int channels, int height, int width, int kernelH, int kernelW, int padH, int padW,
                                  int strideH, int strideW, int dilationH, int dilationW, int outH, int outW,
                                  int offsetGroups, int useMask) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t outHw = (int64_t)outH * outW;
    const int kk = kernelH * kernelW;
    const int64_t p = i % outHw;
    const int oh = (int)(p / outW), ow = (int)(p % outW);
    const int64_t plane = i / outHw;  // image * channels + c
    const int64_t image = plane / channels;
    const int c = (int)(plane % channels);
    const int64_t group = image * offsetGroups + c / (channels / offsetGroups);
    const float* x = input + plane * height * width;
    const float* off = offset + group * 2 * kk * outHw + p;
    float* out = col + plane * kk * outHw + p;
    for (int ki = 0; ki < kernelH; ++ki) {
      for (int kj = 0; kj < kernelW; ++kj) {
        const int k = ki * kernelW + kj;
        float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw];
        float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw];
        float v = deform_conv_bilinear(x, height, width, h, w);
        out[k * outHw] = useMask ? mask[(group * kk + k) * outHw + p] * v : v;
      }
    }
  }
#else
  // Host: the sampling position depends on (offset group, kernel point, location), not on the
  // channel, so one item per (image x offset group, kernel point, tile of locations) computes
  // the tile's taps once and applies them to every channel of the group.
  const int64_t outHw = (int64_t)outH * outW;
  const int kk = kernelH * kernelW;
  const int groupChannels = channels / offsetGroups;
  const int64_t tiles = (outHw + DEFORM_CONV_TILE - 1) / DEFORM_CONV_TILE;
  const int64_t groups = n / ((int64_t)channels * outHw) * offsetGroups;
  PK_FOR_WORK(item, groups * kk * tiles, (int64_t)groupChannels * DEFORM_CONV_TILE) {
    const int64_t group = item / (kk * tiles);
    const int k = (int)(item / tiles % kk);
    const int64_t p0 = item % tiles * DEFORM_CONV_TILE;
    const int count = (int)(outHw - p0 < DEFORM_CONV_TILE ? outHw - p0 : DEFORM_CONV_TILE);
    DeformConvTaps taps;
    deform_conv_taps(&taps, offset + group * 2 * kk * outHw, useMask ? mask + (group * kk + k) * outHw : 0, k, p0,
                     count, height, width, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, outW, outHw);
    const int64_t firstPlane = group / offsetGroups * channels + group % offsetGroups * groupChannels;
    for (int c = 0; c < groupChannels; ++c) {
      const float* x = input + (firstPlane + c) * height * width;
      float* out = col + ((firstPlane + c) * kk + k) * outHw + p0;
      for (int t = 0; t < count; ++t) {
        const int* at = taps.index[t];
        const float* wt = taps.weight[t];
        const float v = wt[0] * (at[0] >= 0 ? x[at[0]] : 0.0f) + wt[1] * (at[1] >= 0 ? x[at[1]] : 0.0f) +
                        wt[2] * (at[2] >= 0 ? x[at[2]] : 0.0f) + wt[3] * (at[3] >= 0 ? x[at[3]] : 0.0f) + taps.nan[t];
        out[t] = taps.mask[t] * v;
      }
    }
  }
#endif
}

// Input gradient, scattered: one item per col entry (image, channel, kernel point, output
// location) adds mask * colGrad into the <= 4 pixels its sample read. Learned offsets let any
// number of samples land on one pixel, so the adds are atomic (order, hence the last bits, may
// vary run to run; deform_conv_col2im_input_serial is the deterministic variant). gradInput must
// be zeroed first.
PK_KERNEL void deform_conv_col2im_input(int64_t n, const float* colGrad, const float* offset, const float* mask,
                                        float* gradInput, int channels, int height, int width, int kernelH,
                                        int kernelW, int padH, int padW, int strideH, int strideW, int dilationH,
                                        int dilationW, int outH, int outW, int offsetGroups, int useMask) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t outHw = (int64_t)outH * outW;
    const int kk = kernelH * kernelW;
    const int64_t p = i % outHw;
    const int oh = (int)(p / outW), ow = (int)(p % outW);
    const int k = (int)((i / outHw) % kk);
    const int ki = k / kernelW, kj = k % kernelW;
    const int64_t plane = i / (outHw * kk);
    const int64_t image = plane / channels;
    const int c = (int)(plane % channels);
    const int64_t group = image * offsetGroups + c / (channels / offsetGroups);
    const float* off = offset + group * 2 * kk * outHw + p;
    float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw];
    float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw];
    float m = useMask ? mask[(group * kk + k) * outHw + p] : 1.0f;
    deform_conv_scatter(gradInput + plane * height * width, height, width, h, w, m * colGrad[i], true);
  }
#else
  // Host: atomics are compare-and-swap loops on the CPU, dearer than the scatter itself. One item
  // per (image x offset group, block of DEFORM_CONV_HOST_CHANNELS channels) owns those planes
  // and walks kernel points and locations in order, reusing each tile's taps for its channels:
  // no atomics, and deterministic.
  const int64_t outHw = (int64_t)outH * outW;
  const int kk = kernelH * kernelW;
  const int groupChannels = channels / offsetGroups;
  const int64_t blocks = (groupChannels + DEFORM_CONV_HOST_CHANNELS - 1) / DEFORM_CONV_HOST_CHANNELS;
  const int64_t groups = n / ((int64_t)channels * kk * outHw) * offsetGroups;
  PK_FOR_WORK(item, groups * blocks, (int64_t)kk * outHw * DEFORM_CONV_HOST_CHANNELS) {
    const int64_t group = item / blocks;
    const int c0 = (int)(item % blocks) * DEFORM_CONV_HOST_CHANNELS;
    const int cn = groupChannels - c0 < DEFORM_CONV_HOST_CHANNELS ? groupChannels - c0 : DEFORM_CONV_HOST_CHANNELS;
    const int64_t firstPlane = group / offsetGroups * channels + group % offsetGroups * groupChannels + c0;
    DeformConvTaps taps;
    for (int k = 0; k < kk; ++k) {
      for (int64_t p0 = 0; p0 < outHw; p0 += DEFORM_CONV_TILE) {
        const int count = (int)(outHw - p0 < DEFORM_CONV_TILE ? outHw - p0 : DEFORM_CONV_TILE);
        deform_conv_taps(&taps, offset + group * 2 * kk * outHw, useMask ? mask + (group * kk + k) * outHw : 0, k,
                         p0, count, height, width, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, outW,
                         outHw);
        for (int c = 0; c < cn; ++c) {
          const float* g = colGrad + ((firstPlane + c) * kk + k) * outHw + p0;
          float* target = gradInput + (firstPlane + c) * height * width;
          for (int t = 0; t < count; ++t) {
            deform_conv_scatter(target, height, width, taps.h[t], taps.w[t], taps.mask[t] * g[t], false);
          }
        }
      }
    }
  }
#endif
}

// Deterministic input gradient: one item per (image, channel) plane walks its kernel points and
// output locations in a fixed order with plain adds, so the result is the same bits every run.
// The price is parallelism: images * channels items instead of images * channels * kk * outH * outW,
// and each item reads kk * outH * outW col entries serially. gradInput must be zeroed first.
PK_KERNEL void deform_conv_col2im_input_serial(int64_t n, const float* colGrad, const float* offset,
                                               const float* mask, float* gradInput, int channels, int height,
                                               int width, int kernelH, int kernelW, int padH, int padW,
                                               int strideH, int strideW, int dilationH, int dilationW, int outH,
                                               int outW, int offsetGroups, int useMask) {
  PK_FOR(plane, n) {
    const int64_t outHw = (int64_t)outH * outW;
    const int kk = kernelH * kernelW;
    const int64_t image = plane / channels;
    const int c = (int)(plane % channels);
    const int64_t group = image * offsetGroups + c / (channels / offsetGroups);
    const float* off = offset + group * 2 * kk * outHw;
    const float* g = colGrad + plane * kk * outHw;
    float* target = gradInput + plane * height * width;
    for (int k = 0; k < kk; ++k) {
      const int ki = k / kernelW, kj = k % kernelW;
      for (int64_t p = 0; p < outHw; ++p) {
        const int oh = (int)(p / outW), ow = (int)(p % outW);
        float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw + p];
        float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw + p];
        float m = useMask ? mask[(group * kk + k) * outHw + p] : 1.0f;
        deform_conv_scatter(target, height, width, h, w, m * g[k * outHw + p], false);
      }
    }
  }
}

// Offset and mask gradients: one item per (image, offset group, kernel point, output location),
// i.e. per (dy, dx) offset pair and its mask entry, summing over the channels of its offset group
// in channel order. Each item owns its outputs, so no atomics are needed and the result is
// deterministic. Computing dy, dx and the mask together reads each corner and colGrad once.
// gradOffset or gradMask may be null (0) when that gradient is not wanted.
PK_KERNEL void deform_conv_col2im_coord(int64_t n, const float* colGrad, const float* input, const float* offset,
                                        const float* mask, float* gradOffset, float* gradMask, int channels,
                                        int height, int width, int kernelH, int kernelW, int padH, int padW,
                                        int strideH, int strideW, int dilationH, int dilationW, int outH, int outW,
                                        int offsetGroups, int useMask) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t outHw = (int64_t)outH * outW;
    const int kk = kernelH * kernelW;
    const int64_t p = i % outHw;
    const int oh = (int)(p / outW), ow = (int)(p % outW);
    const int k = (int)((i / outHw) % kk);
    const int ki = k / kernelW, kj = k % kernelW;
    const int64_t group = i / (outHw * kk);  // image * offsetGroups + offset group
    const int64_t image = group / offsetGroups;
    const int groupChannels = channels / offsetGroups;
    const int64_t firstPlane = image * channels + (group % offsetGroups) * groupChannels;
    const float* off = offset + group * 2 * kk * outHw + p;
    float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw];
    float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw];
    float m = useMask ? mask[(group * kk + k) * outHw + p] : 1.0f;
    float sumH = 0.0f, sumW = 0.0f, sumMask = 0.0f;
    for (int c = 0; c < groupChannels; ++c) {
      const float* x = input + (firstPlane + c) * height * width;
      float g = colGrad[((firstPlane + c) * kk + k) * outHw + p];
      sumH += m * deform_conv_coordinate_weight(x, height, width, h, w, true) * g;
      sumW += m * deform_conv_coordinate_weight(x, height, width, h, w, false) * g;
      if (useMask) sumMask += g * deform_conv_bilinear(x, height, width, h, w);
    }
    if (gradOffset) {
      gradOffset[(group * 2 * kk + 2 * k) * outHw + p] = sumH;
      gradOffset[(group * 2 * kk + 2 * k + 1) * outHw + p] = sumW;
    }
    if (gradMask) gradMask[(group * kk + k) * outHw + p] = sumMask;
  }
#else
  // Host: the same items, but the corners are located once per item rather than three times per
  // channel; the per-channel arithmetic is deform_conv_coordinate_weight's and
  // deform_conv_bilinear's, term for term, on the four corner values read once.
  const int groupChannels = channels / offsetGroups;
  PK_FOR_WORK(i, n, groupChannels) {
    const int64_t outHw = (int64_t)outH * outW;
    const int kk = kernelH * kernelW;
    const int64_t p = i % outHw;
    const int oh = (int)(p / outW), ow = (int)(p % outW);
    const int k = (int)((i / outHw) % kk);
    const int ki = k / kernelW, kj = k % kernelW;
    const int64_t group = i / (outHw * kk);
    const int64_t firstPlane = group / offsetGroups * channels + (group % offsetGroups) * groupChannels;
    const float* off = offset + group * 2 * kk * outHw + p;
    const float h = (float)deform_conv_base(oh, strideH, padH, ki, dilationH) + off[(2 * k) * outHw];
    const float w = (float)deform_conv_base(ow, strideW, padW, kj, dilationW) + off[(2 * k + 1) * outHw];
    const float m = useMask ? mask[(group * kk + k) * outHw + p] : 1.0f;
    const bool nearImage = h >= -1.0f && h < (float)height && w >= -1.0f && w < (float)width;  // coordinate rule
    const bool inside = deform_conv_inside(height, width, h, w);                                // sampling rule
    const float outsideValue = deform_conv_nan_or_zero(h, w);
    int at[4] = {-1, -1, -1, -1};
    float lh = 0.0f, lw = 0.0f;
    if (nearImage) {
      const int hLow = (int)floorf(h), wLow = (int)floorf(w);
      const bool hl = 0 <= hLow && hLow < height, hH = 0 <= hLow + 1 && hLow + 1 < height;
      const bool wl = 0 <= wLow && wLow < width, wH = 0 <= wLow + 1 && wLow + 1 < width;
      at[0] = hl && wl ? hLow * width + wLow : -1;
      at[1] = hl && wH ? hLow * width + wLow + 1 : -1;
      at[2] = hH && wl ? (hLow + 1) * width + wLow : -1;
      at[3] = hH && wH ? (hLow + 1) * width + wLow + 1 : -1;
      lh = h - hLow;
      lw = w - wLow;
    }
    float sumH = 0.0f, sumW = 0.0f, sumMask = 0.0f;
    for (int c = 0; c < groupChannels; ++c) {
      const float* x = input + (firstPlane + c) * height * width;
      const float g = colGrad[((firstPlane + c) * kk + k) * outHw + p];
      const float vyx = at[0] >= 0 ? x[at[0]] : 0.0f, vyX = at[1] >= 0 ? x[at[1]] : 0.0f;
      const float vYx = at[2] >= 0 ? x[at[2]] : 0.0f, vYX = at[3] >= 0 ? x[at[3]] : 0.0f;
      const float weightH = nearImage ? lw * (vYX - vyX) + (1.0f - lw) * (vYx - vyx) : outsideValue;
      const float weightW = nearImage ? lh * (vYX - vYx) + (1.0f - lh) * (vyX - vyx) : outsideValue;
      sumH += m * weightH * g;
      sumW += m * weightW * g;
      if (useMask) {
        const float hh = 1.0f - lh, hw = 1.0f - lw;
        const float v = inside ? hh * hw * vyx + hh * lw * vyX + lh * hw * vYx + lh * lw * vYX : outsideValue;
        sumMask += g * v;
      }
    }
    if (gradOffset) {
      gradOffset[(group * 2 * kk + 2 * k) * outHw + p] = sumH;
      gradOffset[(group * 2 * kk + 2 * k + 1) * outHw + p] = sumW;
    }
    if (gradMask) gradMask[(group * kk + k) * outHw + p] = sumMask;
  }
#endif
}

// out [images, channels, spatial] += bias [channels]; one item per output element.
PK_KERNEL void deform_conv_add_bias(int64_t n, float* out, const float* bias, int channels, int64_t spatial) {
  PK_FOR(i, n) { out[i] += bias[(i / spatial) % channels]; }
}
