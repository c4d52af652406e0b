// Optimizer updates, fused per parameter: SGD (momentum, dampening, weight decay, Nesterov) and
// Adam / AdamW (amsgrad, coupled or decoupled weight decay), the single-tensor updates of
// torch.optim in PyTorch 1.13. Adam: Kingma & Ba, "Adam: A Method for Stochastic Optimization"
// (ICLR 2015); AdamW: Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).
//
// Shapes: a parameter, its gradient and each state tensor are flat arrays of the same n values.
// Thread mapping: one work item per element; elements are independent, so no atomics.
#include "plugkit/portable.cuh"

// torch.optim.SGD: d = g + weightDecay * p; with momentum, buf = d on the first step, else
// buf = momentum * buf + (1 - dampening) * d; then d = d + momentum * buf (Nesterov) or d = buf;
// p -= lr * d. buf is null when momentum is 0. maximize negates the gradient first.
PK_KERNEL void sgd_step(int64_t n, float* param, const float* grad, float* momentumBuffer, float lr, float momentum,
                        float dampening, float weightDecay, int nesterov, int firstStep, int maximize) {
  PK_FOR(i, n) {
    float d = maximize ? -grad[i] : grad[i];
    if (weightDecay != 0.0f) d += weightDecay * param[i];
    if (momentumBuffer) {
      const float buf = firstStep ? d : momentum * momentumBuffer[i] + (1.0f - dampening) * d;
      momentumBuffer[i] = buf;
      d = nesterov ? d + momentum * buf : buf;
    }
    param[i] -= lr * d;
  }
}

// torch.optim.Adam / AdamW. Coupled decay (Adam) adds weightDecay * p to the gradient; decoupled
// decay (AdamW) first scales p by (1 - lr * weightDecay). Then
//   m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g^2,  vmax = max(vmax, v)
//   p -= stepSize * m / (sqrt(v or vmax) / biasCorrection2Sqrt + eps)
// with stepSize = lr / (1 - beta1^t) and biasCorrection2Sqrt = sqrt(1 - beta2^t), computed on the
// host in double as PyTorch does in Python. maxExpAvgSq is null without amsgrad.
PK_KERNEL void adam_step(int64_t n, float* param, const float* grad, float* expAvg, float* expAvgSq,
                         float* maxExpAvgSq, float lr, float beta1, float beta2, float eps, float weightDecay,
                         int decoupled, float stepSize, float biasCorrection2Sqrt, int maximize) {
  PK_FOR(i, n) {
    float g = maximize ? -grad[i] : grad[i];
    float p = param[i];
    if (weightDecay != 0.0f) {
      if (decoupled) p *= 1.0f - lr * weightDecay;
      else g += weightDecay * p;
    }
    const float m = beta1 * expAvg[i] + (1.0f - beta1) * g;
    float v = beta2 * expAvgSq[i] + (1.0f - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    if (maxExpAvgSq) {
      v = fmaxf(maxExpAvgSq[i], v);
      maxExpAvgSq[i] = v;
    }
    param[i] = p - stepSize * m / (sqrtf(v) / biasCorrection2Sqrt + eps);
  }
}
