package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.SqueezeExcite.Mlp;

/**
 * The two layers of SE's excitation and CBAM's channel MLP, C -> rd -> C, registered in their
 * owner under the names of an {@link Mlp} layout. A Linear on [N, C] and a 1x1 conv on
 * [N, C, 1, 1] compute the same products, so both layouts run on [N, C, 1, 1] and differ only in
 * their state dict (weights [out, in] or [out, in, 1, 1], and their names).
 */
final class ExciteMlp {
  private final Module first;
  private final Module second;
  private final int channels;
  private final int rd;

  /** {@code bn}: registered between the layers as {@code bn} (SE's timm norm; fc1/fc2 layouts only), or null. */
  ExciteMlp(Module owner, Mlp layout, int channels, int rd, boolean bias, Device device, BatchNorm2d bn) {
    this.channels = channels;
    this.rd = rd;
    this.first = layout.conv() ? new Conv2d(channels, rd, 1, 1, 1, bias, device) : new Linear(channels, rd, bias, device);
    this.second = layout.conv() ? new Conv2d(rd, channels, 1, 1, 1, bias, device) : new Linear(rd, channels, bias, device);
    if (bn != null && layout != Mlp.CONV_FC1_FC2 && layout != Mlp.LINEAR_FC1_FC2) {
      throw new IllegalArgumentException("bn: expected none with mlp " + layout + " but got a BatchNorm2d");
    }
    switch (layout) {
      case CONV_FC1_FC2, LINEAR_FC1_FC2 -> {
        owner.registerModule("fc1", first);
        if (bn != null) owner.registerModule("bn", bn);
        owner.registerModule("fc2", second);
      }
      // Stateless slots keep the reference's indices: Sequential(layer, act, layer) -> fc.0, fc.2.
      case CONV_FC_SEQUENTIAL, LINEAR_FC_SEQUENTIAL -> owner.registerModule("fc", new Sequential(first, new ReLU(), second));
      // Sequential(Flatten, Linear, ReLU, Linear) -> mlp.1, mlp.3.
      case LINEAR_MLP_SEQUENTIAL -> owner.registerModule("mlp", new Sequential(new Flatten(), first, new ReLU(), second));
    }
  }

  /** The first layer on [N, C, 1, 1] -> [N, rd, 1, 1]. */
  Tensor first(Tensor x) { return apply(first, x, rd); }

  /** The second layer on [N, rd, 1, 1] -> [N, C, 1, 1]. */
  Tensor second(Tensor h) { return apply(second, h, channels); }

  private static Tensor apply(Module layer, Tensor x, int out) {
    if (layer instanceof Conv2d) return layer.forward(x);
    int n = x.dim(0);
    return layer.forward(x.reshape(n, x.dim(1))).reshape(n, out, 1, 1);
  }
}
