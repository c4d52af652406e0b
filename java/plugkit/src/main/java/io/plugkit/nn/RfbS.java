package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Layout;

/**
 * RFB-s, RFBNet's {@code BasicRFB_a(in_planes, out_planes, stride, scale)} (ruinmessi/RFBNet,
 * models/RFB_Net_vgg.py; RFBNet applies it to conv4_3 as {@code Norm}), with its state dict
 * names. With {@code inter = in / 4} and {@link BasicConv}s (conv + BN, ReLU unless said):
 * <ul>
 *   <li>{@code branch0}: 1x1 in -> inter; 3x3 padding 1, no ReLU.</li>
 *   <li>{@code branch1}: 1x1 in -> inter; (3,1) padding (1,0); 3x3 dilation 3, no ReLU.</li>
 *   <li>{@code branch2}: 1x1 in -> inter; (1,3) padding (0,1), stride; 3x3 dilation 3, no ReLU.</li>
 *   <li>{@code branch3}: 1x1 in -> inter / 2; (1,3) -> inter / 4 * 3; (3,1) -> inter, stride;
 *   3x3 dilation 5, no ReLU.</li>
 *   <li>{@code ConvLinear}: 1x1 4 inter -> out, no ReLU; {@code shortcut}: 1x1 in -> out, stride, no ReLU.</li>
 * </ul>
 * Output {@code relu(ConvLinear(cat(branch0..3)) * scale + shortcut(x))}, [N, out, H, W]. As in
 * the reference, only branch2, branch3 and the shortcut use the stride, so a stride above 1 only
 * works on 1x1 maps (elsewhere the reference's concatenation fails; here an IllegalArgumentException).
 */
public final class RfbS extends Module {
  private final Sequential[] branches = new Sequential[4];
  private final BasicConv convLinear;
  private final BasicConv shortcut;
  private final float scale;
  private final int inPlanes;
  private final int stride;

  /** stride 1, scale 0.1 (the reference's defaults), on {@link Device#best()}. */
  public RfbS(int inPlanes, int outPlanes) { this(inPlanes, outPlanes, 1, 0.1f, Device.best()); }

  public RfbS(int inPlanes, int outPlanes, int stride, float scale, Device device) {
    if (inPlanes < 16) {
      throw new IllegalArgumentException("inPlanes: expected >= 16 (inter = inPlanes / 4 >= 4 channels, inter / 4 > 0) but got "
          + inPlanes);
    }
    if (outPlanes <= 0) throw new IllegalArgumentException("outPlanes: expected > 0 but got " + outPlanes);
    if (stride <= 0) throw new IllegalArgumentException("stride: expected > 0 but got " + stride);
    if (!Float.isFinite(scale)) throw new IllegalArgumentException("scale: expected a finite value but got " + scale);
    int inter = inPlanes / 4;
    this.scale = scale;
    this.inPlanes = inPlanes;
    this.stride = stride;
    branches[0] = new Sequential(
        new BasicConv(inPlanes, inter, 1, 1, 0, 1, true, device),
        new BasicConv(inter, inter, 3, 1, 1, 1, false, device));
    branches[1] = new Sequential(
        new BasicConv(inPlanes, inter, 1, 1, 0, 1, true, device),
        new BasicConv(inter, inter, 3, 1, 1, 1, 0, 1, 1, true, true, false, device),
        new BasicConv(inter, inter, 3, 1, 3, 3, false, device));
    branches[2] = new Sequential(
        new BasicConv(inPlanes, inter, 1, 1, 0, 1, true, device),
        new BasicConv(inter, inter, 1, 3, stride, 0, 1, 1, 1, true, true, false, device),
        new BasicConv(inter, inter, 3, 1, 3, 3, false, device));
    branches[3] = new Sequential(
        new BasicConv(inPlanes, inter / 2, 1, 1, 0, 1, true, device),
        new BasicConv(inter / 2, inter / 4 * 3, 1, 3, 1, 0, 1, 1, 1, true, true, false, device),
        new BasicConv(inter / 4 * 3, inter, 3, 1, stride, 1, 0, 1, 1, true, true, false, device),
        new BasicConv(inter, inter, 3, 1, 5, 5, false, device));
    for (int i = 0; i < 4; i++) registerModule("branch" + i, branches[i]);
    this.convLinear = registerModule("ConvLinear", new BasicConv(4 * inter, outPlanes, 1, 1, 0, 1, false, device));
    this.shortcut = registerModule("shortcut", new BasicConv(inPlanes, outPlanes, 1, stride, 0, 1, false, device));
  }

  public float scale() { return scale; }

  @Override public Tensor forward(Tensor x) {
    Aspp.checkInput(x, inPlanes);
    if (stride > 1 && x.rank() == 4 && (x.dim(2) > 1 || x.dim(3) > 1)) {
      throw new IllegalArgumentException("stride: " + stride + " only fits 1x1 maps in BasicRFB_a (branch0 and branch1 do not"
          + " stride, so the branches' sizes differ) but x has shape " + x.shape());
    }
    Tensor[] outs = new Tensor[4];
    for (int i = 0; i < 4; i++) outs[i] = branches[i].forward(x);
    Tensor out = convLinear.forward(Layout.concat(1, outs));
    return Activations.relu(Elementwise.add(Elementwise.mulScalar(out, scale), shortcut.forward(x)));
  }
}
