// Anti-aliased downsampling (op id blur_pool), forward and backward: BlurPool and MaxBlurPool of
// Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019 (adobe/antialiased-cnns).
//   blur_pool2d:     y = conv2d(pad(x), filt, stride, groups = C)
//   max_blur_pool2d: y = blur_pool2d(max_pool2d(x, kernel 2, stride 1))
// filt is the binomial filter a a^T / sum(a a^T), a = row filtSize - 1 of Pascal's triangle
// (filtSize 1..7). sum(a) = 2^(filtSize-1), so every tap a_i a_j / 4^(filtSize-1) is exact in float
// and the kernels weigh by the integer a_i a_j and scale once by that power of two, which is exact.
// Padding (reflect, replicate or zeros; padLo on top/left, padHi on bottom/right) is folded into
// the index mapping and never materialised; the stride-1 max map of max_blur_pool2d is never
// allocated whole (the host keeps one plane of it in a per-item scratch).
// Shapes: x, dx [N, C, H, W]; the blurred source is x itself (srcH = H, srcW = W) or the max map
// (srcH = H - 1, srcW = W - 1); y, dy [N, C, outH, outW] with out = (src + padLo + padHi - filtSize)
// / stride + 1. The Java op validates all of it (reflect needs pad < src on each side).
// Thread mapping, GPU: one item per output value forward; one per input pixel backward, a gather
// over the outputs whose taps read it (no atomics, deterministic sums). Host: one (n, c) plane per
// item, the filter applied separably (see the host section below).
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

// ---- host: separable, one (n, c) plane per work item --------------------------------------
// The filter is the outer product a a^T, so the host blurs a plane in two 1-D passes: per output
// row, the filtSize source rows it reads are summed (weights a) into a padded row buffer, whose
// pad columns are then copied from the row (reflect / replicate) or zeroed, and that row is
// filtered horizontally with the stride. The backward is the transpose, row by row: an output row
// of dy is spread horizontally into a padded row, its pad columns are folded back onto the
// columns they copy (zero padding drops them), and the folded row is added, weighted, into the
// destination rows its taps read. A plane belongs to one thread, so these sums need no atomics;
// scratch is per work item (a row, or the plane's max map for max_blur_pool2d).
#if !PK_GPU

// Floats in a padded row: what the taps of outW outputs reach, and at least the source row after padLo.
static inline int blur_padded_width(int outW, int stride, int filtSize, int padLo, int srcW) {
  const int reach = (outW - 1) * stride + filtSize;
  return reach > padLo + srcW ? reach : padLo + srcW;
}

// The source index of every padded position 0..count-1 (blur_source), built once per call.
static int* blur_source_table(int count, int padLo, int size, int padType) {
  int* t = (int*)malloc(sizeof(int) * (count > 0 ? count : 1));
  for (int p = 0; p < count; ++p) t[p] = blur_source(p, padLo, size, padType);
  return t;
}

// y row = scale * sum_k a[k] * pr[ow * S + k]; S a compile-time stride where it is 1 or 2 so the
// loads vectorise (0: the runtime stride).
template <int S>
static inline void blur_host_hpass(const float* __restrict__ pr, float* __restrict__ yr, int outW, int filtSize,
                                   int stride, const float* a, float scale) {
  const int s = S ? S : stride;
  for (int ow = 0; ow < outW; ++ow) yr[ow] = a[0] * pr[ow * s];
  for (int k = 1; k < filtSize; ++k) {
    const float ak = a[k];
    const float* p = pr + k;
    for (int ow = 0; ow < outW; ++ow) yr[ow] += ak * p[ow * s];
  }
  for (int ow = 0; ow < outW; ++ow) yr[ow] *= scale;
}

// r[ow * S + k] += a[k] * g[ow]: the transpose of blur_host_hpass before the scale.
template <int S>
static inline void blur_host_hpass_t(const float* __restrict__ g, float* __restrict__ r, int outW, int filtSize,
                                     int stride, const float* a) {
  const int s = S ? S : stride;
  for (int k = 0; k < filtSize; ++k) {
    const float ak = a[k];
    float* p = r + k;
    for (int ow = 0; ow < outW; ++ow) p[ow * s] += ak * g[ow];
  }
}

