package io.plugkit.ops;

/**
 * Pure-Java reference of deform_conv2d (test scope): direct loops over every output, kernel
 * point and channel, double arithmetic, torchvision's sampling and gradient rules. The backward
 * is the gradient of sum(y * gout) with respect to every input.
 */
final class DeformConvRef {
  private DeformConvRef() {}

  /** One problem: NCHW arrays with their shapes; bias and mask may be null. */
  record Problem(double[] input, int[] inputShape, double[] offset, double[] weight, int[] weightShape, double[] bias,
      double[] mask, int offsetGroups, int[] stride, int[] padding, int[] dilation) {
    int n() { return inputShape[0]; }
    int channels() { return inputShape[1]; }
    int height() { return inputShape[2]; }
    int width() { return inputShape[3]; }
    int outChannels() { return weightShape[0]; }
    int groupChannels() { return weightShape[1]; }
    int kh() { return weightShape[2]; }
    int kw() { return weightShape[3]; }
    int groups() { return channels() / groupChannels(); }
    int outH() { return (height() + 2 * padding[0] - dilation[0] * (kh() - 1) - 1) / stride[0] + 1; }
    int outW() { return (width() + 2 * padding[1] - dilation[1] * (kw() - 1) - 1) / stride[1] + 1; }
  }

  record Result(double[] y, double[] dInput, double[] dOffset, double[] dWeight, double[] dBias, double[] dMask) {}

