package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;

/** What mmcv's DeformConv2dPack and ModulatedDeformConv2dPack share: argument checks, initialisation, the offset conv. */
final class DeformConvPacks {
  private DeformConvPacks() {}

  static void check(int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options, int offsetGroups) {
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

  /** mmcv's weight initialisation: U(-stdv, stdv), stdv = 1 / sqrt(inChannels * kernelH * kernelW) (all input channels, not per group). */
  static Tensor weight(Device device, int inChannels, int outChannels, int kernelH, int kernelW, int groups) {
    return Init.fanInUniform(device, inChannels * kernelH * kernelW, outChannels, inChannels / groups, kernelH, kernelW);
  }

  /** The offset (and mask) predictor: a conv with the layer's stride, padding and dilation, one group, weight and bias zero. */
  static Conv2d offsetConv(Device device, int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options) {
    Conv2d conv = new Conv2d(inChannels, outChannels, kernelH, kernelW, 1, true, device)
        .stride(options.strideH(), options.strideW())
        .padding(options.padH(), options.padW())
        .dilation(options.dilationH(), options.dilationW());
    conv.weight().tensor().fill(0f);
    conv.bias().tensor().fill(0f);
    return conv;
  }

  static int[] stride(Conv.Options o) { return new int[] {o.strideH(), o.strideW()}; }

  static int[] padding(Conv.Options o) { return new int[] {o.padH(), o.padW()}; }

  static int[] dilation(Conv.Options o) { return new int[] {o.dilationH(), o.dilationW()}; }
}
