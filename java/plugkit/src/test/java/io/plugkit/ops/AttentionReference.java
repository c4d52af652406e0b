package io.plugkit.ops;

/**
 * Attention in double with naive loops, test scope only: out = softmax(scale * q k^T) v and the
 * gradients of sum(out * gout) with respect to q, k and v, from the explicit B x N x M matrix.
 * Arrays are row-major: q [B, N, D], k [B, M, D], v [B, M, Dv], gout [B, N, Dv].
 */
final class AttentionReference {
  final double[] out;
  final double[] dq;
  final double[] dk;
  final double[] dv;

  AttentionReference(float[] q, float[] k, float[] v, float[] gout, int b, int n, int m, int d, int dvDim, double scale) {
    this(q, k, v, gout, b, n, m, d, dvDim, scale, false);
  }

  /**
   * With floatLogits, the logits are the float32 ones, (float) dot * (float) scale rounded once,
   * from a dot product the caller makes exact in float (integers); the rest stays in double. At
   * large logits that is the function a float32 implementation can be held to.
   */
  AttentionReference(float[] q, float[] k, float[] v, float[] gout, int b, int n, int m, int d, int dvDim, double scale,
      boolean floatLogits) {
    out = new double[b * n * dvDim];
    dq = new double[q.length];
    dk = new double[k.length];
    dv = new double[v.length];
    for (int bi = 0; bi < b; bi++) {
      for (int i = 0; i < n; i++) {
        double[] p = probabilities(q, k, bi, i, n, m, d, scale, floatLogits);
        int row = bi * n + i;
        // dP_ij = gout_i . v_j; dS_ij = P_ij (dP_ij - sum_l P_il dP_il)
        double[] dp = new double[m];
        double weighted = 0;
        for (int j = 0; j < m; j++) {
          for (int c = 0; c < dvDim; c++) {
            double vjc = v[(bi * m + j) * dvDim + c];
            out[row * dvDim + c] += p[j] * vjc;
            dp[j] += gout[row * dvDim + c] * vjc;
            dv[(bi * m + j) * dvDim + c] += p[j] * gout[row * dvDim + c];
          }
          weighted += p[j] * dp[j];
        }
        for (int j = 0; j < m; j++) {
          double ds = p[j] * (dp[j] - weighted) * scale;
          for (int c = 0; c < d; c++) {
            dq[row * d + c] += ds * k[(bi * m + j) * d + c];
            dk[(bi * m + j) * d + c] += ds * q[row * d + c];
          }
        }
      }
    }
  }

  private static double[] probabilities(float[] q, float[] k, int bi, int i, int n, int m, int d, double scale,
      boolean floatLogits) {
    double[] s = new double[m];
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < m; j++) {
      for (int c = 0; c < d; c++) s[j] += (double) q[(bi * n + i) * d + c] * k[(bi * m + j) * d + c];
      s[j] = floatLogits ? (double) ((float) s[j] * (float) scale) : s[j] * scale;
      max = Math.max(max, s[j]);
    }
    double sum = 0;
    for (int j = 0; j < m; j++) sum += s[j] = Math.exp(s[j] - max);
    for (int j = 0; j < m; j++) s[j] /= sum;
    return s;
  }
}
