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

#if !PK_GPU
// Each kx's first input column w0 = kx*dilation - pad and its valid outputs [lo, hi): the same for
// every row, so the host kernels take them from here instead of dividing per row and tap (those
// divisions cost more than a depthwise row's FMAs). The caller frees the table.
struct AtrousCols {
  int64_t w0;
  int lo, hi;
};
static AtrousCols* atrous_cols(int kw, int dw, int pw, int sw, int width, int outW) {
  AtrousCols* c = (AtrousCols*)malloc(sizeof(AtrousCols) * (size_t)(kw > 0 ? kw : 1));
  for (int kx = 0; kx < kw; ++kx) {
    c[kx].w0 = (int64_t)kx * dw - pw;
    pk_inside_range(c[kx].w0, sw, width, outW, &c[kx].lo, &c[kx].hi);
  }
  return c;
}

// The planar host path (stride 1) runs where a launch has at least this many planes, enough to
// share out among the threads; fewer (and strided convs) keep the row-parallel loops.
enum { ATROUS_PLANAR_MIN_PLANES = 16 };

// pad [padRows, pitch] = src [srcH, srcW] shifted down by padT and right by padL (negative: cropped),
// zero elsewhere.
static void atrous_pad_plane(float* pad, int64_t padRows, int64_t pitch, const float* src, int srcH, int srcW,
                             int padT, int padL) {
  const int64_t c0 = padL > 0 ? padL : 0;             // first padded column that holds a source value
  const int64_t s0 = padL > 0 ? 0 : -(int64_t)padL;  // its source column
  const int64_t len = srcW - s0 < pitch - c0 ? srcW - s0 : pitch - c0;
  for (int64_t pr = 0; pr < padRows; ++pr) {
    float* d = pad + pr * pitch;
    const int64_t sr = pr - padT;
    memset(d, 0, sizeof(float) * pitch);
    if (sr >= 0 && sr < srcH && len > 0) memcpy(d + c0, src + sr * srcW + s0, sizeof(float) * len);
  }
}

// acc[r * cols8 + q] += sum over taps of wt[ky * kw + kx] * src[r + ky*dh - padT][q + kx*dw - padL],
// reading 0 outside src [srcH, srcW] (a pad < 0 crops), for r < rows and q < cols8 (a multiple of
// 8; the columns past the caller's are computed and ignored). src is first copied, zero-padded,
// into pad (rows + (kh-1)*dh rows of cols8 + (kw-1)*dw floats), so every tap of every 8 outputs is
// one unaligned vector load and FMA, with no bounds test: per row and tap, the bounded scalar loop
// of 28 columns (a 28x28 depthwise map) cost more than its arithmetic.
static void atrous_plane_taps(float* acc, int rows, int cols8, const float* src, int srcH, int srcW, int padT,
                              int padL, const float* wt, int kh, int kw, int dh, int dw, float* pad) {
  const int64_t pitch = cols8 + (int64_t)(kw - 1) * dw;
  atrous_pad_plane(pad, rows + (int64_t)(kh - 1) * dh, pitch, src, srcH, srcW, padT, padL);
  if (kh == 3 && kw == 3) {
    // 3x3: the nine weights broadcast once into registers, not reloaded per 8 outputs; the same
    // sums in the same order as the loop below.
    pk_f8 wv[9];
    for (int t = 0; t < 9; ++t) wv[t] = pk_f8{} + wt[t];
    for (int r = 0; r < rows; ++r) {
      float* ar = acc + (int64_t)r * cols8;
      const float* x0 = pad + (int64_t)r * pitch;
      const float* x1 = x0 + (int64_t)dh * pitch;
      const float* x2 = x1 + (int64_t)dh * pitch;
      for (int q = 0; q < cols8; q += 8) {
        pk_f8 a = pk_load8(ar + q);
        a += wv[0] * pk_load8(x0 + q);
        a += wv[1] * pk_load8(x0 + q + dw);
        a += wv[2] * pk_load8(x0 + q + 2 * dw);
        a += wv[3] * pk_load8(x1 + q);
        a += wv[4] * pk_load8(x1 + q + dw);
        a += wv[5] * pk_load8(x1 + q + 2 * dw);
        a += wv[6] * pk_load8(x2 + q);
        a += wv[7] * pk_load8(x2 + q + dw);
        a += wv[8] * pk_load8(x2 + q + 2 * dw);
        pk_store8(ar + q, a);
      }
    }
    return;
  }
  for (int r = 0; r < rows; ++r) {
    float* ar = acc + (int64_t)r * cols8;
    for (int q = 0; q < cols8; q += 8) {
      pk_f8 a = pk_load8(ar + q);
      for (int ky = 0; ky < kh; ++ky) {
        const float* pr = pad + (r + (int64_t)ky * dh) * pitch + q;
        for (int kx = 0; kx < kw; ++kx) a += wt[ky * kw + kx] * pk_load8(pr + (int64_t)kx * dw);
      }
      pk_store8(ar + q, a);
    }
  }
}

