package io.plugkit.nn;

import io.plugkit.Tensor;

/**
 * A stand-in with BatchNorm1d's state dict layout (weight, bias, running_mean, running_var and the
 * I64 scalar num_batches_tracked, optional on load as in PyTorch) and its eval-mode forward on the
 * host: y = (x - mean) / sqrt(var + 1e-5) * weight + bias over x [n, c]. No backward: the
 * framework tests only load and evaluate it.
 */
final class TestBatchNorm1d extends Module {
  final Parameter weight;
  final Parameter bias;
  final Tensor runningMean;
  final Tensor runningVar;
  final Tensor numBatchesTracked;

  TestBatchNorm1d(io.plugkit.Device device, int c) {
    weight = registerParameter("weight", Tensor.ones(device, c));
    bias = registerParameter("bias", Tensor.zeros(device, c));
    runningMean = registerBuffer("running_mean", Tensor.zeros(device, c));
    runningVar = registerBuffer("running_var", Tensor.ones(device, c));
    numBatchesTracked = registerBuffer("num_batches_tracked", Tensor.ofLongs(device, new long[] {0}), false);
  }

  @Override public Tensor forward(Tensor x) {
    int n = x.dim(0);
    int c = x.dim(1);
    float[] xs = x.toArray();
    float[] w = weight.tensor().toArray();
    float[] b = bias.tensor().toArray();
    float[] mean = runningMean.toArray();
    float[] var = runningVar.toArray();
    float[] y = new float[xs.length];
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < c; k++) {
        y[i * c + k] = (float) ((xs[i * c + k] - mean[k]) / Math.sqrt(var[k] + 1e-5) * w[k] + b[k]);
      }
    }
    return Tensor.of(x.device(), y, n, c);
  }
}
