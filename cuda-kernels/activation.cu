// Elementwise activations: relu, sigmoid, tanh, forward and backward.
// Shapes: any contiguous F32 tensor viewed as n values. Thread mapping: one item per value.
#include "plugkit/portable.cuh"

// PyTorch's relu is clamp_min(x, 0), which propagates NaN: relu(NaN) = NaN.
PK_KERNEL void relu_forward(int64_t n, const float* x, float* y) {
  PK_FOR(i, n) { y[i] = x[i] < 0.0f ? 0.0f : x[i]; }
}

// PyTorch's threshold_backward: x <= 0 ? 0 : dy. The gradient at exactly 0 is 0, and a NaN input
// passes dy through (NaN <= 0 is false).
PK_KERNEL void relu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  PK_FOR(i, n) { dx[i] = x[i] <= 0.0f ? 0.0f : dy[i]; }
}

PK_KERNEL void sigmoid_forward(int64_t n, const float* x, float* y) {
  PK_FOR(i, n) { y[i] = pk_sigmoid(x[i]); }
}

// From the saved output: dsigmoid/dx = y * (1 - y).
PK_KERNEL void sigmoid_backward(int64_t n, const float* y, const float* dy, float* dx) {
  PK_FOR(i, n) { dx[i] = dy[i] * y[i] * (1.0f - y[i]); }
}

PK_KERNEL void tanh_forward(int64_t n, const float* x, float* y) {
  PK_FOR(i, n) { y[i] = tanhf(x[i]); }
}

// From the saved output: dtanh/dx = 1 - y^2.
PK_KERNEL void tanh_backward(int64_t n, const float* y, const float* dy, float* dx) {
  PK_FOR(i, n) { dx[i] = dy[i] * (1.0f - y[i] * y[i]); }
}

// PyTorch's leaky_relu: x > 0 ? x : x * slope, any slope. NaN propagates (NaN > 0 is false and
// NaN * slope is NaN); x = 0 gives 0 * slope (-0 for a negative slope), as PyTorch's.
PK_KERNEL void leaky_relu_forward(int64_t n, const float* x, float* y, float slope) {
  PK_FOR(i, n) { y[i] = x[i] > 0.0f ? x[i] : x[i] * slope; }
}

// PyTorch's leaky_relu_backward: x > 0 ? dy : dy * slope, so the gradient at exactly 0 and at a
// NaN input is dy * slope.
PK_KERNEL void leaky_relu_backward(int64_t n, const float* x, const float* dy, float* dx, float slope) {
  PK_FOR(i, n) { dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * slope; }
}
