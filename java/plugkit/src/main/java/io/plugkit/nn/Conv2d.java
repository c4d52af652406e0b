package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Padding;

/**
 * torch.nn.Conv2d: parameters {@code weight [out, in/groups, kernelH, kernelW]} and
 * {@code bias [out]} (optional), PyTorch's default initialisation. Input [N, in, H, W], output
 * [N, out, outH, outW] with outH = (H + 2*padH - dilationH*(kernelH-1) - 1) / strideH + 1.
 * Stride, padding and dilation can be set after construction ({@code new Conv2d(3, 8, 3).padding(1)}).
 * As in PyTorch, padding may also be {@code "same"} (stride 1; output size = input size, the odd
 * padding after) or {@code "valid"} (none), and {@link #paddingMode} fills it with zeros (the
 * default), or reflects, replicates or wraps the input.
 */
public final class Conv2d extends Module {
  private final Parameter weight;
  private final Parameter bias;
  private Conv.Options options;
  private boolean same;
  private Padding.Mode paddingMode = Padding.Mode.CONSTANT;

  public Conv2d(int inChannels, int outChannels, int kernel) {
    this(inChannels, outChannels, kernel, kernel, 1, true, Device.best());
  }

  public Conv2d(int inChannels, int outChannels, int kernelH, int kernelW, int groups, boolean bias, Device device) {
    if (inChannels <= 0 || outChannels <= 0) {
      throw new IllegalArgumentException("inChannels, outChannels: expected > 0 but got " + inChannels + ", " + outChannels);
    }
    if (kernelH <= 0 || kernelW <= 0) throw new IllegalArgumentException("kernel: expected sizes > 0 but got " + kernelH + "x" + kernelW);
    if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0) {
      throw new IllegalArgumentException("groups: expected a positive divisor of inChannels " + inChannels
          + " and outChannels " + outChannels + " but got " + groups);
    }
    Init.checkSize("inChannels, outChannels, kernelH, kernelW, groups", "weight [out, in / groups, kernelH, kernelW]",
        outChannels, inChannels / groups, kernelH, kernelW);
    this.options = Conv.Options.DEFAULT.groups(groups);
    int fanIn = inChannels / groups * kernelH * kernelW;
    this.weight = registerParameter("weight", Init.fanInUniform(device, fanIn, outChannels, inChannels / groups, kernelH, kernelW));
    this.bias = bias ? registerParameter("bias", Init.fanInUniform(device, fanIn, outChannels)) : null;
  }

  public Conv2d stride(int h, int w) {
    if (same && (h != 1 || w != 1)) {
      throw new IllegalArgumentException("stride: expected 1 with padding \"same\" but got " + h + "x" + w);
    }
    options = options.stride(h, w);
    return this;
  }

  public Conv2d stride(int s) { return stride(s, s); }

  public Conv2d padding(int h, int w) {
    options = options.padding(h, w);
    same = false;
    return this;
  }

  /** {@code "same"} (stride must be 1) or {@code "valid"} (padding 0), as torch.nn.Conv2d's string padding. */
  public Conv2d padding(String padding) {
    same = Conv.isSame(padding, options);
    options = options.padding(0, 0);
    return this;
  }

  /** torch.nn.Conv2d's {@code padding_mode}: "zeros" (the default), "reflect", "replicate" or "circular". */
  public Conv2d paddingMode(String mode) { return paddingMode(Conv.paddingMode(mode)); }

  /** The padding mode as {@link Padding.Mode} (CONSTANT: zeros). */
  public Conv2d paddingMode(Padding.Mode mode) {
    if (mode == null) throw new IllegalArgumentException("paddingMode: expected a padding mode but got null");
    paddingMode = mode;
    return this;
  }

  public Conv2d padding(int p) { return padding(p, p); }

  public Conv2d dilation(int h, int w) { options = options.dilation(h, w); return this; }

  public Conv2d dilation(int d) { return dilation(d, d); }

  public Parameter weight() { return weight; }

  public Parameter bias() { return bias; }

  @Override public Tensor forward(Tensor x) {
    Tensor w = weight.tensor();
    Tensor b = bias == null ? null : bias.tensor();
    if (!same && paddingMode == Padding.Mode.CONSTANT) return Conv.conv2d(x, w, b, options);
    int[] pad = same ? Conv.samePadding(options, w.dim(2), w.dim(3))
        : new int[] {options.padW(), options.padW(), options.padH(), options.padH()};
    return Conv.conv2d(x, w, b, options.padding(0, 0), pad, paddingMode);
  }
}