// Floats of one plane's scratch: the accumulator (or dy) [rows, cols8], then the padded source.
static int64_t atrous_plane_floats(int rows, int cols8, int kh, int kw, int dh, int dw) {
  return (int64_t)rows * cols8 + (rows + (int64_t)(kh - 1) * dh) * (cols8 + (int64_t)(kw - 1) * dw);
}

// Whether a launch takes the planar path: stride 1, enough planes, and a scratch of at most
// 64 MiB a thread (a larger plane keeps the row loops, which need none).
static bool atrous_planar(int sh, int sw, int64_t planes, int rows, int cols8, int kh, int kw, int dh, int dw) {
  return sh == 1 && sw == 1 && planes >= ATROUS_PLANAR_MIN_PLANES &&
         atrous_plane_floats(rows, cols8, kh, kw, dh, dw) <= ((int64_t)16 << 20);
}

// Scratch of one plane for atrous_plane_taps, its accumulator zeroed.
static float* atrous_plane_scratch(int rows, int cols8, int kh, int kw, int dh, int dw) {
  const int64_t accFloats = (int64_t)rows * cols8;
  float* s = (float*)malloc(sizeof(float) * atrous_plane_floats(rows, cols8, kh, kw, dh, dw));
  memset(s, 0, sizeof(float) * accFloats);
  return s;
}

