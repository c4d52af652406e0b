// Atrous (dilated) convolution that does only useful work (DeepLab, Chen et al. 2017). For each
// kernel tap (ky, kx) the outputs whose input sample lies inside the image form one rectangle;
// at large rates most taps of a 3x3 see only padding over most (or all) of the map. The op
// (AtrousConv.java) runs one GEMM per tap over that rectangle: these kernels pack a tap's weights,
// gather a rectangle of an image batch into a dense matrix and add a matrix back into one.
// Depthwise and narrow groups, where GEMMs would be 1xK, use the direct kernels below instead.
#include "plugkit/portable.cuh"

// dst[i] = w[i * taps + tap], i < n = rows * cols: one tap of [rows, cols, taps] weights as a
// dense [rows, cols] matrix.
PK_KERNEL void atrous_pack_tap(int64_t n, const float* w, float* dst, int taps, int tap) {
  PK_FOR(i, n) { dst[i] = w[i * taps + tap]; }
}

// The adjoint: dw[i * taps + tap] = src[i] (overwrites that tap).
PK_KERNEL void atrous_unpack_tap(int64_t n, const float* src, float* dw, int taps, int tap) {
  PK_FOR(i, n) { dw[i * taps + tap] = src[i]; }
}

// Every tap at once (one launch, one parallel region): weights [per, taps] as [taps, per]; n = per*taps.
// The host reads w in order (one weight's taps at a time): per output element it read a strided
// gather, 3.5 GB/s on a 256x256x3x3 weight (0.67 ms, a tenth of a rate-18 forward).
PK_KERNEL void atrous_pack_taps(int64_t n, const float* w, float* dst, int taps) {
  const int64_t per = n / taps;
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t t = i / per;
    dst[i] = w[(i - t * per) * taps + t];
  }
#else
  PK_FOR_WORK(i, per, taps) {
    for (int t = 0; t < taps; ++t) dst[t * per + i] = w[i * taps + t];
  }
#endif
}

// The adjoint of atrous_pack_taps: dw [per, taps] from src [taps, per]; n = per*taps.
PK_KERNEL void atrous_unpack_taps(int64_t n, const float* src, float* dw, int taps) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t t = i % taps;
    dw[i] = src[t * (n / taps) + i / taps];
  }
#else
  const int64_t per = n / taps;
  PK_FOR_WORK(i, per, taps) {
    for (int t = 0; t < taps; ++t) dw[i * taps + t] = src[t * per + i];
  }
#endif
}

// Rectangle of an image batch: image b, channel c, row r < rh, column q < rw is the sample
// (h0 + r*sh, w0 + q*sw) of plane [height, width] at src + b*imageStride + c*height*width.
// dst is dense [channels, batch, rh, rw]. n = channels*batch*rh rows; every sample is inside.
// The offset of rectangle row `row` (c, b, r)'s first sample (q = 0) in the batch.
PK_INLINE int64_t atrous_row_offset(int64_t row, int64_t imageStride, int batch, int height, int width, int rh, int h0,
                                    int w0, int sh) {
  const int64_t r = row % rh;
  const int64_t b = (row / rh) % batch;
  const int64_t c = row / ((int64_t)rh * batch);
  return b * imageStride + (c * height + h0 + r * sh) * width + w0;
}

PK_KERNEL void atrous_gather(int64_t n, const float* src, float* dst, int64_t imageStride, int batch, int height,
                             int width, int rh, int rw, int h0, int w0, int sh, int sw) {
#if PK_GPU
  PK_FOR(i, n * rw) {
    dst[i] = src[atrous_row_offset(i / rw, imageStride, batch, height, width, rh, h0, w0, sh) + i % rw * sw];
  }
#else
  PK_FOR_WORK(row, n, rw) {
    const float* s = src + atrous_row_offset(row, imageStride, batch, height, width, rh, h0, w0, sh);
    float* d = dst + row * rw;
    if (sw == 1) {
      memcpy(d, s, sizeof(float) * rw);
    } else {
      for (int q = 0; q < rw; ++q) d[q] = s[(int64_t)q * sw];
    }
  }
#endif
}

