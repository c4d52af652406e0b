package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.BlurPool.PadType;
import io.plugkit.ops.MaxPool2dOptions;

/**
 * antialiased-cnns' replacement for MaxPool2d(2):
 * {@code nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=1), BlurPool(C, filt_size, stride))}, so
 * its state dict key is {@code 1.filt}. The forward is one fused op,
 * {@link io.plugkit.ops.BlurPool#maxBlurPool}, which never stores the max map. Input
 * [N, channels, H, W] with H, W >= 2; output size from H - 1, W - 1 as in {@link io.plugkit.ops.BlurPool}.
 */
public final class MaxBlurPool extends Module {
  private final BlurPool blur;

  /** Reflect padding, filtSize 4, stride 2, padOff 0, on {@link Device#best()}. */
  public MaxBlurPool(int channels) { this(channels, PadType.REFLECT, 4, 2, 0, Device.best()); }

  public MaxBlurPool(int channels, PadType padType, int filtSize, int stride, int padOff, Device device) {
    registerModule("0", new MaxPool2d(MaxPool2dOptions.kernel(2).stride(1)));
    this.blur = registerModule("1", new BlurPool(channels, padType, filtSize, stride, padOff, device));
  }

  /** The BlurPool child ("1"). */
  public BlurPool blur() { return blur; }

  @Override public Tensor forward(Tensor x) {
    BlurPool.checkChannels(x, blur.channels());
    return io.plugkit.ops.BlurPool.maxBlurPool(x, blur.filtSize(), blur.stride(), blur.padType(), blur.padOff());
  }
}
