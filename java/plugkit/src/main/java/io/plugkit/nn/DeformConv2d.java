package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;
import io.plugkit.ops.DeformConv;

/**
 * Deformable convolution v1 with its own offset predictor, as mmcv's DeformConv2dPack: parameters
 * {@code weight [out, in/groups, kernelH, kernelW]}, {@code bias [out]} (optional, zero-initialised;
 * mmcv's layer has none), {@code conv_offset.weight [2*offsetGroups*kernelH*kernelW, in, kernelH, kernelW]}
 * and {@code conv_offset.bias}. The offset conv starts at zero, so a fresh layer is a plain conv.
 * Input [N, in, H, W]; output [N, out, outH, outW] with
 * outH = (H + 2*padH - dilationH*(kernelH-1) - 1) / strideH + 1 (likewise outW).
 * See {@link DeformConv#deformConv2d} for the sampling rule.
 */
public final class DeformConv2d extends DeformConvPack {
  /** Stride 1, padding 0, dilation 1, one group, one offset group, no bias. */
  public DeformConv2d(int inChannels, int outChannels, int kernel) {
    this(inChannels, outChannels, kernel, kernel, Conv.Options.DEFAULT, 1, false, Device.best());
  }

  /** @param options stride, padding, dilation and groups (the offset conv shares all but groups) */
  public DeformConv2d(int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options, int offsetGroups,
      boolean bias, Device device) {
    super(inChannels, outChannels, kernelH, kernelW, options, offsetGroups, bias, device, 2);
  }

  @Override public Tensor forward(Tensor x) {
    return deform(x, convOffset().forward(x), null);
  }
}