// Forward of one plane: src [srcH, srcW] -> yp [outH, outW]. rows / cols: blur_source_table of
// the padded rows / columns the outputs read ((out - 1) * stride + filtSize of each); pr: scratch
// of srcW + padLo + padHi floats.
static void blur_host_plane_forward(const float* __restrict__ src, float* __restrict__ yp, int srcH, int srcW,
                                    int outH, int outW, int filtSize, int stride, int padLo, const int* rows,
                                    const int* cols, float* __restrict__ pr) {
  float a[7];
  for (int k = 0; k < filtSize; ++k) a[k] = blur_tap(filtSize, k);
  const float scale = blur_scale(filtSize);
  const int usedW = (outW - 1) * stride + filtSize;
  float* __restrict__ mid = pr + padLo;
  for (int oh = 0; oh < outH; ++oh) {
    bool any = false;
    for (int k = 0; k < filtSize; ++k) {
      const int i = rows[oh * stride + k];
      if (i < 0) continue;
      const float ak = a[k];
      const float* __restrict__ xr = src + (int64_t)i * srcW;
      if (!any) {
        for (int w = 0; w < srcW; ++w) mid[w] = ak * xr[w];
        any = true;
      } else {
        for (int w = 0; w < srcW; ++w) mid[w] += ak * xr[w];
      }
    }
    if (!any) memset(mid, 0, sizeof(float) * srcW);
    for (int q = 0; q < padLo && q < usedW; ++q) pr[q] = cols[q] < 0 ? 0.0f : mid[cols[q]];
    for (int q = padLo + srcW; q < usedW; ++q) pr[q] = cols[q] < 0 ? 0.0f : mid[cols[q]];
    float* yr = yp + (int64_t)oh * outW;
    if (stride == 1) blur_host_hpass<1>(pr, yr, outW, filtSize, stride, a, scale);
    else if (stride == 2) blur_host_hpass<2>(pr, yr, outW, filtSize, stride, a, scale);
    else blur_host_hpass<0>(pr, yr, outW, filtSize, stride, a, scale);
  }
}

// Backward of one plane: overwrites dst [srcH, srcW] with the gradient of src for gp [outH, outW].
// r: scratch of srcW + padLo + padHi floats, rf: of srcW floats.
static void blur_host_plane_backward(const float* __restrict__ gp, float* __restrict__ dst, int srcH, int srcW,
                                     int outH, int outW, int filtSize, int stride, int padLo, const int* rows,
                                     const int* cols, float* __restrict__ r, float* __restrict__ rf) {
  float a[7];
  for (int k = 0; k < filtSize; ++k) a[k] = blur_tap(filtSize, k);
  const float scale = blur_scale(filtSize);
  const int usedW = (outW - 1) * stride + filtSize;
  // Interior columns the outputs reach: padLo + w < usedW.
  int inner = usedW - padLo;
  if (inner > srcW) inner = srcW;
  if (inner < 0) inner = 0;
  memset(dst, 0, sizeof(float) * srcH * srcW);
  for (int oh = 0; oh < outH; ++oh) {
    memset(r, 0, sizeof(float) * usedW);
    const float* g = gp + (int64_t)oh * outW;
    if (stride == 1) blur_host_hpass_t<1>(g, r, outW, filtSize, stride, a);
    else if (stride == 2) blur_host_hpass_t<2>(g, r, outW, filtSize, stride, a);
    else blur_host_hpass_t<0>(g, r, outW, filtSize, stride, a);
    for (int w = 0; w < inner; ++w) rf[w] = r[padLo + w];
    for (int w = inner; w < srcW; ++w) rf[w] = 0.0f;
    for (int q = 0; q < padLo && q < usedW; ++q) if (cols[q] >= 0) rf[cols[q]] += r[q];
    for (int q = padLo + srcW; q < usedW; ++q) if (cols[q] >= 0) rf[cols[q]] += r[q];
    for (int k = 0; k < filtSize; ++k) {
      const int i = rows[oh * stride + k];
      if (i < 0) continue;
      const float ak = a[k] * scale;  // exact: an integer times a power of two
      float* __restrict__ dr = dst + (int64_t)i * srcW;
      for (int w = 0; w < srcW; ++w) dr[w] += ak * rf[w];
    }
  }
}

// Row m of the 2x2 stride-1 max map of plane xp (width W), srcW = W - 1 values, PyTorch's rule
// as blur_window_argmax (the first maximum wins, a NaN wins over anything before it).
static inline void blur_host_max_row(const float* __restrict__ xp, int m, int width, float* __restrict__ out) {
  const float* __restrict__ r0 = xp + (int64_t)m * width;
  const float* __restrict__ r1 = r0 + width;
  for (int w = 0; w < width - 1; ++w) {
    float b = r0[w];
    float v = r0[w + 1];
    b = (v > b || v != v) ? v : b;
    v = r1[w];
    b = (v > b || v != v) ? v : b;
    v = r1[w + 1];
    b = (v > b || v != v) ? v : b;
    out[w] = b;
  }
}

