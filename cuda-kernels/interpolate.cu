// 2-D resampling, forward and backward, as torch.nn.functional.interpolate (PyTorch 1.13, CPU
// kernels UpSampleKernel.cpp / UpSampleBicubic2d.cpp / UpSample.h / AdaptiveAveragePooling.cpp) in
// modes "nearest", "nearest-exact", "bilinear", "bicubic" and "area" (= adaptive_avg_pool2d).
// Shapes: x, dx [N, C, H, W]; y, dy [N, C, outH, outW].
// scaleH/scaleW are the source-per-destination steps the Java op computes as PyTorch does:
// 1/scale_factor when a scale factor is given (and not recomputed), else H/outH; for bilinear
// or bicubic with alignCorners, (H-1)/(outH-1), or 0 when outH == 1. Area needs no step.
// Thread mapping: one item per output value (area's backward: per input value); on the host the
// scatter backwards take one item per plane instead and need no atomics. The GPU backwards of
// nearest(-exact), bilinear and bicubic scatter into a zeroed dx with atomics: each output reads
// 1, 4 or 16 input pixels chosen by the forward's exact float index math, and repeating that math
// is the only way to hit the same pixels; a gather would have to invert floor() of a float
// product, which disagrees with the forward at boundaries. Several outputs share a source pixel,
// hence pk_atomic_add; the sums are therefore not bitwise reproducible on the GPU. The area
// backward is a gather (integer window bounds are easy to invert), deterministic on both targets.
#include "plugkit/portable.cuh"
#if !PK_GPU
#include <stdlib.h>
#endif

// PyTorch's nearest_idx: exact shortcuts for same size and 2x, else floor(dst * scale) in float,
// clamped to the last pixel.
// With exact ("nearest-exact", nearest_neighbor_exact_compute_source_index): floor((dst + 0.5) *
// scale), the product in double then rounded to float as the C++ expression does, no shortcuts.
PK_INLINE int64_t interp_nearest_source(int64_t dst, int inSize, int outSize, float scale, int exact) {
  if (exact) {
    int64_t src = (int64_t)floorf((float)(((double)dst + 0.5) * (double)scale));
    return src < inSize - 1 ? src : inSize - 1;
  }
  if (outSize == inSize) return dst;
  if (outSize == 2 * inSize) return dst >> 1;
  int64_t src = (int64_t)floorf((float)dst * scale);
  return src < inSize - 1 ? src : inSize - 1;
}

// PyTorch's compute_source_index_and_lambda: the two source pixels of dst and their weights.
// Same size copies. The align_corners-false position is computed in double and rounded to float,
// as the CPU code does, and clamped at 0.
PK_INLINE void interp_linear_source(int64_t dst, int inSize, int outSize, float scale, int alignCorners,
                                    int64_t* i0, int64_t* i1, float* l0, float* l1) {
  if (outSize == inSize) {
    *i0 = dst;
    *i1 = dst;
    *l0 = 1.0f;
    *l1 = 0.0f;
    return;
  }
  float src = alignCorners ? scale * (float)dst : (float)((double)scale * ((double)dst + 0.5) - 0.5);
  if (src < 0.0f) src = 0.0f;
  *i0 = (int64_t)src;
  *i1 = *i0 + (*i0 < inSize - 1 ? 1 : 0);
  float lambda = src - (float)*i0;
  *l1 = lambda < 0.0f ? 0.0f : (lambda > 1.0f ? 1.0f : lambda);
  *l0 = 1.0f - *l1;
}

PK_KERNEL void interpolate_nearest_forward(int64_t n, const float* x, float* y, int height, int width,
                                           int outH, int outW, float scaleH, float scaleW, int exact) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h = interp_nearest_source(oh, height, outH, scaleH, exact);
    int64_t w = interp_nearest_source(ow, width, outW, scaleW, exact);
    y[i] = x[(plane * height + h) * width + w];
  }
