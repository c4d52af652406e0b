package io.plugkit.ops;

import io.plugkit.Tensor;

/** PyTorch's shape rules shared by the pooling and resampling ops. */
final class PoolGeometry {
  private PoolGeometry() {}

  /** PyTorch: "pad should be at most half of kernel size" (the kernel before dilation). */
  static void checkPadding(int pad, String name, int kernel) {
    Checks.nonNegative(pad, name);
    if (pad > kernel / 2) {
      throw new IllegalArgumentException(name + ": expected at most half of the kernel size (" + kernel / 2
          + " for kernel " + kernel + ") but got " + pad);
    }
  }

  /**
   * PyTorch's pooling_output_shape: floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1,
   * with ceil instead of floor in ceil mode, where a last window that would start beyond the
   * input and its left padding is dropped. May be < 1; callers reject that.
   */
  static long outputSize(int in, int kernel, int pad, int stride, int dilation, boolean ceilMode) {
    long span = (long) in + 2L * pad - (long) dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
    long out = Math.floorDiv(span, stride) + 1;
    if (ceilMode && (out - 1) * stride >= (long) in + pad) out--;
    return out;
  }

  /** A rank-4 F32 [N, C, H, W] batch with C, H, W > 0 (N may be 0), as PyTorch requires. */
  static void checkImages(Tensor x, String name) {
    Checks.rank(x, name, 4);
    if (x.dim(1) == 0 || x.dim(2) == 0 || x.dim(3) == 0) {
      throw new IllegalArgumentException(name + ": expected [N, C, H, W] with C, H, W > 0 (N may be 0) but got shape "
          + x.shape());
    }
  }

  /** Rejects an output size below 1, naming the input and the size that came out. */
  static void checkOutput(Tensor x, String name, long outH, long outW) {
    if (outH < 1 || outW < 1) {
      throw new IllegalArgumentException(name + ": expected an input large enough for at least one window but got "
          + x.shape() + ", which gives output size " + outH + "x" + outW);
    }
  }
}
