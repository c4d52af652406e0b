// Anti-aliased downsampling (op id blur_pool), forward and backward: BlurPool and MaxBlurPool of
// Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019 (adobe/antialiased-cnns).
//   blur_pool2d:     y = conv2d(pad(x), filt, stride, groups = C)
//   max_blur_pool2d: y = blur_pool2d(max_pool2d(x, kernel 2, stride 1))
// filt is the binomial filter a a^T / sum(a a^T), a = row filtSize - 1 of Pascal's triangle
// (filtSize 1..7). sum(a) = 2^(filtSize-1), so every tap a_i a_j / 4^(filtSize-1) is exact in float
// and the kernels weigh by the integer a_i a_j and scale once by that power of two, which is exact.
// Padding (reflect, replicate or zeros; padLo on top/left, padHi on bottom/right) is folded into
// the index mapping and never materialised; so is the stride-1 max map of max_blur_pool2d.
// Shapes: x, dx [N, C, H, W]; the blurred source is x itself (srcH = H, srcW = W) or the max map
// (srcH = H - 1, srcW = W - 1); y, dy [N, C, outH, outW] with out = (src + padLo + padHi - filtSize)
// / stride + 1. The Java op validates all of it (reflect needs pad < src on each side).
// Thread mapping: one item per output value forward; one per input pixel backward, a gather over
// the outputs whose taps read it (no atomics, deterministic sums). Both go a row of a plane at a
// time (PK_FOR_ROWS): on the host the row decoding is hoisted out of the column loop.
#include "plugkit/portable.cuh"

#define BLUR_PAD_REFLECT 0
#define BLUR_PAD_REPLICATE 1
#define BLUR_PAD_ZERO 2

// Row filtSize - 1 of Pascal's triangle, the 1-D binomial filter before normalisation.
PK_INLINE float blur_tap(int filtSize, int k) {
  float a = 1.0f;
  for (int j = 0; j < k; ++j) a = a * (float)(filtSize - 1 - j) / (float)(j + 1);  // exact: small integers
  return a;
}

// 1 / sum(a)^2 = 4^-(filtSize - 1), a power of two.
PK_INLINE float blur_scale(int filtSize) { return ldexpf(1.0f, -2 * (filtSize - 1)); }

// The source index a padded position p reads (PyTorch's ReflectionPad2d / ReplicationPad2d /
// ZeroPad2d), or -1 for a zero. Reflection needs one fold only: the Java op keeps pad < size.
PK_INLINE int blur_source(int p, int padLo, int size, int padType) {
  int i = p - padLo;
  if (i >= 0 && i < size) return i;
  if (padType == BLUR_PAD_ZERO) return -1;
  if (padType == BLUR_PAD_REPLICATE) return i < 0 ? 0 : size - 1;
  return i < 0 ? -i : 2 * (size - 1) - i;
}

// The padded positions that read source index m, as up to 3 ranges [lo[r], hi[r]]: the direct one
// (widened to the whole pad for replicate's border pixels) and reflect's two mirror images.
PK_INLINE int blur_sources_of(int m, int padLo, int padHi, int size, int padType, int* lo, int* hi) {
  const int padded = size + padLo + padHi;
  int r = 0;
  lo[r] = m + padLo;
  hi[r] = m + padLo;
  if (padType == BLUR_PAD_REPLICATE) {
    if (m == 0) lo[r] = 0;
    if (m == size - 1) hi[r] = padded - 1;
  }
  ++r;
  if (padType == BLUR_PAD_REFLECT) {
    if (m >= 1 && m <= padLo) { lo[r] = hi[r] = padLo - m; ++r; }
    if (m <= size - 2 && m > size - 2 - padHi) { lo[r] = hi[r] = padLo + 2 * (size - 1) - m; ++r; }
  }
  return r;
}

// The maximum of the 2x2 window at (h, w) of plane xp, scanned in PyTorch's order (row-major)
// with its rule `v > best || isnan(v)` from best = -inf and the first pixel as incumbent: the first
// maximum wins ties, the last NaN wins. Returns the winner's position in the window, 0..3.
PK_INLINE int blur_window_argmax(const float* xp, int64_t h, int64_t w, int width, float* best) {
  const float* p = xp + h * width + w;
  const float v[4] = {p[0], p[1], p[width], p[width + 1]};
  float b = -INFINITY;
  int arg = 0;
  for (int k = 0; k < 4; ++k) {
    if (v[k] > b || v[k] != v[k]) { b = v[k]; arg = k; }
  }
  *best = b;
  return arg;
}

// The blurred value at output (oh, ow) of plane xp: taps over the source, which is the plane or
// (maxFirst) its stride-1 2x2 max map.
PK_INLINE float blur_output(const float* xp, int64_t oh, int64_t ow, int width, int srcH, int srcW,
                            int filtSize, int stride, int padLo, int padType, bool maxFirst) {
  float taps[7];
  for (int k = 0; k < filtSize; ++k) taps[k] = blur_tap(filtSize, k);
  float acc = 0.0f;
  for (int ki = 0; ki < filtSize; ++ki) {
    const int i = blur_source((int)(oh * stride) + ki, padLo, srcH, padType);
    if (i < 0) continue;
    const float ai = taps[ki];
    float row = 0.0f;
    for (int kj = 0; kj < filtSize; ++kj) {
      const int j = blur_source((int)(ow * stride) + kj, padLo, srcW, padType);
      if (j < 0) continue;
      float v;
      if (maxFirst) blur_window_argmax(xp, i, j, width, &v);
      else v = xp[(int64_t)i * width + j];
      row += taps[kj] * v;
    }
    acc += ai * row;
  }
  return acc * blur_scale(filtSize);
}