#else
  // Host: the column sources once per call, the row source once per output row (same index math).
  int64_t* ws = (int64_t*)malloc(sizeof(int64_t) * outW);
  for (int64_t ow = 0; ow < outW; ++ow) ws[ow] = interp_nearest_source(ow, width, outW, scaleW, exact);
  PK_FOR_WORK(r, n / outW, outW) {
    const int64_t oh = r % outH;
    const int64_t plane = r / outH;
    const float* src = x + (plane * height + interp_nearest_source(oh, height, outH, scaleH, exact)) * width;
    float* yr = y + r * outW;
    for (int64_t ow = 0; ow < outW; ++ow) yr[ow] = src[ws[ow]];
  }
  free(ws);
#endif
}

// Adds into dx, which the caller zeroes.
PK_KERNEL void interpolate_nearest_backward(int64_t n, const float* dy, float* dx, int height, int width,
                                            int outH, int outW, float scaleH, float scaleW, int exact) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h = interp_nearest_source(oh, height, outH, scaleH, exact);
    int64_t w = interp_nearest_source(ow, width, outW, scaleW, exact);
    pk_atomic_add(&dx[(plane * height + h) * width + w], dy[i]);  // outputs share source pixels
  }
#else
  // Host: one item per plane walks its outputs in order with plain adds (atomics cost more than
  // the work on a CPU), which is also PyTorch's CPU order.
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / outPlane, outPlane) {
    float* dxp = dx + plane * height * width;
    const float* dyp = dy + plane * outPlane;
    for (int64_t oh = 0; oh < outH; ++oh) {
      const int64_t h = interp_nearest_source(oh, height, outH, scaleH, exact);
      for (int64_t ow = 0; ow < outW; ++ow) {
        dxp[h * width + interp_nearest_source(ow, width, outW, scaleW, exact)] += dyp[oh * outW + ow];
      }
    }
  }
#endif
}

PK_KERNEL void interpolate_bilinear_forward(int64_t n, const float* x, float* y, int height, int width,
                                            int outH, int outW, float scaleH, float scaleW, int alignCorners) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, h1, w0, w1;
    float lh0, lh1, lw0, lw1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
    const float* xp = x + plane * height * width;
    y[i] = lh0 * (lw0 * xp[h0 * width + w0] + lw1 * xp[h0 * width + w1]) +
           lh1 * (lw0 * xp[h1 * width + w0] + lw1 * xp[h1 * width + w1]);
  }
#else
  // Host: the column sources depend only on ow, so they are computed once per call; one item
  // per output row then finds its row sources once. Same arithmetic as above.
  int64_t* w0s = (int64_t*)malloc(sizeof(int64_t) * 2 * outW);
  float* lws = (float*)malloc(sizeof(float) * 2 * outW);
  for (int64_t ow = 0; ow < outW; ++ow) {
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0s[2 * ow], &w0s[2 * ow + 1], &lws[2 * ow],
                         &lws[2 * ow + 1]);
  }
  PK_FOR_WORK(r, n / outW, outW) {
    const int64_t oh = r % outH;
    const int64_t plane = r / outH;
    int64_t h0, h1;
    float lh0, lh1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    const float* row0 = x + (plane * height + h0) * width;
    const float* row1 = x + (plane * height + h1) * width;
    float* yr = y + r * outW;
    for (int64_t ow = 0; ow < outW; ++ow) {
      const int64_t w0 = w0s[2 * ow], w1 = w0s[2 * ow + 1];
      const float lw0 = lws[2 * ow], lw1 = lws[2 * ow + 1];
      yr[ow] = lh0 * (lw0 * row0[w0] + lw1 * row0[w1]) + lh1 * (lw0 * row1[w0] + lw1 * row1[w1]);
    }
  }
  free(w0s);
  free(lws);
#endif
}

// Adds into dx, which the caller zeroes.
PK_KERNEL void interpolate_bilinear_backward(int64_t n, const float* dy, float* dx, int height, int width,
                                             int outH, int outW, float scaleH, float scaleW, int alignCorners) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, h1, w0, w1;
    float lh0, lh1, lw0, lw1;
    interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
    interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
    float* dxp = dx + plane * height * width;
    float g = dy[i];
    // Neighbouring outputs share these four pixels (and h0 == h1 at the last row), hence atomics.
    pk_atomic_add(&dxp[h0 * width + w0], lh0 * lw0 * g);
    pk_atomic_add(&dxp[h0 * width + w1], lh0 * lw1 * g);
    pk_atomic_add(&dxp[h1 * width + w0], lh1 * lw0 * g);
    pk_atomic_add(&dxp[h1 * width + w1], lh1 * lw1 * g);
  }
