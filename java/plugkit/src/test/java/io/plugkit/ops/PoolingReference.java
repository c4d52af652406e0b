package io.plugkit.ops;

/**
 * Pure-Java pooling references written from PyTorch's definitions, with naive loops and double
 * accumulation: window enumeration and divisor counting by brute force, no shared code with the
 * kernels. Arrays are row-major [n, c, h, w].
 */
final class PoolingReference {
  private PoolingReference() {}

  /** Output length by enumerating window starts (independent of the closed formula). */
  static int outputSize(int in, int kernel, int pad, int stride, int dilation, boolean ceilMode) {
    int extent = dilation * (kernel - 1) + 1;
    int padded = in + 2 * pad;
    int count = 0;
    for (int o = 0; ; o++) {
      boolean fits = ceilMode
          ? (o == 0 || (o - 1) * stride + extent < padded) && o * stride < in + pad
          : o * stride + extent <= padded;
      if (!fits) return count;
      count++;
    }
  }

  /** Max pooling values and argmax (h * W + w, -1 for a window of padding only). */
  record MaxResult(float[] y, long[] indices, int outH, int outW) {}

  static MaxResult maxPool(float[] x, int n, int c, int h, int w, MaxPool2dOptions o) {
    int outH = outputSize(h, o.kernelH(), o.padH(), o.strideH(), o.dilationH(), o.ceilMode());
    int outW = outputSize(w, o.kernelW(), o.padW(), o.strideW(), o.dilationW(), o.ceilMode());
    float[] y = new float[n * c * outH * outW];
    long[] idx = new long[y.length];
    for (int p = 0; p < n * c; p++) {
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          // PyTorch's scan: best = -inf at the first tap inside the input, replaced when v > best or v is NaN.
          float best = Float.NEGATIVE_INFINITY;
          long bestI = -1;
          for (int ki = 0; ki < o.kernelH(); ki++) {
            for (int kj = 0; kj < o.kernelW(); kj++) {
              int ih = oh * o.strideH() - o.padH() + ki * o.dilationH();
              int iw = ow * o.strideW() - o.padW() + kj * o.dilationW();
              if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
              float v = x[(p * h + ih) * w + iw];
              if (bestI < 0) bestI = (long) ih * w + iw;
              if (v > best || Float.isNaN(v)) {
                best = v;
                bestI = (long) ih * w + iw;
              }
            }
          }
          int o1 = (p * outH + oh) * outW + ow;
          y[o1] = best;
          idx[o1] = bestI;
        }
      }
    }
    return new MaxResult(y, idx, outH, outW);
  }

  /** Gradient of x: each output's gradient goes to its argmax. */
  static double[] maxPoolBackward(long[] indices, float[] gout, int n, int c, int h, int w) {
    double[] dx = new double[n * c * h * w];
    int perPlane = indices.length / Math.max(1, n * c);
    for (int i = 0; i < indices.length; i++) {
      if (indices[i] >= 0) dx[(int) ((i / perPlane) * (long) h * w + indices[i])] += gout[i];
    }
    return dx;
  }

  /** PyTorch's divisor, counted tap by tap. */
  static int divisor(int oh, int ow, int h, int w, AvgPool2dOptions o) {
    if (o.divisorOverride() != 0) return o.divisorOverride();
    int count = 0;
    for (int ki = 0; ki < o.kernelH(); ki++) {
      for (int kj = 0; kj < o.kernelW(); kj++) {
        int ih = oh * o.strideH() - o.padH() + ki;
        int iw = ow * o.strideW() - o.padW() + kj;
        boolean inPadded = ih < h + o.padH() && iw < w + o.padW();
        boolean inInput = ih >= 0 && ih < h && iw >= 0 && iw < w;
        if (o.countIncludePad() ? inPadded : inInput) count++;
      }
    }
    return count;
  }

  static double[] avgPool(float[] x, int n, int c, int h, int w, AvgPool2dOptions o) {
    int outH = outputSize(h, o.kernelH(), o.padH(), o.strideH(), 1, o.ceilMode());
    int outW = outputSize(w, o.kernelW(), o.padW(), o.strideW(), 1, o.ceilMode());
    double[] y = new double[n * c * outH * outW];
    for (int p = 0; p < n * c; p++) {
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          double sum = 0;
          for (int ki = 0; ki < o.kernelH(); ki++) {
            for (int kj = 0; kj < o.kernelW(); kj++) {
              int ih = oh * o.strideH() - o.padH() + ki;
              int iw = ow * o.strideW() - o.padW() + kj;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w) sum += x[(p * h + ih) * w + iw];
            }
          }
          y[(p * outH + oh) * outW + ow] = sum / divisor(oh, ow, h, w, o);
        }
      }
    }
    return y;
  }

  static double[] avgPoolBackward(float[] gout, int n, int c, int h, int w, AvgPool2dOptions o) {
    int outH = outputSize(h, o.kernelH(), o.padH(), o.strideH(), 1, o.ceilMode());
    int outW = outputSize(w, o.kernelW(), o.padW(), o.strideW(), 1, o.ceilMode());
    double[] dx = new double[n * c * h * w];
    for (int p = 0; p < n * c; p++) {
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          double g = (double) gout[(p * outH + oh) * outW + ow] / divisor(oh, ow, h, w, o);
          for (int ki = 0; ki < o.kernelH(); ki++) {
            for (int kj = 0; kj < o.kernelW(); kj++) {
              int ih = oh * o.strideH() - o.padH() + ki;
              int iw = ow * o.strideW() - o.padW() + kj;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w) dx[(p * h + ih) * w + iw] += g;
            }
          }
        }
      }
    }
    return dx;
  }

  static double[] globalAvg(float[] x, int planes, int plane) {
    double[] y = new double[planes];
    for (int p = 0; p < planes; p++) {
      double sum = 0;
      for (int i = 0; i < plane; i++) sum += x[p * plane + i];
      y[p] = sum / plane;
    }
    return y;
  }

  /** The whole plane as one max-pool window. */
  static MaxResult globalMax(float[] x, int n, int c, int h, int w) {
    return maxPool(x, n, c, h, w, MaxPool2dOptions.kernel(h, w));
  }
}
