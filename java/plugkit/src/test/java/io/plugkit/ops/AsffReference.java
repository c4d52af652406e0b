package io.plugkit.ops;

/**
 * Plain-Java ASFF fusion in double: w = softmax over the three logits of each pixel (max
 * subtracted, as PyTorch), y = sum_k w_k f_k; backward df_k = w_k dy, dlogit_k = w_k (g_k - sum_j
 * w_j g_j) with g_k = sum_c dy f_k. Layouts: logits [n, 3, plane], f_k and dy [n, c, plane].
 */
final class AsffReference {
  private AsffReference() {}

  record Grads(double[] logits, double[] f0, double[] f1, double[] f2) {}

  static double[] weights(float[] logits, int b, int p, int plane) {
    double l0 = logits[(b * 3) * plane + p], l1 = logits[(b * 3 + 1) * plane + p], l2 = logits[(b * 3 + 2) * plane + p];
    double m = Math.max(l0, Math.max(l1, l2));
    double e0 = Math.exp(l0 - m), e1 = Math.exp(l1 - m), e2 = Math.exp(l2 - m);
    double s = e0 + e1 + e2;
    return new double[] {e0 / s, e1 / s, e2 / s};
  }

  static double[] forward(float[] logits, float[][] f, int n, int c, int plane) {
    double[] y = new double[n * c * plane];
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < plane; p++) {
        double[] w = weights(logits, b, p, plane);
        for (int ch = 0; ch < c; ch++) {
          int i = (b * c + ch) * plane + p;
          y[i] = w[0] * f[0][i] + w[1] * f[1][i] + w[2] * f[2][i];
        }
      }
    }
    return y;
  }

  static Grads backward(float[] logits, float[][] f, float[] dy, int n, int c, int plane) {
    double[] dl = new double[n * 3 * plane];
    double[][] df = new double[3][n * c * plane];
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < plane; p++) {
        double[] w = weights(logits, b, p, plane);
        double[] g = new double[3];
        for (int ch = 0; ch < c; ch++) {
          int i = (b * c + ch) * plane + p;
          for (int k = 0; k < 3; k++) {
            g[k] += dy[i] * (double) f[k][i];
            df[k][i] = w[k] * dy[i];
          }
        }
        double dot = w[0] * g[0] + w[1] * g[1] + w[2] * g[2];
        for (int k = 0; k < 3; k++) dl[(b * 3 + k) * plane + p] = w[k] * (g[k] - dot);
      }
    }
    return new Grads(dl, df[0], df[1], df[2]);
  }
}