// sums[ky * kw + kx] += sum over r < outH, q < outW of gy[r][q] * x[r + ky*dh - ph][q + kx*dw - pw]
// (0 outside x): one plane's share of every tap's weight gradient at stride 1, over 8-wide vectors
// of dy (its row tails zeroed) against the padded x. scratch: outH*cols8 + the padded plane.
static void atrous_plane_weight_taps(double* sums, const float* gy, const float* x, int height, int width, int outH,
                                     int outW, int cols8, int ph, int pw, int kh, int kw, int dh, int dw,
                                     float* scratch) {
  float* g = scratch;
  float* pad = scratch + (int64_t)outH * cols8;
  const int64_t pitch = cols8 + (int64_t)(kw - 1) * dw;
  atrous_pad_plane(g, outH, cols8, gy, outH, outW, 0, 0);
  atrous_pad_plane(pad, outH + (int64_t)(kh - 1) * dh, pitch, x, height, width, ph, pw);
  if (kh == 3 && kw == 3) {
    // 3x3: the nine sums stay in registers and each 8 values of dy are loaded once, for nine FMAs
    // (per tap, a pass loaded dy again for each). Rows and blocks in the padding add exact zeros:
    // the same bits as the per-tap loop below for finite dy (an infinite dy times padding is NaN
    // here, as in im2col + GEMM, where the loop below skips it).
    pk_f8 a[9];
    for (int t = 0; t < 9; ++t) a[t] = pk_f8{};
    for (int r = 0; r < outH; ++r) {
      const float* gr = g + (int64_t)r * cols8;
      const float* x0 = pad + (int64_t)r * pitch;
      const float* x1 = x0 + (int64_t)dh * pitch;
      const float* x2 = x1 + (int64_t)dh * pitch;
      for (int q = 0; q < cols8; q += 8) {
        const pk_f8 gv = pk_load8(gr + q);
        a[0] += gv * pk_load8(x0 + q);
        a[1] += gv * pk_load8(x0 + q + dw);
        a[2] += gv * pk_load8(x0 + q + 2 * dw);
        a[3] += gv * pk_load8(x1 + q);
        a[4] += gv * pk_load8(x1 + q + dw);
        a[5] += gv * pk_load8(x1 + q + 2 * dw);
        a[6] += gv * pk_load8(x2 + q);
        a[7] += gv * pk_load8(x2 + q + dw);
        a[8] += gv * pk_load8(x2 + q + 2 * dw);
      }
    }
    for (int t = 0; t < 9; ++t) {
      float v = 0.0f;
      for (int l = 0; l < 8; ++l) v += a[t][l];
      sums[t] += v;
    }
    return;
  }
  for (int ky = 0; ky < kh; ++ky) {
    // Only the rows and 8-column blocks whose x lies (partly) inside the image: at large rates
    // most of a tap's products read padding.
    const int64_t rlo = ph - (int64_t)ky * dh > 0 ? ph - (int64_t)ky * dh : 0;
    const int64_t rhi = height + ph - (int64_t)ky * dh < outH ? height + ph - (int64_t)ky * dh : outH;
    for (int kx = 0; kx < kw; ++kx) {
      const int64_t qlo = pw - (int64_t)kx * dw > 0 ? pw - (int64_t)kx * dw : 0;
      const int64_t qhi = width + pw - (int64_t)kx * dw < outW ? width + pw - (int64_t)kx * dw : outW;
      pk_f8 a = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t r = rlo; r < rhi; ++r) {
        const float* gr = g + r * cols8;
        const float* xr = pad + (r + (int64_t)ky * dh) * pitch + (int64_t)kx * dw;
        for (int64_t q = qlo & ~(int64_t)7; q < qhi; q += 8) a += pk_load8(gr + q) * pk_load8(xr + q);
      }
      float t = 0.0f;
      for (int l = 0; l < 8; ++l) t += a[l];
      sums[ky * kw + kx] += t;
    }
  }
}

