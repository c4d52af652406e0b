package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;

/**
 * torch.nn.Conv2d: parameters {@code weight [out, in/groups, kernelH, kernelW]} and
 * {@code bias [out]} (optional), PyTorch's default initialisation. Input [N, in, H, W], output
 * [N, out, outH, outW] with outH = (H + 2*padH - dilationH*(kernelH-1) - 1) / strideH + 1.
 * Stride, padding and dilation can be set after construction ({@code new Conv2d(3, 8, 3).padding(1)}).
 */
public final class Conv2d extends Module {
  private final Parameter weight;
  private final Parameter bias;
  private Conv.Options options;

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

  public Conv2d stride(int h, int w) { options = options.stride(h, w); return this; }

  public Conv2d stride(int s) { return stride(s, s); }

  public Conv2d padding(int h, int w) { options = options.padding(h, w); return this; }

  public Conv2d padding(int p) { return padding(p, p); }

  public Conv2d dilation(int h, int w) { options = options.dilation(h, w); return this; }

  public Conv2d dilation(int d) { return dilation(d, d); }

  public Parameter weight() { return weight; }

  public Parameter bias() { return bias; }

  @Override public Tensor forward(Tensor x) {
    return Conv.conv2d(x, weight.tensor(), bias == null ? null : bias.tensor(), options);
  }
}
