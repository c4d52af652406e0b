// Memory primitives every op needs: fill and y += alpha * x (gradient accumulation).
// Shapes: flat n floats. Thread mapping: one item per value.
#include "plugkit/portable.cuh"

PK_KERNEL void fill_f32(int64_t n, float* y, float value) {
  PK_FOR(i, n) { y[i] = value; }
}

PK_KERNEL void axpy_f32(int64_t n, float alpha, const float* x, float* y) {
  PK_FOR(i, n) { y[i] += alpha * x[i]; }
}