// rows of cols floats from the accumulator (row pitch cols8) to dst.
static void atrous_plane_store(float* dst, const float* acc, int rows, int cols, int cols8) {
  for (int r = 0; r < rows; ++r) memcpy(dst + (int64_t)r * cols, acc + (int64_t)r * cols8, sizeof(float) * cols);
}
#endif

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
  const int cols8 = (outW + 7) & ~7;
  if (atrous_planar(sh, sw, n / outH, outH, cols8, kh, kw, dh, dw)) {
    PK_FOR_WORK(plane, n / outH, (int64_t)outH * outW * cg * kh * kw) {
      const int64_t oc = plane % cout;
      const int64_t b = plane / cout;
      const int64_t g = oc / og;
      float* acc = atrous_plane_scratch(outH, cols8, kh, kw, dh, dw);
      for (int ci = 0; ci < cg; ++ci) {
        atrous_plane_taps(acc, outH, cols8, x + (b * cin + g * cg + ci) * height * width, height, width, ph, pw,
                          w + (oc * cg + ci) * kh * kw, kh, kw, dh, dw, acc + (int64_t)outH * cols8);
      }
      atrous_plane_store(y + plane * outH * outW, acc, outH, outW, cols8);
      free(acc);
    }
    return;
  }
  AtrousCols* cols = atrous_cols(kw, dw, pw, sw, width, outW);
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
          const AtrousCols c = cols[kx];
          const float wv = wp[ky * kw + kx];
          if (sw == 1) {
            for (int ow = c.lo; ow < c.hi; ++ow) yr[ow] += wv * xr[c.w0 + ow];
          } else {
            for (int ow = c.lo; ow < c.hi; ++ow) yr[ow] += wv * xr[c.w0 + (int64_t)ow * sw];
          }
        }
      }
    }
  }
  free(cols);
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
  const int cols8 = (width + 7) & ~7;
  if (atrous_planar(sh, sw, n / height, height, cols8, kh, kw, dh, dw)) {
    // At stride 1, dx is the correlation of dy with the flipped kernel, padded by (k-1)*d - p.
    const int taps = kh * kw;
    PK_FOR_WORK(plane, n / height, (int64_t)height * width * og * kh * kw) {
      const int64_t ic = plane % cin;
      const int64_t b = plane / cin;
      const int64_t g = ic / cg;
      const int64_t ci = ic - g * cg;
      float* acc = atrous_plane_scratch(height, cols8, kh, kw, dh, dw);
      float* flipped = (float*)malloc(sizeof(float) * taps);
      for (int o = 0; o < og; ++o) {
        const int64_t oc = g * og + o;
        const float* wp = w + (oc * cg + ci) * taps;
        for (int t = 0; t < taps; ++t) flipped[t] = wp[taps - 1 - t];
        atrous_plane_taps(acc, height, cols8, gy + (b * cout + oc) * outH * outW, outH, outW, (kh - 1) * dh - ph,
                          (kw - 1) * dw - pw, flipped, kh, kw, dh, dw, acc + (int64_t)height * cols8);
      }
      atrous_plane_store(dx + plane * height * width, acc, height, width, cols8);
      free(flipped);
      free(acc);
    }
    return;
  }
  AtrousCols* cols = atrous_cols(kw, dw, pw, sw, width, outW);  // output ow reads input column w0 + ow*sw
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
        if (hs < 0 || (sh == 1 ? hs >= outH : hs % sh != 0 || hs / sh >= outH)) continue;
        const float* gr = gp + (sh == 1 ? hs : hs / sh) * outW;
        for (int kx = 0; kx < kw; ++kx) {
          const AtrousCols c = cols[kx];
          const float wv = wp[ky * kw + kx];
          if (sw == 1) {
            for (int ow = c.lo; ow < c.hi; ++ow) dr[c.w0 + ow] += wv * gr[ow];
          } else {
            for (int ow = c.lo; ow < c.hi; ++ow) dr[c.w0 + (int64_t)ow * sw] += wv * gr[ow];
          }
        }
      }
    }
  }
  free(cols);
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
#if !PK_GPU
  const int taps = kh * kw;
  const int cols8 = (outW + 7) & ~7;
  if (atrous_planar(sh, sw, n / taps, outH, cols8, kh, kw, dh, dw) && 2 * ph <= height && 2 * pw <= width) {
    // One item per (oc, ci) pair, every tap at once: its planes are padded once per image. With
    // padding past half the map (rate 24 on 33x33) copying the padded plane costs more than the
    // few valid products (0.68x of the loop below at rate 24 on 1x256x33x33), so those keep it.
    const int64_t scratchFloats = atrous_plane_floats(outH, cols8, kh, kw, dh, dw);
    PK_FOR_WORK(pair, n / taps, (int64_t)batch * outH * outW * taps) {
      const int64_t ci = pair % cg;
      const int64_t oc = pair / cg;
      const int64_t ic = (oc / og) * cg + ci;
      double* sums = (double*)calloc((size_t)taps, sizeof(double));
      float* scratch = (float*)malloc(sizeof(float) * scratchFloats);
      for (int64_t b = 0; b < batch; ++b) {
        atrous_plane_weight_taps(sums, gy + (b * cout + oc) * outH * outW, x + (b * cin + ic) * height * width, height,
                                 width, outH, outW, cols8, ph, pw, kh, kw, dh, dw, scratch);
      }
      for (int t = 0; t < taps; ++t) dwt[pair * taps + t] = (float)sums[t];
      free(scratch);
      free(sums);
    }
    return;
  }
#endif
  PK_FOR_WORK(i, n, (int64_t)batch * outH * outW) {
    const int kx = (int)(i % kw);
    const int ky = (int)((i / kw) % kh);
    const int64_t ci = (i / ((int64_t)kw * kh)) % cg;
    const int64_t oc = i / ((int64_t)kw * kh * cg);
    const int64_t ic = (oc / og) * cg + ci;
    const int64_t w0 = (int64_t)kx * dw - pw;
    int lo, hi;
    pk_inside_range(w0, sw, width, outW, &lo, &hi);
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