// The adjoint of atrous_gather: dst's rectangle += src ([channels, batch, rh, rw]). Rows of one
// launch touch distinct samples (no atomics; deterministic).
PK_KERNEL void atrous_scatter_add(int64_t n, const float* src, float* dst, int64_t imageStride, int batch, int height,
                                  int width, int rh, int rw, int h0, int w0, int sh, int sw) {
#if PK_GPU
  PK_FOR(i, n * rw) {
    dst[atrous_row_offset(i / rw, imageStride, batch, height, width, rh, h0, w0, sh) + i % rw * sw] += src[i];
  }
#else
  PK_FOR_WORK(row, n, rw) {
    float* d = dst + atrous_row_offset(row, imageStride, batch, height, width, rh, h0, w0, sh);
    const float* s = src + row * rw;
    if (sw == 1) {
      for (int q = 0; q < rw; ++q) d[q] += s[q];
    } else {
      for (int q = 0; q < rw; ++q) d[(int64_t)q * sw] += s[q];
    }
  }
#endif
}

// ---- Direct kernels (depthwise, narrow groups) ------------------------------------------------
// x [batch, cin, H, W], w [cout, cin/groups, kh, kw], y [batch, cout, outH, outW]. Each loop
// visits only the taps and columns whose input is inside the image.

// The [lo, hi) of q in [0, count) with 0 <= start + q*step < limit.
PK_INLINE void atrous_range(int64_t start, int step, int limit, int count, int* lo, int* hi) {
  const int64_t first = start >= 0 ? 0 : (-start + step - 1) / step;
  const int64_t end = start >= limit ? 0 : (limit - start + step - 1) / step;
  *lo = (int)(first < count ? first : count);
  *hi = (int)(end < count ? end : count);
  if (*hi < *lo) *hi = *lo;
}

// Forward, overwriting y. n = batch*cout*outH output rows.
PK_KERNEL void atrous_direct_forward(int64_t n, const float* x, const float* w, float* y, int cin, int height,
                                     int width, int cout, int outH, int outW, int kh, int kw, int sh, int sw,
                                     int ph, int pw, int dh, int dw, int groups) {
  const int cg = cin / groups;
  const int og = cout / groups;
#if PK_GPU
  PK_FOR(i, n * outW) {
    const int64_t ow = i % outW;
    const int64_t row = i / outW;
    const int64_t oh = row % outH;
    const int64_t oc = (row / outH) % cout;
    const int64_t b = row / ((int64_t)outH * cout);
    const int64_t g = oc / og;
    float acc = 0.0f;
    for (int ci = 0; ci < cg; ++ci) {
      const float* xp = x + (b * cin + g * cg + ci) * height * width;
      const float* wp = w + (oc * cg + ci) * kh * kw;
      for (int ky = 0; ky < kh; ++ky) {
        const int64_t h = oh * sh - ph + (int64_t)ky * dh;
        if (h < 0 || h >= height) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int64_t ww = ow * sw - pw + (int64_t)kx * dw;
          if (ww >= 0 && ww < width) acc += wp[ky * kw + kx] * xp[h * width + ww];
        }
      }
    }
    y[i] = acc;
  }
