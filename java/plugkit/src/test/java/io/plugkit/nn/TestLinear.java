package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;

/**
 * A hand-written fully connected layer for the framework tests, computed on the host in naive
 * loops: y [n, out] = x [n, in] * weight^T [in, out] + bias [out] (torch.nn.Linear's names and
 * layout), with its backward for x, weight and bias.
 */
final class TestLinear extends Module {
  final Parameter weight;
  final Parameter bias;
  private final int in;
  private final int out;

  TestLinear(io.plugkit.Device device, int in, int out, long seed) {
    this.in = in;
    this.out = out;
    float bound = (float) (1 / Math.sqrt(in));
    weight = registerParameter("weight", Tensor.uniform(device, seed, -bound, bound, out, in));
    bias = registerParameter("bias", Tensor.uniform(device, seed + 1, -bound, bound, out));
  }

  @Override public Tensor forward(Tensor x) {
    int n = x.dim(0);
    float[] xs = x.toArray();
    float[] w = weight.tensor().toArray();
    float[] b = bias.tensor().toArray();
    float[] y = new float[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double acc = b[o];
        for (int k = 0; k < in; k++) acc += (double) xs[i * in + k] * w[o * in + k];
        y[i * out + o] = (float) acc;
      }
    }
    Tensor result = Tensor.of(x.device(), y, n, out);
    return Autograd.record("test_linear", result, g -> {
      float[] gs = g.toArray();
      float[] dx = new float[n * in];
      float[] dw = new float[out * in];
      float[] db = new float[out];
      for (int i = 0; i < n; i++) {
        for (int o = 0; o < out; o++) {
          float go = gs[i * out + o];
          db[o] += go;
          for (int k = 0; k < in; k++) {
            dx[i * in + k] += go * w[o * in + k];
            dw[o * in + k] += go * xs[i * in + k];
          }
        }
      }
      return new Tensor[] {
          x.requiresGrad() ? Tensor.of(x.device(), dx, n, in) : null,
          Tensor.of(x.device(), dw, out, in),
          Tensor.of(x.device(), db, out)};
    }, x, weight.tensor(), bias.tensor());
  }
}
