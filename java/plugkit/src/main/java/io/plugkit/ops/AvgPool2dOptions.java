package io.plugkit.ops;

/**
 * Options of {@link Pooling#avgPool2d}: {@code AvgPool2dOptions.kernel(3).stride(2).padding(1)}.
 * Pairs are (h, w), given as one value for both or two. Defaults as in PyTorch: stride = kernel,
 * padding 0, ceilMode false, countIncludePad true, divisorOverride 0 (none).
 *
 * @param countIncludePad whether the zero padding counts in the divisor (the ceil_mode overhang
 *     past the padded input never does)
 * @param divisorOverride when nonzero, the divisor of every window
 */
public record AvgPool2dOptions(int kernelH, int kernelW, int strideH, int strideW, int padH, int padW,
    boolean ceilMode, boolean countIncludePad, int divisorOverride) {

  public AvgPool2dOptions {
    Checks.positive(kernelH, "kernelH");
    Checks.positive(kernelW, "kernelW");
    Checks.positive(strideH, "strideH");
    Checks.positive(strideW, "strideW");
    PoolGeometry.checkPadding(padH, "padH", kernelH);
    PoolGeometry.checkPadding(padW, "padW", kernelW);
  }

  /** Kernel (h, w) with the defaults: stride = kernel, no padding, floor mode, padding counted. */
  public static AvgPool2dOptions kernel(int... kernel) {
    int[] k = Checks.pair(kernel, "kernel");
    return new AvgPool2dOptions(k[0], k[1], k[0], k[1], 0, 0, false, true, 0);
  }

  public AvgPool2dOptions stride(int... stride) {
    int[] s = Checks.pair(stride, "stride");
    return new AvgPool2dOptions(kernelH, kernelW, s[0], s[1], padH, padW, ceilMode, countIncludePad, divisorOverride);
  }

  /** Implicit zero padding on both sides; at most half the kernel, as PyTorch requires. */
  public AvgPool2dOptions padding(int... padding) {
    int[] p = Checks.pair(padding, "padding");
    return new AvgPool2dOptions(kernelH, kernelW, strideH, strideW, p[0], p[1], ceilMode, countIncludePad, divisorOverride);
  }

  public AvgPool2dOptions ceilMode(boolean on) {
    return new AvgPool2dOptions(kernelH, kernelW, strideH, strideW, padH, padW, on, countIncludePad, divisorOverride);
  }

  public AvgPool2dOptions countIncludePad(boolean on) {
    return new AvgPool2dOptions(kernelH, kernelW, strideH, strideW, padH, padW, ceilMode, on, divisorOverride);
  }

  /** Every window divides by {@code divisor}; 0 restores the default divisor. */
  public AvgPool2dOptions divisorOverride(int divisor) {
    return new AvgPool2dOptions(kernelH, kernelW, strideH, strideW, padH, padW, ceilMode, countIncludePad, divisor);
  }
}
