package io.plugkit.ops;

/**
 * Pure-Java interpolate reference from PyTorch 1.13's CPU definitions (UpSample.h,
 * UpSampleKernel.cpp): source indices with PyTorch's float arithmetic (the definition itself),
 * the weighted sums in double. Arrays are row-major [n, c, h, w].
 */
final class InterpolateReference {
  private InterpolateReference() {}

  /** Source steps: PyTorch's area_pixel_compute_scale; scale null = no scale factor used. */
  static float step(int in, int out, Double scale, boolean alignCorners) {
    if (alignCorners) return out > 1 ? (float) (in - 1) / (float) (out - 1) : 0f;
    if (scale != null) return (float) (1.0 / scale);
    return (float) in / (float) out;
  }

  static int nearestSource(int dst, int in, int out, float step) {
    if (out == in) return dst;
    if (out == 2 * in) return dst / 2;
    return Math.min((int) Math.floor(dst * step), in - 1);
  }

  /** {index0, index1} and {lambda0, lambda1} of one axis. */
  record Linear(int i0, int i1, double l0, double l1) {}

  static Linear linearSource(int dst, int in, int out, float step, boolean alignCorners) {
    if (out == in) return new Linear(dst, dst, 1, 0);
    float src = alignCorners ? step * dst : (float) (step * (dst + 0.5) - 0.5);
    if (src < 0) src = 0;
    int i0 = (int) src;
    int i1 = i0 < in - 1 ? i0 + 1 : i0;
    float l1 = Math.min(Math.max(src - i0, 0f), 1f);
    return new Linear(i0, i1, 1f - l1, l1);
  }

  /** Forward (gout == null) or the gradient of x for gout. */
  static double[] run(float[] x, float[] gout, int n, int c, int h, int w, int outH, int outW, float stepH,
      float stepW, boolean bilinear, boolean alignCorners) {
    double[] result = new double[gout == null ? n * c * outH * outW : n * c * h * w];
    for (int p = 0; p < n * c; p++) {
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          int o = (p * outH + oh) * outW + ow;
          int[] hs;
          int[] ws;
          double[] wh;
          double[] ww;
          if (bilinear) {
            Linear a = linearSource(oh, h, outH, stepH, alignCorners);
            Linear b = linearSource(ow, w, outW, stepW, alignCorners);
            hs = new int[] {a.i0(), a.i1()};
            wh = new double[] {a.l0(), a.l1()};
            ws = new int[] {b.i0(), b.i1()};
            ww = new double[] {b.l0(), b.l1()};
          } else {
            hs = new int[] {nearestSource(oh, h, outH, stepH)};
            ws = new int[] {nearestSource(ow, w, outW, stepW)};
            wh = new double[] {1};
            ww = new double[] {1};
          }
          for (int a = 0; a < hs.length; a++) {
            for (int b = 0; b < ws.length; b++) {
              int src = (p * h + hs[a]) * w + ws[b];
              if (gout == null) result[o] += wh[a] * ww[b] * x[src];
              else result[src] += wh[a] * ww[b] * gout[o];
            }
          }
        }
      }
    }
    return result;
  }
}
