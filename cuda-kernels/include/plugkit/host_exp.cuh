// e^x on the host, branch-free so that loops calling it vectorise (the host build has no vector
// expf): Cephes' expf, e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts),
// e^r by a degree-7 polynomial; within about 1 ulp of expf. Below -87 it returns 0 (e^-87 is
// 1.6e-38; expf's subnormals below it differ by less than that), above 88 +inf, and NaN stays NaN.
// Include it inside the same `#pragma GCC optimize` region as its callers: gcc inlines only
// between functions compiled with the same options, and the float compares here vectorise only
// without trapping math.
#pragma once
#include "plugkit/portable.cuh"

#if !PK_GPU
PK_INLINE float pk_host_exp(float x) {
  const float c = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : (x == x ? x : 0.0f));
  const float n = floorf(c * 1.44269504088896341f + 0.5f);
  const float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } two = {((int32_t)n + 127) << 23};
  const float y = p * two.f;
  return x < -87.0f ? 0.0f : (x > 88.0f ? INFINITY : (x == x ? y : x));
}

// The max of a contiguous row, skipping NaNs as fmaxf does (a NaN still turns its row NaN
// through exp), in 8 independent lanes so it vectorises; written as a select: gcc calls libm's
// fmaxf per value instead of inlining it.
PK_INLINE float pk_host_row_max(const float* xr, int64_t dim) {
  pk_f8 lanes = pk_f8{} - INFINITY;
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    const pk_f8 v = pk_load8(xr + d);
    lanes = v > lanes ? v : lanes;
  }
  float m = -INFINITY;
  for (; d < dim; ++d) m = xr[d] > m ? xr[d] : m;
  for (int j = 0; j < 8; ++j) m = lanes[j] > m ? lanes[j] : m;
  return m;
}

// The sum of exp(xr[d] - m) over a contiguous row, in 8 lanes; each exp also goes to er[d] when
// er is not null.
PK_INLINE float pk_host_row_exp_sum(const float* __restrict__ xr, float* __restrict__ er, int64_t dim, float m) {
  float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float s = 0.0f;
  int64_t d = 0;
  if (er == nullptr) {
    for (; d + 8 <= dim; d += 8) {
      for (int j = 0; j < 8; ++j) sums[j] += pk_host_exp(xr[d + j] - m);
    }
    for (; d < dim; ++d) s += pk_host_exp(xr[d] - m);
  } else {
    for (; d + 8 <= dim; d += 8) {
      for (int j = 0; j < 8; ++j) {
        er[d + j] = pk_host_exp(xr[d + j] - m);
        sums[j] += er[d + j];
      }
    }
    for (; d < dim; ++d) {
      er[d] = pk_host_exp(xr[d] - m);
      s += er[d];
    }
  }
  for (int j = 0; j < 8; ++j) s += sums[j];
  return s;
}
#endif
