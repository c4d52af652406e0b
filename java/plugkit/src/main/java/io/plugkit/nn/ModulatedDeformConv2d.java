package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Conv;
import io.plugkit.ops.DeformConv;
import io.plugkit.ops.Layout;

/**
 * Modulated deformable convolution (DCN v2) with its own offset and mask predictor, as mmcv's
 * ModulatedDeformConv2dPack: parameters {@code weight [out, in/groups, kernelH, kernelW]},
 * {@code bias [out]} (optional, zero-initialised), {@code conv_offset.weight
 * [3*offsetGroups*kernelH*kernelW, in, kernelH, kernelW]} and {@code conv_offset.bias}. The offset
 * conv's output splits into three equal parts o1, o2, m along channels: offset = cat(o1, o2),
 * mask = sigmoid(m). It starts at zero, so a fresh layer is a plain conv with every sample
 * weighted 0.5. Input [N, in, H, W]; output [N, out, outH, outW] with
 * outH = (H + 2*padH - dilationH*(kernelH-1) - 1) / strideH + 1 (likewise outW).
 */
public final class ModulatedDeformConv2d extends DeformConvPack {
  /** Stride 1, padding 0, dilation 1, one group, one offset group, with bias (mmcv's defaults). */
  public ModulatedDeformConv2d(int inChannels, int outChannels, int kernel) {
    this(inChannels, outChannels, kernel, kernel, Conv.Options.DEFAULT, 1, true, Device.best());
  }

  /** @param options stride, padding, dilation and groups (the offset conv shares all but groups) */
  public ModulatedDeformConv2d(int inChannels, int outChannels, int kernelH, int kernelW, Conv.Options options,
      int offsetGroups, boolean bias, Device device) {
    super(inChannels, outChannels, kernelH, kernelW, options, offsetGroups, bias, device, 3);
  }

  @Override public Tensor forward(Tensor x) {
    Tensor[] parts = Layout.chunk(convOffset().forward(x), 3, 1);
    return deform(x, Layout.concat(1, parts[0], parts[1]), Activations.sigmoid(parts[2]));
  }
}
