package io.plugkit.ops;

/**
 * Pure-Java interpolate reference from PyTorch 1.13's CPU definitions (UpSample.h,
 * UpSampleKernel.cpp, UpSampleBicubic2d.cpp, AdaptiveAveragePooling.cpp): source indices and
 * weights with PyTorch's float arithmetic (the definition itself), the weighted sums in double.
 * Arrays are row-major [n, c, h, w].
 */
final class InterpolateReference {
  private InterpolateReference() {}

  /** Source steps: PyTorch's area_pixel_compute_scale; scale null = no scale factor used. */
  static float step(int in, int out, Double scale, boolean alignCorners) {
    if (alignCorners) return out > 1 ? (float) (in - 1) / (float) (out - 1) : 0f;
    if (scale != null) return (float) (1.0 / scale);
    return (float) in / (float) out;
  }

  static int nearestExactSource(int dst, int in, float step) {
    return Math.min((int) Math.floor((float) ((dst + 0.5) * step)), in - 1);
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

  /** Taps (clamped to [0, in)) and weights of one axis. */
  record Taps(int[] index, double[] weight) {}

  /** Cubic convolution, A = -0.75, evaluated in float as PyTorch. */
  static Taps cubicSource(int dst, int in, float step, boolean alignCorners) {
    float src = alignCorners ? step * dst : step * (dst + 0.5f) - 0.5f;
    int i0 = (int) Math.floor(src);
    float t = src - i0;
    float a = -0.75f;
    float u = t + 1f;
    float t2 = 1f - t;
    float v = t2 + 1f;
    double[] weight = {
        ((a * u - 5 * a) * u + 8 * a) * u - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1,
        ((a * v - 5 * a) * v + 8 * a) * v - 4 * a};
    int[] index = new int[4];
    for (int k = 0; k < 4; k++) index[k] = Math.clamp(i0 - 1 + k, 0, in - 1);
    return new Taps(index, weight);
  }

  /** adaptive_avg_pool2d's window [floor(o * in / out), ceil((o + 1) * in / out)), equal weights. */
  static Taps areaSource(int o, int in, int out) {
    int start = (int) Math.floor((double) o * in / out);
    int end = (int) Math.ceil((double) (o + 1) * in / out);
    int[] index = new int[end - start];
    double[] weight = new double[end - start];
    for (int k = 0; k < index.length; k++) {
      index[k] = start + k;
      weight[k] = 1.0 / index.length;
    }
    return new Taps(index, weight);
  }

  static Taps taps(Interpolate.Mode mode, int dst, int in, int out, float step, boolean alignCorners) {
    return switch (mode) {
      case NEAREST -> new Taps(new int[] {nearestSource(dst, in, out, step)}, new double[] {1});
      case NEAREST_EXACT -> new Taps(new int[] {nearestExactSource(dst, in, step)}, new double[] {1});
      case BILINEAR -> {
        Linear l = linearSource(dst, in, out, step, alignCorners);
        yield new Taps(new int[] {l.i0(), l.i1()}, new double[] {l.l0(), l.l1()});
      }
      case BICUBIC -> cubicSource(dst, in, step, alignCorners);
      case AREA -> areaSource(dst, in, out);
    };
  }

  /**
   * Forward (gout == null) or the gradient of x for gout. Bicubic's gradient at same size is gout
   * itself, whatever the step: PyTorch 1.13's CPU backward copies there (its forward does not).
   */
  static double[] run(float[] x, float[] gout, int n, int c, int h, int w, int outH, int outW, float stepH,
      float stepW, Interpolate.Mode mode, boolean alignCorners) {
    if (gout != null && mode == Interpolate.Mode.BICUBIC && outH == h && outW == w) {
      double[] copy = new double[gout.length];
      for (int i = 0; i < copy.length; i++) copy[i] = gout[i];
      return copy;
    }
    double[] result = new double[gout == null ? n * c * outH * outW : n * c * h * w];
    for (int p = 0; p < n * c; p++) {
      for (int oh = 0; oh < outH; oh++) {
        Taps th = taps(mode, oh, h, outH, stepH, alignCorners);
        for (int ow = 0; ow < outW; ow++) {
          Taps tw = taps(mode, ow, w, outW, stepW, alignCorners);
          int o = (p * outH + oh) * outW + ow;
          for (int a = 0; a < th.index().length; a++) {
            for (int b = 0; b < tw.index().length; b++) {
              int src = (p * h + th.index()[a]) * w + tw.index()[b];
              double wt = th.weight()[a] * tw.weight()[b];
              if (gout == null) result[o] += wt * x[src];
              else result[src] += wt * gout[o];
            }
          }
        }
      }
    }
    return result;
  }
}