#endif

// ---- blur_pool2d: blur + subsample --------------------------------------------------------

// n = N * C * outH * outW.
PK_KERNEL void blur_pool2d_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                   int outW, int filtSize, int stride, int padLo, int padType) {
#if PK_GPU
  PK_FOR_ROWS(row, ow, n / outW, outW) {
    const int64_t oh = row % outH;
    const float* xp = x + row / outH * height * width;
    y[row * outW + ow] = blur_output(xp, oh, ow, width, height, width, filtSize, stride, padLo, padType, false);
  }
#else
  const int64_t planes = n / ((int64_t)outH * outW);
  int* rows = blur_source_table((outH - 1) * stride + filtSize, padLo, height, padType);
  int* cols = blur_source_table((outW - 1) * stride + filtSize, padLo, width, padType);
  const int paddedW = blur_padded_width(outW, stride, filtSize, padLo, width);
  PK_FOR_WORK(p, planes, (int64_t)outH * (outW + width) * filtSize) {
    float* pr = (float*)malloc(sizeof(float) * paddedW);
    blur_host_plane_forward(x + p * height * width, y + p * outH * outW, height, width, outH, outW, filtSize, stride,
                            padLo, rows, cols, pr);
    free(pr);
  }
  free(rows);
  free(cols);
#endif
}

// n = N * C * H * W; overwrites dx.
PK_KERNEL void blur_pool2d_backward(int64_t n, const float* dy, float* dx, int height, int width, int outH,
                                    int outW, int filtSize, int stride, int padLo, int padHi, int padType) {
#if PK_GPU
  PK_FOR_ROWS(row, w, n / width, width) {
    const int h = (int)(row % height);
    const float* gp = dy + row / height * outH * outW;
    dx[row * width + w] = blur_source_grad(gp, h, (int)w, outH, outW, height, width, filtSize, stride, padLo, padHi,
                                           padType);
  }
#else
  const int64_t planes = n / ((int64_t)height * width);
  int* rows = blur_source_table((outH - 1) * stride + filtSize, padLo, height, padType);
  int* cols = blur_source_table((outW - 1) * stride + filtSize, padLo, width, padType);
  const int paddedW = blur_padded_width(outW, stride, filtSize, padLo, width);
  PK_FOR_WORK(p, planes, (int64_t)outH * (outW + width) * filtSize) {
    float* r = (float*)malloc(sizeof(float) * (paddedW + width));
    blur_host_plane_backward(dy + p * outH * outW, dx + p * height * width, height, width, outH, outW, filtSize,
                             stride, padLo, rows, cols, r, r + paddedW);
    free(r);
  }
  free(rows);
  free(cols);
#endif
}

// ---- max_blur_pool2d: max(2x2, stride 1) + blur + subsample ---------------------------------

// n = N * C * outH * outW; the max map is recomputed per tap, never stored.
PK_KERNEL void max_blur_pool2d_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                       int outW, int filtSize, int stride, int padLo, int padType) {
#if PK_GPU
  PK_FOR_ROWS(row, ow, n / outW, outW) {
    const int64_t oh = row % outH;
    const float* xp = x + row / outH * height * width;
    y[row * outW + ow] = blur_output(xp, oh, ow, width, height - 1, width - 1, filtSize, stride, padLo, padType, true);
  }
#else
  // Host: the plane's max map goes to a per-item scratch (cache-sized), then the separable blur.
  const int srcH = height - 1, srcW = width - 1;
  const int64_t planes = n / ((int64_t)outH * outW);
  int* rows = blur_source_table((outH - 1) * stride + filtSize, padLo, srcH, padType);
  int* cols = blur_source_table((outW - 1) * stride + filtSize, padLo, srcW, padType);
  const int paddedW = blur_padded_width(outW, stride, filtSize, padLo, srcW);
  PK_FOR_WORK(p, planes, (int64_t)outH * (outW + width) * filtSize + (int64_t)height * width) {
    float* mp = (float*)malloc(sizeof(float) * ((int64_t)srcH * srcW + paddedW));
    const float* xp = x + p * height * width;
    for (int m = 0; m < srcH; ++m) blur_host_max_row(xp, m, width, mp + (int64_t)m * srcW);
    blur_host_plane_forward(mp, y + p * outH * outW, srcH, srcW, outH, outW, filtSize, stride, padLo, rows, cols,
                            mp + (int64_t)srcH * srcW);
    free(mp);
  }
  free(rows);
  free(cols);
#endif
}