#else
  // Host: one item per plane walks its outputs in order with plain adds (no atomics, PyTorch's
  // CPU order); the row's source pair is found once per row.
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / outPlane, outPlane) {
    float* dxp = dx + plane * height * width;
    const float* dyp = dy + plane * outPlane;
    for (int64_t oh = 0; oh < outH; ++oh) {
      int64_t h0, h1;
      float lh0, lh1;
      interp_linear_source(oh, height, outH, scaleH, alignCorners, &h0, &h1, &lh0, &lh1);
      for (int64_t ow = 0; ow < outW; ++ow) {
        int64_t w0, w1;
        float lw0, lw1;
        interp_linear_source(ow, width, outW, scaleW, alignCorners, &w0, &w1, &lw0, &lw1);
        const float g = dyp[oh * outW + ow];
        dxp[h0 * width + w0] += lh0 * lw0 * g;
        dxp[h0 * width + w1] += lh0 * lw1 * g;
        dxp[h1 * width + w0] += lh1 * lw0 * g;
        dxp[h1 * width + w1] += lh1 * lw1 * g;
      }
    }
  }
#endif
}

// Cubic convolution weights of PyTorch's get_cubic_upsample_coefficients (Keys, A = -0.75) for
// the fraction t of the source position past tap 1 of the 4 taps floor(src) - 1 .. + 2.
PK_INLINE void interp_cubic_weights(float t, float* c) {
  const float A = -0.75f;
  float x1 = t, x2 = 1.0f - t;
  float u = x1 + 1.0f, v = x2 + 1.0f;
  c[0] = ((A * u - 5.0f * A) * u + 8.0f * A) * u - 4.0f * A;
  c[1] = ((A + 2.0f) * x1 - (A + 3.0f)) * x1 * x1 + 1.0f;
  c[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
  c[3] = ((A * v - 5.0f * A) * v + 8.0f * A) * v - 4.0f * A;
}

// Source of dst along one axis for bicubic: area_pixel_compute_source_index with cubic = true, so
// a negative position is kept (its weights matter); i0 = floor(src), weights from src - i0. Taps
// outside [0, inSize) are clamped to the border by the callers, as upsample_get_value_bounded.
PK_INLINE void interp_cubic_source(int64_t dst, float scale, int alignCorners, int64_t* i0, float* c) {
  float src = alignCorners ? scale * (float)dst : scale * ((float)dst + 0.5f) - 0.5f;
  float f = floorf(src);
  *i0 = (int64_t)f;
  interp_cubic_weights(src - f, c);
}

PK_INLINE int64_t interp_clamp(int64_t i, int size) { return i < 0 ? 0 : (i > size - 1 ? size - 1 : i); }

PK_KERNEL void interpolate_bicubic_forward(int64_t n, const float* x, float* y, int height, int width,
                                           int outH, int outW, float scaleH, float scaleW, int alignCorners) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, w0;
    float ch[4], cw[4];
    interp_cubic_source(oh, scaleH, alignCorners, &h0, ch);
    interp_cubic_source(ow, scaleW, alignCorners, &w0, cw);
    const float* xp = x + plane * height * width;
    int64_t ws[4];
    for (int b = 0; b < 4; ++b) ws[b] = interp_clamp(w0 - 1 + b, width);
    // Rows of the column sums, as PyTorch's separable evaluation (h outer, w inner).
    float acc = 0.0f;
    for (int a = 0; a < 4; ++a) {
      const float* row = xp + interp_clamp(h0 - 1 + a, height) * width;
      float r = row[ws[0]] * cw[0];
      for (int b = 1; b < 4; ++b) r += row[ws[b]] * cw[b];
      acc = a == 0 ? r * ch[0] : acc + r * ch[a];
    }
    y[i] = acc;
  }
