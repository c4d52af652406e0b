package io.plugkit.ops;

/**
 * Naive BlurPool / MaxBlurPool composed as antialiased-cnns composes them: a 2x2 stride-1 max
 * pool (MaxBlurPool only), an explicit pad, a depthwise convolution with the normalised binomial
 * filter at the stride. Double accumulation; the backward scatters through the same steps in
 * reverse (the kernels gather), so the two formulations check each other.
 */
final class BlurPoolReference {
  private BlurPoolReference() {}

  /** Forward output and the sizes needed by the backward. */
  record Result(double[] y, int outH, int outW) {}

  static Result forward(float[] x, int n, int c, int h, int w, int filtSize, int stride, BlurPool.PadType padType,
                        int padOff, boolean maxFirst) {
    double[] src = maxFirst ? maxPool(toDouble(x), n * c, h, w) : toDouble(x);
    int sh = maxFirst ? h - 1 : h;
    int sw = maxFirst ? w - 1 : w;
    int lo = BlurPool.padLo(filtSize, padOff);
    int hi = BlurPool.padHi(filtSize, padOff);
    int ph = sh + lo + hi;
    int pw = sw + lo + hi;
    int outH = (ph - filtSize) / stride + 1;
    int outW = (pw - filtSize) / stride + 1;
    double[] f = filter(filtSize);
    double[] y = new double[n * c * outH * outW];
    for (int p = 0; p < n * c; p++) {
      double[] padded = pad(src, p, sh, sw, lo, hi, padType);
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          double acc = 0;
          for (int i = 0; i < filtSize; i++) {
            for (int j = 0; j < filtSize; j++) acc += f[i * filtSize + j] * padded[(oh * stride + i) * pw + ow * stride + j];
          }
          y[(p * outH + oh) * outW + ow] = acc;
        }
      }
    }
    return new Result(y, outH, outW);
  }

  static double[] backward(float[] x, float[] gout, int n, int c, int h, int w, int filtSize, int stride,
                           BlurPool.PadType padType, int padOff, boolean maxFirst) {
    int sh = maxFirst ? h - 1 : h;
    int sw = maxFirst ? w - 1 : w;
    int lo = BlurPool.padLo(filtSize, padOff);
    int hi = BlurPool.padHi(filtSize, padOff);
    int pw = sw + lo + hi;
    int ph = sh + lo + hi;
    int outH = (ph - filtSize) / stride + 1;
    int outW = (pw - filtSize) / stride + 1;
    double[] f = filter(filtSize);
    double[] dsrc = new double[n * c * sh * sw];
    for (int p = 0; p < n * c; p++) {
      double[] dpad = new double[ph * pw];
      for (int oh = 0; oh < outH; oh++) {
        for (int ow = 0; ow < outW; ow++) {
          double g = gout[(p * outH + oh) * outW + ow];
          for (int i = 0; i < filtSize; i++) {
            for (int j = 0; j < filtSize; j++) dpad[(oh * stride + i) * pw + ow * stride + j] += f[i * filtSize + j] * g;
          }
        }
      }
      for (int i = 0; i < ph; i++) {
        int si = source(i, lo, sh, padType);
        for (int j = 0; j < pw; j++) {
          int sj = source(j, lo, sw, padType);
          if (si >= 0 && sj >= 0) dsrc[(p * sh + si) * sw + sj] += dpad[i * pw + j];
        }
      }
    }
    if (!maxFirst) return dsrc;
    double[] xd = toDouble(x);
    double[] dx = new double[n * c * h * w];
    for (int p = 0; p < n * c; p++) {
      for (int i = 0; i < sh; i++) {
        for (int j = 0; j < sw; j++) {
          int arg = argmax(xd, p, h, w, i, j);
          dx[p * h * w + arg] += dsrc[(p * sh + i) * sw + j];
        }
      }
    }
    return dx;
  }

  /** a a^T / sum(a a^T), a the binomial row. */
  static double[] filter(int filtSize) {
    double[] a = BlurPool.binomial(filtSize);
    double sum = 0;
    for (double v : a) sum += v;
    double[] f = new double[filtSize * filtSize];
    for (int i = 0; i < filtSize; i++) for (int j = 0; j < filtSize; j++) f[i * filtSize + j] = a[i] * a[j] / (sum * sum);
    return f;
  }

  /** PyTorch's pads: the source index of padded position p, or -1 for a zero. */
  static int source(int p, int lo, int size, BlurPool.PadType padType) {
    int i = p - lo;
    if (i >= 0 && i < size) return i;
    return switch (padType) {
      case ZERO -> -1;
      case REPLICATE -> i < 0 ? 0 : size - 1;
      case REFLECT -> i < 0 ? -i : 2 * (size - 1) - i;
    };
  }

  private static double[] pad(double[] src, int plane, int sh, int sw, int lo, int hi, BlurPool.PadType padType) {
    int ph = sh + lo + hi;
    int pw = sw + lo + hi;
    double[] out = new double[ph * pw];
    for (int i = 0; i < ph; i++) {
      int si = source(i, lo, sh, padType);
      for (int j = 0; j < pw; j++) {
        int sj = source(j, lo, sw, padType);
        out[i * pw + j] = si < 0 || sj < 0 ? 0 : src[(plane * sh + si) * sw + sj];
      }
    }
    return out;
  }

  /** max_pool2d(kernel 2, stride 1). */
  private static double[] maxPool(double[] x, int planes, int h, int w) {
    double[] out = new double[planes * (h - 1) * (w - 1)];
    for (int p = 0; p < planes; p++) {
      for (int i = 0; i < h - 1; i++) {
        for (int j = 0; j < w - 1; j++) {
          int arg = argmax(x, p, h, w, i, j);
          out[(p * (h - 1) + i) * (w - 1) + j] = x[p * h * w + arg];
        }
      }
    }
    return out;
  }

  /** PyTorch's argmax of the 2x2 window at (i, j) (index in the plane): first max wins, NaN always. */
  private static int argmax(double[] x, int p, int h, int w, int i, int j) {
    double best = Double.NEGATIVE_INFINITY;
    int arg = i * w + j;
    for (int a = i; a < i + 2; a++) {
      for (int b = j; b < j + 2; b++) {
        double v = x[p * h * w + a * w + b];
        if (v > best || Double.isNaN(v)) { best = v; arg = a * w + b; }
      }
    }
    return arg;
  }

  private static double[] toDouble(float[] x) {
    double[] d = new double[x.length];
    for (int i = 0; i < x.length; i++) d[i] = x[i];
    return d;
  }
}
