package io.plugkit.ops;

import io.plugkit.ops.Losses.Reduction;

/**
 * Pure-Java references for the losses, in double, straight from the definitions of
 * torch.nn.functional (PyTorch 1.13); gradients by central differences of the reference forward,
 * so they are independent of the kernels' analytic backward.
 */
final class LossReference {
  private LossReference() {}

  /** Cross-entropy over logits [n, c, s] (row-major), targets [n, s]; weight may be null. */
  static double[] crossEntropy(double[] z, int n, int c, int s, long[] target, float[] weight, long ignoreIndex,
      double smoothing, Reduction reduction) {
    int rows = n * s;
    double[] nll = new double[rows];
    double[] smooth = new double[rows];
    double nllSum = 0, smoothSum = 0, weightSum = 0;
    for (int r = 0; r < rows; r++) {
      long t = target[r];
      if (t == ignoreIndex) continue;
      int base = (r / s) * c * s + r % s;
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < c; k++) max = Math.max(max, z[base + k * s]);
      double sumExp = 0;
      for (int k = 0; k < c; k++) sumExp += Math.exp(z[base + k * s] - max);
      double lse = max + Math.log(sumExp);
      double wt = weight == null ? 1 : weight[(int) t];
      nll[r] = -wt * (z[base + (int) t * s] - lse);
      for (int k = 0; k < c; k++) smooth[r] -= (weight == null ? 1 : weight[k]) * (z[base + k * s] - lse);
      nllSum += nll[r];
      smoothSum += smooth[r];
      weightSum += wt;
    }
    return switch (reduction) {
      case NONE -> {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) out[r] = (1 - smoothing) * nll[r] + smoothing / c * smooth[r];
        yield out;
      }
      case SUM -> new double[] {(1 - smoothing) * nllSum + smoothing / c * smoothSum};
      case MEAN -> new double[] {((1 - smoothing) * nllSum + smoothing / c * smoothSum) / weightSum};
    };
  }

  static double[] mse(double[] x, double[] y, Reduction reduction) {
    double[] sq = new double[x.length];
    double sum = 0;
    for (int i = 0; i < x.length; i++) {
      sq[i] = (x[i] - y[i]) * (x[i] - y[i]);
      sum += sq[i];
    }
    return switch (reduction) {
      case NONE -> sq;
      case SUM -> new double[] {sum};
      case MEAN -> new double[] {sum / x.length};
    };
  }

  /** d/dv of sum(f(v) * gout) by central differences (f is smooth where these tests probe it). */
  static double[] gradient(java.util.function.Function<double[], double[]> f, double[] v, float[] gout) {
    double h = 1e-5;
    double[] g = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      double keep = v[i];
      v[i] = keep + h;
      double up = dot(f.apply(v), gout);
      v[i] = keep - h;
      double down = dot(f.apply(v), gout);
      v[i] = keep;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  }

  static double dot(double[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  static double[] toDouble(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }
}
