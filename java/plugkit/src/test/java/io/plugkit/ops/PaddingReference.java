package io.plugkit.ops;

import io.plugkit.ops.Padding.Mode;

/**
 * Pure-Java F.pad reference (PyTorch 1.13 CPU definitions, 2-D, pad = {left, right, top,
 * bottom}) written from the output side: each output value reads one input value (or the
 * constant), and the gradient scatters each output gradient into the value it read, in double.
 * Arrays are row-major [planes, h, w].
 */
final class PaddingReference {
  private PaddingReference() {}

  /** The input index output j reads along a dim of size s with pads lo, hi; -1: the constant. */
  static int source(int j, int s, int lo, int hi, Mode mode) {
    switch (mode) {
      case CONSTANT -> {
        int c = j - lo;
        return c >= 0 && c < s ? c : -1;
      }
      case REFLECT -> {
        int c = Math.abs(j - lo);
        return c < s ? c : 2 * (s - 1) - c;
      }
      case REPLICATE -> {
        return Math.max(0, Math.min(j - lo, s - 1));
      }
      default -> {
        // _pad_circular: out[max(lo,0) ..] holds the crop x[max(-lo,0) .. s - max(-hi,0)); the
        // positive pads copy from that crop's other end.
        int start = Math.max(-lo, 0);
        int crop = s - start - Math.max(-hi, 0);
        return start + Math.floorMod(j - Math.max(lo, 0), crop);
      }
    }
  }

  /** Forward (gout == null: returns y) or backward (returns dx for gout). */
  static double[] run(float[] x, float[] gout, int planes, int h, int w, int[] pad, Mode mode, float value) {
    int outH = h + pad[2] + pad[3];
    int outW = w + pad[0] + pad[1];
    double[] result = new double[gout == null ? planes * outH * outW : planes * h * w];
    for (int p = 0; p < planes; p++) {
      for (int oh = 0; oh < outH; oh++) {
        int sh = source(oh, h, pad[2], pad[3], mode);
        for (int ow = 0; ow < outW; ow++) {
          int sw = source(ow, w, pad[0], pad[1], mode);
          int o = (p * outH + oh) * outW + ow;
          boolean inside = sh >= 0 && sw >= 0;
          int src = inside ? (p * h + sh) * w + sw : -1;
          if (gout == null) result[o] = inside ? x[src] : value;
          else if (inside) result[src] += gout[o];
        }
      }
    }
    return result;
  }
}