#else
  // Host: the column taps and weights once per call, the rows once per output row; the sums in
  // the same order as above.
  int64_t* ws = (int64_t*)malloc(sizeof(int64_t) * 4 * outW);
  float* cws = (float*)malloc(sizeof(float) * 4 * outW);
  for (int64_t ow = 0; ow < outW; ++ow) {
    int64_t w0;
    interp_cubic_source(ow, scaleW, alignCorners, &w0, &cws[4 * ow]);
    for (int b = 0; b < 4; ++b) ws[4 * ow + b] = interp_clamp(w0 - 1 + b, width);
  }
  PK_FOR_WORK(r, n / outW, outW) {
    const int64_t oh = r % outH;
    const int64_t plane = r / outH;
    int64_t h0;
    float ch[4];
    interp_cubic_source(oh, scaleH, alignCorners, &h0, ch);
    const float* xp = x + plane * height * width;
    const float* rows[4];
    for (int a = 0; a < 4; ++a) rows[a] = xp + interp_clamp(h0 - 1 + a, height) * width;
    float* yr = y + r * outW;
    for (int64_t ow = 0; ow < outW; ++ow) {
      const int64_t* wt = ws + 4 * ow;
      const float* cw = cws + 4 * ow;
      float acc = 0.0f;
      for (int a = 0; a < 4; ++a) {
        const float* row = rows[a];
        float r = row[wt[0]] * cw[0];
        for (int b = 1; b < 4; ++b) r += row[wt[b]] * cw[b];
        acc = a == 0 ? r * ch[0] : acc + r * ch[a];
      }
      yr[ow] = acc;
    }
  }
  free(ws);
  free(cws);
#endif
}

// Adds into dx, which the caller zeroes. Same size passes the gradient through unchanged even when
// a scale factor made the forward resample: PyTorch 1.13's CPU backward (upsample_bicubic2d_backward
// _out_frame) has that shortcut and its forward does not; we match it.
PK_KERNEL void interpolate_bicubic_backward(int64_t n, const float* dy, float* dx, int height, int width,
                                            int outH, int outW, float scaleH, float scaleW, int alignCorners) {
  if (outH == height && outW == width) {
    PK_FOR(i, n) dx[i] += dy[i];
    return;
  }
#if PK_GPU
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0, w0;
    float ch[4], cw[4];
    interp_cubic_source(oh, scaleH, alignCorners, &h0, ch);
    interp_cubic_source(ow, scaleW, alignCorners, &w0, cw);
    float* dxp = dx + plane * height * width;
    float g = dy[i];
    // Neighbouring outputs share taps, and clamped taps coincide at the borders: atomics.
    for (int a = 0; a < 4; ++a) {
      int64_t h = interp_clamp(h0 - 1 + a, height);
      for (int b = 0; b < 4; ++b) pk_atomic_add(&dxp[h * width + interp_clamp(w0 - 1 + b, width)], g * ch[a] * cw[b]);
    }
  }
#else
  // Host: one item per plane walks its outputs in order with plain adds, as PyTorch's CPU
  // backward (upsample_increment_value_bounded) does.
  const int64_t outPlane = (int64_t)outH * outW;
  PK_FOR_WORK(plane, n / outPlane, outPlane) {
    float* dxp = dx + plane * height * width;
    const float* dyp = dy + plane * outPlane;
    for (int64_t oh = 0; oh < outH; ++oh) {
      int64_t h0;
      float ch[4];
      interp_cubic_source(oh, scaleH, alignCorners, &h0, ch);
      for (int64_t ow = 0; ow < outW; ++ow) {
        int64_t w0;
        float cw[4];
        interp_cubic_source(ow, scaleW, alignCorners, &w0, cw);
        const float g = dyp[oh * outW + ow];
        for (int b = 0; b < 4; ++b) {
          int64_t w = interp_clamp(w0 - 1 + b, width);
          for (int a = 0; a < 4; ++a) dxp[interp_clamp(h0 - 1 + a, height) * width + w] += g * ch[a] * cw[b];
        }
      }
    }
  }
#endif
}

// adaptive_avg_pool2d's window of output o along an axis: [floor(o * in / out), ceil((o + 1) * in / out)).
PK_INLINE int64_t interp_area_start(int64_t o, int in, int out) { return (o * in) / out; }
PK_INLINE int64_t interp_area_end(int64_t o, int in, int out) { return ((o + 1) * in + out - 1) / out; }

