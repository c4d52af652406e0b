// Dropout: a Bernoulli(1 - p) keep mask scaled by 1 / (1 - p), forward and backward.
// Shapes: any contiguous F32 tensor viewed as n values. Thread mapping: one item per value.
// The mask is a pure function of (seed, index) (a counter-based generator: splitmix64's finaliser
// over seed and index), so the CPU and the GPU draw the same mask for one seed, whatever the
// thread count or launch geometry, and the backward recomputes it instead of storing it.
#include "plugkit/portable.cuh"

// splitmix64 of the index-th step of the sequence started at seed.
PK_INLINE uint64_t dropout_hash(int64_t seed, int64_t index) {
  uint64_t z = (uint64_t) seed + ((uint64_t) index + 1u) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Keeps the value when a uniform u in [0, 1) (24 bits, exact in float) is >= p: P(keep) = 1 - p
// to 2^-24; p = 0 keeps everything, p = 1 nothing.
PK_INLINE float dropout_factor(int64_t seed, int64_t index, float p, float scale) {
  float u = (float) (dropout_hash(seed, index) >> 40) * 5.9604644775390625e-8f;
  return u >= p ? scale : 0.0f;
}

// PyTorch multiplies by the noise tensor (0 or 1/(1-p)), so a dropped NaN or Inf stays NaN.
PK_KERNEL void dropout_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t seed, float p,
                               float scale) {
  PK_FOR(i, n) { y[i] = x[i] * dropout_factor(seed, i, p, scale); }
}

// dx = dy * noise, the mask recomputed from the seed.
PK_KERNEL void dropout_backward(int64_t n, const float* __restrict__ dy, float* __restrict__ dx, int64_t seed, float p,
                                float scale) {
  PK_FOR(i, n) { dx[i] = dy[i] * dropout_factor(seed, i, p, scale); }
}

// The noise itself (0 or scale), for tests and callers that want the mask.
PK_KERNEL void dropout_mask(int64_t n, float* __restrict__ mask, int64_t seed, float p, float scale) {
  PK_FOR(i, n) { mask[i] = dropout_factor(seed, i, p, scale); }
}
