package io.plugkit.ops;

/**
 * Options of {@link Pooling#maxPool2d}: {@code MaxPool2dOptions.kernel(3).stride(2).padding(1)}.
 * Pairs are (h, w), given as one value for both or two. Defaults as in PyTorch: stride = kernel,
 * padding 0, dilation 1, ceilMode false. Each value is checked here; the ones that need the input
 * (the output size) are checked by the op.
 */
public record MaxPool2dOptions(int kernelH, int kernelW, int strideH, int strideW, int padH, int padW,
    int dilationH, int dilationW, boolean ceilMode) {

  public MaxPool2dOptions {
    Checks.positive(kernelH, "kernelH");
    Checks.positive(kernelW, "kernelW");
    Checks.positive(strideH, "strideH");
    Checks.positive(strideW, "strideW");
    PoolGeometry.checkPadding(padH, "padH", kernelH);
    PoolGeometry.checkPadding(padW, "padW", kernelW);
    Checks.positive(dilationH, "dilationH");
    Checks.positive(dilationW, "dilationW");
  }

  /** Kernel (h, w) with the defaults: stride = kernel, no padding, dilation 1, floor mode. */
  public static MaxPool2dOptions kernel(int... kernel) {
    int[] k = Checks.pair(kernel, "kernel");
    return new MaxPool2dOptions(k[0], k[1], k[0], k[1], 0, 0, 1, 1, false);
  }

  public MaxPool2dOptions stride(int... stride) {
    int[] s = Checks.pair(stride, "stride");
    return new MaxPool2dOptions(kernelH, kernelW, s[0], s[1], padH, padW, dilationH, dilationW, ceilMode);
  }

  /** Implicit -inf padding on both sides; at most half the kernel, as PyTorch requires. */
  public MaxPool2dOptions padding(int... padding) {
    int[] p = Checks.pair(padding, "padding");
    return new MaxPool2dOptions(kernelH, kernelW, strideH, strideW, p[0], p[1], dilationH, dilationW, ceilMode);
  }

  public MaxPool2dOptions dilation(int... dilation) {
    int[] d = Checks.pair(dilation, "dilation");
    return new MaxPool2dOptions(kernelH, kernelW, strideH, strideW, padH, padW, d[0], d[1], ceilMode);
  }

  public MaxPool2dOptions ceilMode(boolean on) {
    return new MaxPool2dOptions(kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, on);
  }
}