#else
  PK_FOR_WORK(row, n, (int64_t)outW * cg * kh * kw) {
    const int64_t oh = row % outH;
    const int64_t oc = (row / outH) % cout;
    const int64_t b = row / ((int64_t)outH * cout);
    const int64_t g = oc / og;
    float* yr = y + row * outW;
    for (int ow = 0; ow < outW; ++ow) yr[ow] = 0.0f;
    for (int ci = 0; ci < cg; ++ci) {
      const float* xp = x + (b * cin + g * cg + ci) * height * width;
      const float* wp = w + (oc * cg + ci) * kh * kw;
      for (int ky = 0; ky < kh; ++ky) {
        const int64_t h = oh * sh - ph + (int64_t)ky * dh;
        if (h < 0 || h >= height) continue;
        const float* xr = xp + h * width;
        for (int kx = 0; kx < kw; ++kx) {
          const int64_t w0 = (int64_t)kx * dw - pw;
          int lo, hi;
          atrous_range(w0, sw, width, outW, &lo, &hi);
          const float wv = wp[ky * kw + kx];
          if (sw == 1) {
            for (int ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[w0 + ow];
          } else {
            for (int ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[w0 + (int64_t)ow * sw];
          }
        }
      }
    }
  }
#endif
}

// Gradient of the input, overwriting dx. n = batch*cin*H input rows; a row sums what every
// output that read it sends back (a gather: no atomics).
PK_KERNEL void atrous_direct_backward_data(int64_t n, const float* gy, const float* w, float* dx, int cin,
                                           int height, int width, int cout, int outH, int outW, int kh, int kw,
                                           int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
  const int cg = cin / groups;
  const int og = cout / groups;
#if PK_GPU
  PK_FOR(i, n * width) {
    const int64_t xw = i % width;
    const int64_t row = i / width;
    const int64_t h = row % height;
    const int64_t ic = (row / height) % cin;
    const int64_t b = row / ((int64_t)height * cin);
    const int64_t g = ic / cg;
    const int64_t ci = ic - g * cg;
    float acc = 0.0f;
    for (int o = 0; o < og; ++o) {
      const int64_t oc = g * og + o;
      const float* gp = gy + (b * cout + oc) * outH * outW;
      const float* wp = w + (oc * cg + ci) * kh * kw;
      for (int ky = 0; ky < kh; ++ky) {
        const int64_t hs = h + ph - (int64_t)ky * dh;
        if (hs < 0 || hs % sh != 0 || hs / sh >= outH) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int64_t ws = xw + pw - (int64_t)kx * dw;
          if (ws < 0 || ws % sw != 0 || ws / sw >= outW) continue;
          acc += wp[ky * kw + kx] * gp[(hs / sh) * outW + ws / sw];
        }
      }
    }
    dx[i] = acc;
  }
#else
  PK_FOR_WORK(row, n, (int64_t)width * og * kh * kw) {
    const int64_t h = row % height;
    const int64_t ic = (row / height) % cin;
    const int64_t b = row / ((int64_t)height * cin);
    const int64_t g = ic / cg;
    const int64_t ci = ic - g * cg;
    float* dr = dx + row * width;
    for (int xw = 0; xw < width; ++xw) dr[xw] = 0.0f;
    for (int o = 0; o < og; ++o) {
      const int64_t oc = g * og + o;
      const float* gp = gy + (b * cout + oc) * outH * outW;
      const float* wp = w + (oc * cg + ci) * kh * kw;
      for (int ky = 0; ky < kh; ++ky) {
        const int64_t hs = h + ph - (int64_t)ky * dh;
        if (hs < 0 || hs % sh != 0 || hs / sh >= outH) continue;
        const float* gr = gp + (hs / sh) * outW;
        for (int kx = 0; kx < kw; ++kx) {
          const int64_t w0 = (int64_t)kx * dw - pw;  // output ow reads input column w0 + ow*sw
          int lo, hi;
          atrous_range(w0, sw, width, outW, &lo, &hi);
          const float wv = wp[ky * kw + kx];
          if (sw == 1) {
            for (int ow = lo; ow < hi; ++ow) dr[w0 + ow] += wv * gr[ow];
          } else {
            for (int ow = lo; ow < hi; ++ow) dr[w0 + (int64_t)ow * sw] += wv * gr[ow];
          }
        }
      }
    }
  }
#endif
}

// Gradient of the weight, overwriting dw (zeros when batch is 0). n = cout*(cin/groups)*kh*kw
// items, one weight each, summed over the batch and the tap's valid rectangle.
PK_KERNEL void atrous_direct_backward_weight(int64_t n, const float* x, const float* gy, float* dwt, int cin,
                                             int height, int width, int cout, int outH, int outW, int kh, int kw,
                                             int sh, int sw, int ph, int pw, int dh, int dw, int groups,
                                             int batch) {
  const int cg = cin / groups;
  const int og = cout / groups;
  PK_FOR_WORK(i, n, (int64_t)batch * outH * outW) {
    const int kx = (int)(i % kw);
    const int ky = (int)((i / kw) % kh);
    const int64_t ci = (i / ((int64_t)kw * kh)) % cg;
    const int64_t oc = i / ((int64_t)kw * kh * cg);
    const int64_t ic = (oc / og) * cg + ci;
    const int64_t w0 = (int64_t)kx * dw - pw;
    int lo, hi;
    atrous_range(w0, sw, width, outW, &lo, &hi);
    double sum = 0.0;
    for (int64_t b = 0; b < batch; ++b) {
      const float* xp = x + (b * cin + ic) * height * width;
      const float* gp = gy + (b * cout + oc) * outH * outW;
      for (int oh = 0; oh < outH; ++oh) {
        const int64_t h = (int64_t)oh * sh - ph + (int64_t)ky * dh;
        if (h < 0 || h >= height) continue;
        const float* xr = xp + h * width + w0;
        const float* gr = gp + (int64_t)oh * outW;
        float part = 0.0f;
        for (int ow = lo; ow < hi; ++ow) part += gr[ow] * xr[(int64_t)ow * sw];
        sum += part;
      }
    }
    dwt[i] = (float)sum;
  }
}