  static Result run(Problem p, double[] gout) {
    int n = p.n(), cin = p.channels(), height = p.height(), width = p.width();
    int cout = p.outChannels(), cg = p.groupChannels(), kh = p.kh(), kw = p.kw();
    int outH = p.outH(), outW = p.outW(), og = cout / p.groups(), kk = kh * kw;
    int offsetGroups = p.offsetGroups();
    int offsetGroupChannels = cin / offsetGroups;
    double[] y = new double[n * cout * outH * outW];
    double[] dInput = new double[p.input.length];
    double[] dOffset = new double[p.offset.length];
    double[] dWeight = new double[p.weight.length];
    double[] dBias = new double[cout];
    double[] dMask = p.mask == null ? null : new double[p.mask.length];
    for (int b = 0; b < n; b++) {
      for (int co = 0; co < cout; co++) {
        int group = co / og;
        for (int oh = 0; oh < outH; oh++) {
          for (int ow = 0; ow < outW; ow++) {
            int yi = ((b * cout + co) * outH + oh) * outW + ow;
            double gy = gout[yi];
            double acc = p.bias == null ? 0 : p.bias[co];
            dBias[co] += gy;
            for (int cl = 0; cl < cg; cl++) {
              int c = group * cg + cl;
              int planeStart = (b * cin + c) * height * width;
              int offsetGroup = b * offsetGroups + c / offsetGroupChannels;
              for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                  int k = ki * kw + kj;
                  int oyIndex = ((offsetGroup * 2 * kk + 2 * k) * outH + oh) * outW + ow;
                  int oxIndex = oyIndex + outH * outW;
                  int mIndex = ((offsetGroup * kk + k) * outH + oh) * outW + ow;
                  double h = oh * p.stride[0] - p.padding[0] + ki * p.dilation[0] + p.offset[oyIndex];
                  double w = ow * p.stride[1] - p.padding[1] + kj * p.dilation[1] + p.offset[oxIndex];
                  double m = p.mask == null ? 1 : p.mask[mIndex];
                  int wi = ((co * cg + cl) * kh + ki) * kw + kj;
                  double wv = p.weight[wi];
                  double s = sample(p.input, planeStart, height, width, h, w);
                  acc += wv * m * s;
                  dWeight[wi] += gy * m * s;
                  scatter(dInput, planeStart, height, width, h, w, gy * wv * m);
                  dOffset[oyIndex] += gy * wv * m * coordinateWeight(p.input, planeStart, height, width, h, w, true);
                  dOffset[oxIndex] += gy * wv * m * coordinateWeight(p.input, planeStart, height, width, h, w, false);
                  if (dMask != null) dMask[mIndex] += gy * wv * s;
                }
              }
            }
            y[yi] = acc;
          }
        }
      }
    }
    return new Result(y, dInput, dOffset, dWeight, dBias, dMask);
  }

  private static double pixel(double[] x, int start, int height, int width, int h, int w) {
    return h >= 0 && h < height && w >= 0 && w < width ? x[start + h * width + w] : 0;
  }

  /** Bilinear with zero outside, and 0 for the whole sample when h <= -1, h >= H, w <= -1 or w >= W. */
  static double sample(double[] x, int start, int height, int width, double h, double w) {
    if (h <= -1 || h >= height || w <= -1 || w >= width) return 0;
    int h0 = (int) Math.floor(h), w0 = (int) Math.floor(w);
    double lh = h - h0, lw = w - w0;
    return (1 - lh) * (1 - lw) * pixel(x, start, height, width, h0, w0)
        + (1 - lh) * lw * pixel(x, start, height, width, h0, w0 + 1)
        + lh * (1 - lw) * pixel(x, start, height, width, h0 + 1, w0)
        + lh * lw * pixel(x, start, height, width, h0 + 1, w0 + 1);
  }

  private static void scatter(double[] dx, int start, int height, int width, double h, double w, double v) {
    if (h <= -1 || h >= height || w <= -1 || w >= width) return;
    int h0 = (int) Math.floor(h), w0 = (int) Math.floor(w);
    double lh = h - h0, lw = w - w0;
    double[] wh = {1 - lh, lh};
    double[] ww = {1 - lw, lw};
    for (int a = 0; a < 2; a++) {
      for (int c = 0; c < 2; c++) {
        int y = h0 + a, x = w0 + c;
        if (y >= 0 && y < height && x >= 0 && x < width) dx[start + y * width + x] += wh[a] * ww[c] * v;
      }
    }
  }

  /** d sample / dh (or dw) by the floor-corner rule, without the whole-sample cut-off (as torchvision). */
  private static double coordinateWeight(double[] x, int start, int height, int width, double h, double w,
      boolean yDirection) {
    int h0 = (int) Math.floor(h), w0 = (int) Math.floor(w);
    double v00 = pixel(x, start, height, width, h0, w0);
    double v01 = pixel(x, start, height, width, h0, w0 + 1);
    double v10 = pixel(x, start, height, width, h0 + 1, w0);
    double v11 = pixel(x, start, height, width, h0 + 1, w0 + 1);
    if (yDirection) {
      double lw = w - w0;
      return lw * (v11 - v01) + (1 - lw) * (v10 - v00);
    }
    double lh = h - h0;
    return lh * (v11 - v10) + (1 - lh) * (v01 - v00);
  }

  /** A plain grouped convolution, for the zero-offset comparison. */
  static double[] conv(Problem p) {
    int n = p.n(), cin = p.channels(), cout = p.outChannels(), cg = p.groupChannels();
    int outH = p.outH(), outW = p.outW(), og = cout / p.groups();
    double[] y = new double[n * cout * outH * outW];
    for (int b = 0; b < n; b++) {
      for (int co = 0; co < cout; co++) {
        for (int oh = 0; oh < outH; oh++) {
          for (int ow = 0; ow < outW; ow++) {
            double acc = p.bias == null ? 0 : p.bias[co];
            for (int cl = 0; cl < cg; cl++) {
              int start = (b * cin + co / og * cg + cl) * p.height() * p.width();
              for (int ki = 0; ki < p.kh(); ki++) {
                for (int kj = 0; kj < p.kw(); kj++) {
                  int h = oh * p.stride[0] - p.padding[0] + ki * p.dilation[0];
                  int w = ow * p.stride[1] - p.padding[1] + kj * p.dilation[1];
                  acc += p.weight[((co * cg + cl) * p.kh() + ki) * p.kw() + kj]
                      * pixel(p.input, start, p.height(), p.width(), h, w);
                }
              }
            }
            y[((b * cout + co) * outH + oh) * outW + ow] = acc;
          }
        }
      }
    }
    return y;
  }
}
