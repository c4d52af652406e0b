package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Layout;

/**
 * RFBNet's receptive field block {@code BasicRFB(in_planes, out_planes, stride, scale, visual)}
 * (ruinmessi/RFBNet, models/RFB_Net_vgg.py), with its state dict names, so a block of a PyTorch
 * RFBNet checkpoint loads 1:1 (through {@link StateDictMapping#under} for a whole network). With
 * {@code inter = in / 8} and {@link BasicConv}s (conv + BN, ReLU unless said):
 * <ul>
 *   <li>{@code branch0}: 1x1 in -> inter; 3x3 inter -> 2 inter, stride; 3x3 dilation visual + 1,
 *   no ReLU.</li>
 *   <li>{@code branch1}: 1x1 in -> inter; 3x3 inter -> inter / 2 * 3; 3x3 -> 2 inter, stride;
 *   3x3 dilation 2 visual + 1, no ReLU.</li>
 *   <li>{@code ConvLinear}: 1x1 on the concatenation (4 inter) -> out, no ReLU;
 *   {@code shortcut}: 1x1 in -> out, stride, no ReLU.</li>
 * </ul>
 * Output {@code relu(ConvLinear(cat(branch0, branch1)) * scale + shortcut(x))}:
 * [N, out, (H - 1) / stride + 1, (W - 1) / stride + 1].
 */
public final class Rfb extends Module {
  private final Sequential branch0;
  private final Sequential branch1;
  private final BasicConv convLinear;
  private final BasicConv shortcut;
  private final float scale;
  private final int inPlanes;

  /** stride 1, scale 0.1, visual 1 (the reference's defaults), on {@link Device#best()}. */
  public Rfb(int inPlanes, int outPlanes) { this(inPlanes, outPlanes, 1, 0.1f, 1, Device.best()); }

  public Rfb(int inPlanes, int outPlanes, int stride, float scale, int visual, Device device) {
    if (inPlanes < 16) {
      throw new IllegalArgumentException("inPlanes: expected >= 16 (inter = inPlanes / 8 >= 2 channels, inter / 2 * 3 > 0) but got "
          + inPlanes);
    }
    if (outPlanes <= 0) throw new IllegalArgumentException("outPlanes: expected > 0 but got " + outPlanes);
    if (stride <= 0) throw new IllegalArgumentException("stride: expected > 0 but got " + stride);
    if (visual <= 0) throw new IllegalArgumentException("visual: expected > 0 but got " + visual);
    if (!Float.isFinite(scale)) throw new IllegalArgumentException("scale: expected a finite value but got " + scale);
    int inter = inPlanes / 8;
    int mid = inter / 2 * 3;
    this.scale = scale;
    this.inPlanes = inPlanes;
    this.branch0 = registerModule("branch0", new Sequential(
        new BasicConv(inPlanes, inter, 1, 1, 0, 1, true, device),
        new BasicConv(inter, 2 * inter, 3, stride, 1, 1, true, device),
        new BasicConv(2 * inter, 2 * inter, 3, 1, visual + 1, visual + 1, false, device)));
    this.branch1 = registerModule("branch1", new Sequential(
        new BasicConv(inPlanes, inter, 1, 1, 0, 1, true, device),
        new BasicConv(inter, mid, 3, 1, 1, 1, true, device),
        new BasicConv(mid, 2 * inter, 3, stride, 1, 1, true, device),
        new BasicConv(2 * inter, 2 * inter, 3, 1, 2 * visual + 1, 2 * visual + 1, false, device)));
    this.convLinear = registerModule("ConvLinear", new BasicConv(4 * inter, outPlanes, 1, 1, 0, 1, false, device));
    this.shortcut = registerModule("shortcut", new BasicConv(inPlanes, outPlanes, 1, stride, 0, 1, false, device));
  }

  public float scale() { return scale; }

  @Override public Tensor forward(Tensor x) {
    Aspp.checkInput(x, inPlanes);
    Tensor out = convLinear.forward(Layout.concat(1, branch0.forward(x), branch1.forward(x)));
    return Activations.relu(Elementwise.add(Elementwise.mulScalar(out, scale), shortcut.forward(x)));
  }
}