// d y / d source(m, mw): the gradient that reaches source pixel (m, mw) from every output whose
// taps read it, through every padded position that maps to it.
PK_INLINE float blur_source_grad(const float* gp, int m, int mw, int outH, int outW, int srcH, int srcW,
                                 int filtSize, int stride, int padLo, int padHi, int padType) {
  int loH[3], hiH[3], loW[3], hiW[3];
  const int rh = blur_sources_of(m, padLo, padHi, srcH, padType, loH, hiH);
  const int rw = blur_sources_of(mw, padLo, padHi, srcW, padType, loW, hiW);
  float acc = 0.0f;
  for (int a = 0; a < rh; ++a) {
    // Outputs oh with a tap oh * stride + ki in [lo, hi], 0 <= ki < filtSize.
    const int oh0 = loH[a] - filtSize + 1 <= 0 ? 0 : (loH[a] - filtSize + stride) / stride;
    const int oh1 = hiH[a] / stride < outH - 1 ? hiH[a] / stride : outH - 1;
    for (int oh = oh0; oh <= oh1; ++oh) {
      const int k0 = loH[a] - oh * stride > 0 ? loH[a] - oh * stride : 0;
      const int k1 = hiH[a] - oh * stride < filtSize - 1 ? hiH[a] - oh * stride : filtSize - 1;
      float wh = 0.0f;
      for (int k = k0; k <= k1; ++k) wh += blur_tap(filtSize, k);
      float row = 0.0f;
      for (int b = 0; b < rw; ++b) {
        const int ow0 = loW[b] - filtSize + 1 <= 0 ? 0 : (loW[b] - filtSize + stride) / stride;
        const int ow1 = hiW[b] / stride < outW - 1 ? hiW[b] / stride : outW - 1;
        for (int ow = ow0; ow <= ow1; ++ow) {
          const int c0 = loW[b] - ow * stride > 0 ? loW[b] - ow * stride : 0;
          const int c1 = hiW[b] - ow * stride < filtSize - 1 ? hiW[b] - ow * stride : filtSize - 1;
          float ww = 0.0f;
          for (int k = c0; k <= c1; ++k) ww += blur_tap(filtSize, k);
          row += ww * gp[(int64_t)oh * outW + ow];
        }
      }
      acc += wh * row;
    }
  }
  return acc * blur_scale(filtSize);
}

// ---- blur_pool2d: blur + subsample --------------------------------------------------------

// n = N * C * outH * outW.
PK_KERNEL void blur_pool2d_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                   int outW, int filtSize, int stride, int padLo, int padType) {
  PK_FOR_ROWS(row, ow, n / outW, outW) {
    const int64_t oh = row % outH;
    const float* xp = x + row / outH * height * width;
    y[row * outW + ow] = blur_output(xp, oh, ow, width, height, width, filtSize, stride, padLo, padType, false);
  }
}

// n = N * C * H * W; overwrites dx.
PK_KERNEL void blur_pool2d_backward(int64_t n, const float* dy, float* dx, int height, int width, int outH,
                                    int outW, int filtSize, int stride, int padLo, int padHi, int padType) {
  PK_FOR_ROWS(row, w, n / width, width) {
    const int h = (int)(row % height);
    const float* gp = dy + row / height * outH * outW;
    dx[row * width + w] = blur_source_grad(gp, h, (int)w, outH, outW, height, width, filtSize, stride, padLo, padHi,
                                           padType);
  }
}

// ---- max_blur_pool2d: max(2x2, stride 1) + blur + subsample ---------------------------------

// n = N * C * outH * outW; the max map is recomputed per tap, never stored.
PK_KERNEL void max_blur_pool2d_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                       int outW, int filtSize, int stride, int padLo, int padType) {
  PK_FOR_ROWS(row, ow, n / outW, outW) {
    const int64_t oh = row % outH;
    const float* xp = x + row / outH * height * width;
    y[row * outW + ow] = blur_output(xp, oh, ow, width, height - 1, width - 1, filtSize, stride, padLo, padType, true);
  }
}

// n = N * C * H * W; overwrites dx. Input (h, w) lies in the max windows at (h - 1 .. h, w - 1 .. w);
// each window whose argmax (recomputed, PyTorch's tie rule) is (h, w) passes it its max-map gradient.
PK_KERNEL void max_blur_pool2d_backward(int64_t n, const float* x, const float* dy, float* dx, int height,
                                        int width, int outH, int outW, int filtSize, int stride, int padLo,
                                        int padHi, int padType) {
  PK_FOR_ROWS(row, w, n / width, width) {
    const int h = (int)(row % height);
    const int64_t plane = row / height;
    const float* xp = x + plane * height * width;
    const float* gp = dy + plane * outH * outW;
    float acc = 0.0f;
    for (int m = h - 1; m <= h; ++m) {
      if (m < 0 || m >= height - 1) continue;
      for (int mw = (int)w - 1; mw <= (int)w; ++mw) {
        if (mw < 0 || mw >= width - 1) continue;
        float best;
        if (blur_window_argmax(xp, m, mw, width, &best) != (h - m) * 2 + ((int)w - mw)) continue;
        acc += blur_source_grad(gp, m, mw, outH, outW, height - 1, width - 1, filtSize, stride, padLo, padHi, padType);
      }
    }
    dx[row * width + w] = acc;
  }
}
