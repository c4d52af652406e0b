package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.BlurPool.PadType;
import io.plugkit.ops.Checks;

/**
 * antialiased_cnns.BlurPool(channels, pad_type, filt_size, stride, pad_off): blur with the
 * normalised binomial filter, then subsample; see {@link io.plugkit.ops.BlurPool} for the filter,
 * the padding and the output size. Input [N, channels, H, W].
 *
 * <p>State: the buffer {@code filt [channels, 1, filtSize, filtSize]}, as antialiased-cnns registers
 * it, so its state dicts load 1:1. It is fixed there too (made from filt_size, never trained): the
 * kernels compute the same binomial taps from {@code filtSize}, so a loaded {@code filt} that
 * differs from them is not used.
 */
public final class BlurPool extends Module {
  private final int channels;
  private final PadType padType;
  private final int filtSize;
  private final int stride;
  private final int padOff;

  /** antialiased-cnns' defaults: reflect padding, filtSize 4, stride 2, padOff 0, on {@link Device#best()}. */
  public BlurPool(int channels) { this(channels, PadType.REFLECT, 4, 2, 0, Device.best()); }

  public BlurPool(int channels, PadType padType, int filtSize, int stride, int padOff, Device device) {
    this.channels = Checks.positive(channels, "channels");
    if (padType == null) throw new IllegalArgumentException("padType: expected a pad type but got null");
    io.plugkit.ops.BlurPool.checkFiltSize(filtSize);
    this.stride = Checks.positive(stride, "stride");
    this.padOff = Checks.nonNegative(padOff, "padOff");
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    this.padType = padType;
    this.filtSize = filtSize;
    double[] a = io.plugkit.ops.BlurPool.binomial(filtSize);
    double sum = Math.pow(2, filtSize - 1);
    float[] filt = new float[channels * filtSize * filtSize];
    for (int c = 0; c < channels; c++) {
      for (int i = 0; i < filtSize; i++) {
        for (int j = 0; j < filtSize; j++) filt[(c * filtSize + i) * filtSize + j] = (float) (a[i] * a[j] / (sum * sum));
      }
    }
    registerBuffer("filt", Tensor.of(device, filt, channels, 1, filtSize, filtSize));
  }

  public int channels() { return channels; }

  public PadType padType() { return padType; }

  public int filtSize() { return filtSize; }

  public int stride() { return stride; }

  public int padOff() { return padOff; }

  @Override public Tensor forward(Tensor x) {
    checkChannels(x, channels);
    return io.plugkit.ops.BlurPool.blurPool(x, filtSize, stride, padType, padOff);
  }

  /** Rejects an input whose channel count is not the module's. */
  static void checkChannels(Tensor x, int channels) {
    Checks.rank(x, "x", 4);
    if (x.dim(1) != channels) {
      throw new IllegalArgumentException("x: expected " + channels + " channels (dim 1) but got shape " + x.shape());
    }
  }
}
