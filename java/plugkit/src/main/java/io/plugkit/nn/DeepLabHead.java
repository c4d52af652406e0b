package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;

/**
 * torchvision's {@code DeepLabHead(in_channels, num_classes)} (an nn.Sequential, so its children
 * are "0".."4"): {@code 0} {@link Aspp}(in, [12, 24, 36], 256), {@code 1} 3x3 conv 256 -> 256
 * padding 1 no bias, {@code 2} BN, {@code 3} ReLU, {@code 4} 1x1 conv 256 -> numClasses with bias.
 * Input [N, in, H, W], output [N, numClasses, H, W] (logits at the feature map's size).
 */
public final class DeepLabHead extends Module {
  /** torchvision's rates. */
  public static final int[] RATES = {12, 24, 36};

  private final Aspp aspp;
  private final Sequential rest;

  public DeepLabHead(int inChannels, int numClasses) { this(inChannels, numClasses, RATES, 256, Device.best()); }

  /** Other rates and widths than torchvision's (the state dict names stay the same). */
  public DeepLabHead(int inChannels, int numClasses, int[] rates, int channels, Device device) {
    if (numClasses <= 0) throw new IllegalArgumentException("numClasses: expected > 0 but got " + numClasses);
    this.aspp = registerModule("0", new Aspp(inChannels, rates, channels, device));
    Conv2d conv = registerModule("1", new Conv2d(channels, channels, 3, 3, 1, false, device).padding(1));
    BatchNorm2d bn = registerModule("2", new BatchNorm2d(channels, 0.1f, 1e-5f, device));
    ReLU relu = registerModule("3", new ReLU());
    Conv2d classifier = registerModule("4", new Conv2d(channels, numClasses, 1, 1, 1, true, device));
    this.rest = new Sequential(conv, bn, relu, classifier);
  }

  public Aspp aspp() { return aspp; }

  @Override public Tensor forward(Tensor x) { return rest.forward(aspp.forward(x)); }
}
