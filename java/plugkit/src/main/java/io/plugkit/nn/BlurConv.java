package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.BlurPool.PadType;

/**
 * antialiased-cnns' replacement for a strided convolution (ConvBlurPool): the convolution at
 * stride 1, ReLU, then BlurPool with the stride, as
 * {@code nn.Sequential(nn.Conv2d(in, out, kernel, stride=1, padding), nn.ReLU(), BlurPool(out, ...))}:
 * state dict keys {@code 0.weight}, {@code 0.bias}, {@code 2.filt}. Input [N, in, H, W]; the
 * convolution gives [N, out, H + 2 padding - kernel + 1, ...], BlurPool's output size follows from it.
 */
public final class BlurConv extends Module {
  private final Conv2d conv;
  private final BlurPool blur;

  /** Reflect padding, filtSize 4, stride 2, on {@link Device#best()}. */
  public BlurConv(int inChannels, int outChannels, int kernel, int padding) {
    this(inChannels, outChannels, kernel, padding, PadType.REFLECT, 4, 2, Device.best());
  }

  public BlurConv(int inChannels, int outChannels, int kernel, int padding, PadType padType, int filtSize, int stride,
                  Device device) {
    this.conv = registerModule("0", new Conv2d(inChannels, outChannels, kernel, kernel, 1, true, device).padding(padding));
    registerModule("1", new ReLU());
    this.blur = registerModule("2", new BlurPool(outChannels, padType, filtSize, stride, 0, device));
  }

  public Conv2d conv() { return conv; }

  public BlurPool blur() { return blur; }

  @Override public Tensor forward(Tensor x) {
    return blur.forward(io.plugkit.ops.Activations.relu(conv.forward(x)));
  }
}
