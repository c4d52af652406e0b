// Memory primitives every op needs: fill, y += alpha * x and y = a + b (gradient accumulation).
// Shapes: flat n floats. Thread mapping: one item per value.
#include "plugkit/portable.cuh"

PK_KERNEL void fill_f32(int64_t n, float* y, float value) {
  PK_FOR(i, n) { y[i] = value; }
}

PK_KERNEL void axpy_f32(int64_t n, float alpha, const float* x, float* y) {
  PK_FOR(i, n) { y[i] += alpha * x[i]; }
}

PK_KERNEL void add_f32(int64_t n, const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y) {
  PK_FOR(i, n) { y[i] = a[i] + b[i]; }
}