// n = N * C * H * W; overwrites dx. Input (h, w) lies in the max windows at (h - 1 .. h, w - 1 .. w);
// each window whose argmax (recomputed, PyTorch's tie rule) is (h, w) passes it its max-map gradient.
PK_KERNEL void max_blur_pool2d_backward(int64_t n, const float* x, const float* dy, float* dx, int height,
                                        int width, int outH, int outW, int filtSize, int stride, int padLo,
                                        int padHi, int padType) {
#if PK_GPU
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
#else
  // Host: the max map's gradient goes to a per-item scratch, then each window passes it to its
  // argmax (recomputed, PyTorch's tie rule as blur_window_argmax).
  const int srcH = height - 1, srcW = width - 1;
  const int64_t planes = n / ((int64_t)height * width);
  int* rows = blur_source_table((outH - 1) * stride + filtSize, padLo, srcH, padType);
  int* cols = blur_source_table((outW - 1) * stride + filtSize, padLo, srcW, padType);
  const int paddedW = blur_padded_width(outW, stride, filtSize, padLo, srcW);
  PK_FOR_WORK(p, planes, (int64_t)outH * (outW + width) * filtSize + (int64_t)height * width) {
    float* gm = (float*)malloc(sizeof(float) * ((int64_t)srcH * srcW + paddedW + 2 * srcW));
    float* r = gm + (int64_t)srcH * srcW;
    float* g4 = r + paddedW;  // two rows: the right-hand corners' gradients, added shifted by one column
    blur_host_plane_backward(dy + p * outH * outW, gm, srcH, srcW, outH, outW, filtSize, stride, padLo, rows, cols, r,
                             g4);
    const float* xp = x + p * height * width;
    float* dxp = dx + p * height * width;
    memset(dxp, 0, sizeof(float) * height * width);
    for (int m = 0; m < srcH; ++m) {
      const float* __restrict__ r0 = xp + (int64_t)m * width;
      const float* __restrict__ r1 = r0 + width;
      const float* __restrict__ gr = gm + (int64_t)m * srcW;
      float* __restrict__ d0 = dxp + (int64_t)m * width;
      float* __restrict__ d1 = d0 + width;
      float* __restrict__ gA = g4;         // gradient of the corner (m, w + 1)
      float* __restrict__ gB = g4 + srcW;  // of the corner (m + 1, w + 1)
      // Eight windows at a time with explicit vectors: gcc keeps the scalar argmax as branches,
      // which mispredict on data.
      int w = 0;
      const pk_f8 zero = {};
      for (; w + 8 <= srcW; w += 8) {
        const pk_f8 v0 = pk_load8(r0 + w), v1 = pk_load8(r0 + w + 1);
        const pk_f8 v2 = pk_load8(r1 + w), v3 = pk_load8(r1 + w + 1);
        pk_f8 b = v0;
        const pk_i8 c1 = (v1 > b) | (v1 != v1);
        b = c1 ? v1 : b;
        const pk_i8 c2 = (v2 > b) | (v2 != v2);
        b = c2 ? v2 : b;
        const pk_i8 c3 = (v3 > b) | (v3 != v3);
        const pk_i8 is1 = c1 & ~c2 & ~c3, is2 = c2 & ~c3, is0 = ~(c1 | c2 | c3);
        const pk_f8 g = pk_load8(gr + w);
        pk_store8(d0 + w, pk_load8(d0 + w) + (is0 ? g : zero));
        pk_store8(d1 + w, pk_load8(d1 + w) + (is2 ? g : zero));
        pk_store8(gA + w, is1 ? g : zero);
        pk_store8(gB + w, c3 ? g : zero);
      }
      for (; w < srcW; ++w) {
        float b = r0[w];
        int arg = 0;
        float v = r0[w + 1];
        bool c = v > b || v != v;
        b = c ? v : b;
        arg = c ? 1 : arg;
        v = r1[w];
        c = v > b || v != v;
        b = c ? v : b;
        arg = c ? 2 : arg;
        v = r1[w + 1];
        c = v > b || v != v;
        arg = c ? 3 : arg;
        const float g = gr[w];
        d0[w] += arg == 0 ? g : 0.0f;
        d1[w] += arg == 2 ? g : 0.0f;
        gA[w] = arg == 1 ? g : 0.0f;
        gB[w] = arg == 3 ? g : 0.0f;
      }
      for (int w = 0; w < srcW; ++w) d0[w + 1] += gA[w];
      for (int w = 0; w < srcW; ++w) d1[w + 1] += gB[w];
    }
    free(gm);
  }
  free(rows);
  free(cols);
#endif
}