PK_KERNEL void interpolate_area_forward(int64_t n, const float* x, float* y, int height, int width, int outH,
                                        int outW) {
  PK_FOR(i, n) {
    int64_t ow = i % outW;
    int64_t oh = (i / outW) % outH;
    int64_t plane = i / ((int64_t)outW * outH);
    int64_t h0 = interp_area_start(oh, height, outH), h1 = interp_area_end(oh, height, outH);
    int64_t w0 = interp_area_start(ow, width, outW), w1 = interp_area_end(ow, width, outW);
    const float* xp = x + plane * height * width;
    float sum = 0.0f;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) sum += xp[h * width + w];
    }
    y[i] = sum / (float)((h1 - h0) * (w1 - w0));
  }
}

// Gather, one item per input pixel: the outputs whose windows hold it are a contiguous range
// per axis, found from an estimate moved down while the previous window still covers it.
PK_INLINE int64_t interp_area_first(int64_t p, int in, int out) {
  int64_t o = (p * out) / in;
  while (o > 0 && interp_area_end(o - 1, in, out) > p) --o;
  while (interp_area_end(o, in, out) <= p) ++o;
  return o;
}

// Writes every dx value (no zeroing needed).
PK_KERNEL void interpolate_area_backward(int64_t n, const float* dy, float* dx, int height, int width, int outH,
                                         int outW) {
#if PK_GPU
  PK_FOR(i, n) {
    int64_t w = i % width;
    int64_t h = (i / width) % height;
    int64_t plane = i / ((int64_t)width * height);
    const float* dyp = dy + plane * outH * outW;
    int64_t ow0 = interp_area_first(w, width, outW);
    float sum = 0.0f;
    for (int64_t oh = interp_area_first(h, height, outH); oh < outH && interp_area_start(oh, height, outH) <= h; ++oh) {
      float kh = (float)(interp_area_end(oh, height, outH) - interp_area_start(oh, height, outH));
      for (int64_t ow = ow0; ow < outW && interp_area_start(ow, width, outW) <= w; ++ow) {
        float kw = (float)(interp_area_end(ow, width, outW) - interp_area_start(ow, width, outW));
        sum += dyp[oh * outW + ow] / (kh * kw);
      }
    }
    dx[i] = sum;
  }
#else
  // Host: each axis' first reader per input and window start and size per output, once per call;
  // one item per input row; the same sums in the same order as above.
  int64_t* firstH = (int64_t*)malloc(sizeof(int64_t) * height);
  int64_t* firstW = (int64_t*)malloc(sizeof(int64_t) * width);
  int64_t* startH = (int64_t*)malloc(sizeof(int64_t) * outH);
  int64_t* startW = (int64_t*)malloc(sizeof(int64_t) * outW);
  float* kh = (float*)malloc(sizeof(float) * outH);
  float* kw = (float*)malloc(sizeof(float) * outW);
  for (int64_t h = 0; h < height; ++h) firstH[h] = interp_area_first(h, height, outH);
  for (int64_t w = 0; w < width; ++w) firstW[w] = interp_area_first(w, width, outW);
  for (int64_t oh = 0; oh < outH; ++oh) {
    startH[oh] = interp_area_start(oh, height, outH);
    kh[oh] = (float)(interp_area_end(oh, height, outH) - startH[oh]);
  }
  for (int64_t ow = 0; ow < outW; ++ow) {
    startW[ow] = interp_area_start(ow, width, outW);
    kw[ow] = (float)(interp_area_end(ow, width, outW) - startW[ow]);
  }
  PK_FOR_WORK(r, n / width, (int64_t)width * 4) {
    const int64_t h = r % height;
    const int64_t plane = r / height;
    const float* dyp = dy + plane * outH * outW;
    float* dxr = dx + r * width;
    for (int64_t w = 0; w < width; ++w) {
      float sum = 0.0f;
      for (int64_t oh = firstH[h]; oh < outH && startH[oh] <= h; ++oh) {
        for (int64_t ow = firstW[w]; ow < outW && startW[ow] <= w; ++ow) sum += dyp[oh * outW + ow] / (kh[oh] * kw[ow]);
      }
      dxr[w] = sum;
    }
  }
  free(firstH);
  free(firstW);
  free(startH);
  free(startW);
  free(kh);
  free(kw);
#endif
}
