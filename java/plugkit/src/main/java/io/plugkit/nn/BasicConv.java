package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;

/**
 * RFBNet's {@code BasicConv} (ruinmessi/RFBNet, models/RFB_Net_vgg.py): a Conv2d ({@code conv},
 * no bias by default), an optional BatchNorm2d ({@code bn}, eps 1e-5, momentum 0.01, affine) and an
 * optional ReLU. State dict keys {@code conv.weight} ({@code conv.bias} with bias),
 * {@code bn.weight}, {@code bn.bias}, {@code bn.running_mean}, {@code bn.running_var},
 * {@code bn.num_batches_tracked}.
 */
public final class BasicConv extends Module {
  /** RFBNet's BatchNorm momentum: the running statistics move by 1% per training step. */
  public static final float BN_MOMENTUM = 0.01f;
  public static final float BN_EPS = 1e-5f;

  private final Conv2d conv;
  private final BatchNorm2d bn;
  private final boolean relu;

  /** Square kernel, stride, padding, dilation; BN on, bias off (the reference's defaults). */
  public BasicConv(int in, int out, int kernel, int stride, int padding, int dilation, boolean relu, Device device) {
    this(in, out, kernel, kernel, stride, padding, padding, dilation, 1, relu, true, false, device);
  }

  public BasicConv(int in, int out, int kernelH, int kernelW, int stride, int padH, int padW, int dilation, int groups,
                   boolean relu, boolean bn, boolean bias, Device device) {
    this.conv = registerModule("conv", new Conv2d(in, out, kernelH, kernelW, groups, bias, device)
        .stride(stride).padding(padH, padW).dilation(dilation));
    this.bn = bn ? registerModule("bn", new BatchNorm2d(out, BN_MOMENTUM, BN_EPS, device)) : null;
    this.relu = relu;
  }

  public Conv2d conv() { return conv; }

  /** The BatchNorm, or null without one. */
  public BatchNorm2d bn() { return bn; }

  @Override public Tensor forward(Tensor x) {
    Tensor y = conv.forward(x);
    if (bn != null) y = bn.forward(y);
    return relu ? Activations.relu(y) : y;
  }
}
