package io.plugkit.ops;

/**
 * Plain-loop dilated convolution in double (PyTorch's conv2d definition), for AtrousConvTest:
 * x [n, cin, h, w], weight [cout, cin/groups, kh, kw]; every tap, padding samples read as zero.
 */
final class AtrousReference {
  final int n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, outH, outW;

  AtrousReference(int[] xs, int[] ws, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    n = xs[0]; cin = xs[1]; h = xs[2]; w = xs[3];
    cout = ws[0]; kh = ws[2]; kw = ws[3];
    this.sh = sh; this.sw = sw; this.ph = ph; this.pw = pw; this.dh = dh; this.dw = dw; this.groups = groups;
    outH = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    outW = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  }

  /** Calls visit(xIndex, wIndex, yIndex) for every product of the convolution. */
  private void each(Visit v) {
    int cg = cin / groups;
    int og = cout / groups;
    for (int b = 0; b < n; b++)
      for (int oc = 0; oc < cout; oc++)
        for (int ci = 0; ci < cg; ci++)
          for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
              for (int oh = 0; oh < outH; oh++) {
                int ih = oh * sh - ph + ky * dh;
                if (ih < 0 || ih >= h) continue;
                for (int ow = 0; ow < outW; ow++) {
                  int iw = ow * sw - pw + kx * dw;
                  if (iw < 0 || iw >= w) continue;
                  int ic = (oc / og) * cg + ci;
                  v.at(((b * cin + ic) * h + ih) * w + iw, ((oc * cg + ci) * kh + ky) * kw + kx,
                      ((b * cout + oc) * outH + oh) * outW + ow);
                }
              }
  }

  private interface Visit { void at(int xi, int wi, int yi); }

  double[] forward(float[] x, float[] wt, float[] bias) {
    double[] y = new double[n * cout * outH * outW];
    each((xi, wi, yi) -> y[yi] += (double) x[xi] * wt[wi]);
    if (bias != null) for (int i = 0; i < y.length; i++) y[i] += bias[(i / (outH * outW)) % cout];
    return y;
  }

  double[] inputGrad(float[] gy, float[] wt) {
    double[] dx = new double[n * cin * h * w];
    each((xi, wi, yi) -> dx[xi] += (double) gy[yi] * wt[wi]);
    return dx;
  }

  double[] weightGrad(float[] x, float[] gy) {
    double[] dwt = new double[cout * (cin / groups) * kh * kw];
    each((xi, wi, yi) -> dwt[wi] += (double) gy[yi] * x[xi]);
    return dwt;
  }

  double[] biasGrad(float[] gy) {
    double[] db = new double[cout];
    for (int i = 0; i < gy.length; i++) db[(i / (outH * outW)) % cout] += gy[i];
    return db;
  }
}
