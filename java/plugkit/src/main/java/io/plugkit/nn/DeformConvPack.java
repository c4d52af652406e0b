package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;
import io.plugkit.ops.DeformConv;

/**
 * What mmcv's DeformConv2dPack and ModulatedDeformConv2dPack share: the parameters
 * {@code weight [out, in/groups, kernelH, kernelW]} and {@code bias [out]} (optional,
 * zero-initialised), the zero-initialised offset predictor {@code conv_offset} (a conv with the
 * layer's stride, padding and dilation, one group), and the call of the op.
 */
public abstract sealed class DeformConvPack extends Module permits DeformConv2d, ModulatedDeformConv2d {
  private final Parameter weight;
  private final Parameter bias;
  private final Conv2d convOffset;
  private final Conv.Options options;

  /** @param channelsPerPoint the offset conv's outputs per offset group and kernel point: 2 (dy, dx) or 3 (and mask) */
  DeformConvPack(int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options, int offsetGroups,
      boolean bias, Device device, int channelsPerPoint) {
    check(inChannels, outChannels, kernelH, kernelW, options, offsetGroups);
    Init.checkSize("inChannels, outChannels, kernelH, kernelW, groups", "weight [out, in / groups, kernelH, kernelW]",
        outChannels, inChannels / options.groups(), kernelH, kernelW);
    long offsetChannels = (long) channelsPerPoint * offsetGroups * kernelH * kernelW;
    Init.checkSize("offsetGroups, kernelH, kernelW", "conv_offset weight [" + channelsPerPoint
        + " * offsetGroups * kernelH * kernelW, inChannels, kernelH, kernelW]", offsetChannels, inChannels, kernelH, kernelW);
    this.options = options;
    // mmcv's initialisation: U(-stdv, stdv), stdv = 1 / sqrt(inChannels * kernelH * kernelW) (all
    // input channels, not per group).
    this.weight = registerParameter("weight", Init.fanInUniform(device, (long) inChannels * kernelH * kernelW, outChannels,
        inChannels / options.groups(), kernelH, kernelW));
    this.bias = bias ? registerParameter("bias", Tensor.zeros(device, outChannels)) : null;
    Conv2d conv = new Conv2d(inChannels, (int) offsetChannels, kernelH, kernelW, 1, true,
        device)
        .stride(options.strideH(), options.strideW())
        .padding(options.padH(), options.padW())
        .dilation(options.dilationH(), options.dilationW());
    conv.weight().tensor().fill(0f);
    conv.bias().tensor().fill(0f);
    this.convOffset = registerModule("conv_offset", conv);
  }

  private static void check(int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options, int offsetGroups) {
    if (inChannels <= 0 || outChannels <= 0) {
      throw new IllegalArgumentException("inChannels, outChannels: expected > 0 but got " + inChannels + ", " + outChannels);
    }
    if (kernelH <= 0 || kernelW <= 0) throw new IllegalArgumentException("kernel: expected sizes > 0 but got " + kernelH + "x" + kernelW);
    if (options == null) throw new IllegalArgumentException("options: expected conv options but got null");
    int groups = options.groups();
    if (inChannels % groups != 0 || outChannels % groups != 0) {
      throw new IllegalArgumentException("groups: expected a divisor of inChannels " + inChannels + " and outChannels "
          + outChannels + " but got " + groups);
    }
    if (offsetGroups <= 0 || inChannels % offsetGroups != 0) {
      throw new IllegalArgumentException("offsetGroups: expected a positive divisor of inChannels " + inChannels + " but got " + offsetGroups);
    }
  }

  public Parameter weight() { return weight; }

  public Parameter bias() { return bias; }

  public Conv2d convOffset() { return convOffset; }

  /** deform_conv2d of x with this layer's weight, bias, stride, padding and dilation; mask may be null. */
  final Tensor deform(Tensor x, Tensor offset, Tensor mask) {
    return DeformConv.deformConv2d(x, offset, weight.tensor(), bias == null ? null : bias.tensor(), mask,
        new int[] {options.strideH(), options.strideW()}, new int[] {options.padH(), options.padW()},
        new int[] {options.dilationH(), options.dilationW()});
  }
}
