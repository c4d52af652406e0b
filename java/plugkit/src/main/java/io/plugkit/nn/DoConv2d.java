package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.ops.Checks;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Layout;
import io.plugkit.ops.Linear;
import io.plugkit.ops.Padding;

/**
 * DO-Conv, a depthwise over-parameterized convolution (Cao et al., "DO-Conv: Depthwise
 * Over-parameterized Convolutional Layer", TIP 2022), as yangyanli/DO-Conv's {@code DOConv2d}: a
 * drop-in for {@link Conv2d} during training whose kernel is the product of a depthwise part
 * {@code D} and a conventional part {@code W}; {@link #fold()} turns it into a plain
 * {@link Conv2d} for inference.
 *
 * <p>Parameters, under the reference's state_dict names and in its order (M x N the kernel,
 * {@code D_mul} the depth multiplier): {@code W [out, in/groups, D_mul]}; when M*N > 1,
 * {@code D [in, M*N, D_mul]} (zeros at start) and {@code d_diag [in, M*N, D_mul]} (identity
 * blocks [M*N, M*N] repeated along the last dim, then zero columns for the remainder; a
 * Parameter that does not require grad, as in the reference); {@code bias [out]} (optional).
 * D_mul defaults to M*N and is always 1 for a 1x1 kernel (the reference ignores it there). The
 * reference also accepts D_mul < M*N, where d_diag is all zeros; so does this class, so such
 * checkpoints load too.
 *
 * <p>Forward: when M*N > 1, W is reinterpreted (row-major, as torch.reshape) as
 * [out/groups, in, D_mul], the kernel is {@code K[o, i, m] = sum_s (D + d_diag)[i, m, s] W[o, i, s]}
 * reinterpreted as [out, in/groups, M, N]; for 1x1, W itself reshaped. Then conv2d with zero
 * padding: input [N, in, H, W], output [N, out, outH, outW], outH = (H + 2*padH - dilationH*(M-1)
 * - 1) / strideH + 1 (outW likewise). Gradients reach W, D and bias through the composition
 * (reshape, add, batched matmul, permute).
 */
public final class DoConv2d extends Module {
  private final int inChannels;
  private final int outChannels;
  private final int kernelH;
  private final int kernelW;
  private final int dMul;
  private final int groups;
  private final Device device;
  private final Parameter w;
  private final Parameter d;
  private final Parameter dDiag;
  private final Parameter bias;
  private Conv.Options options;
  /** CONSTANT: zeros, the convolution's own padding. */
  private Padding.Mode paddingMode = Padding.Mode.CONSTANT;

  /** Square kernel, D_mul = kernel^2, groups 1, with bias, on {@link Device#best()}. */
  public DoConv2d(int inChannels, int outChannels, int kernel) {
    this(inChannels, outChannels, kernel, kernel, kernel * kernel, 1, true, Device.best());
  }

  /** D_mul = kernelH * kernelW (the reference's default, {@code D_mul=None}). */
  public DoConv2d(int inChannels, int outChannels, int kernelH, int kernelW, int groups, boolean bias, Device device) {
    this(inChannels, outChannels, kernelH, kernelW, positiveProduct(kernelH, kernelW), groups, bias, device);
  }

  /**
   * @param dMul the depth multiplier D_mul (>= 1; the paper uses >= kernelH * kernelW); ignored
   *     (taken as 1) for a 1x1 kernel, as in the reference
   */
  public DoConv2d(int inChannels, int outChannels, int kernelH, int kernelW, int dMul, int groups, boolean bias,
      Device device) {
    if (inChannels <= 0 || outChannels <= 0) {
      throw new IllegalArgumentException("inChannels, outChannels: expected > 0 but got " + inChannels + ", " + outChannels);
    }
    if (kernelH <= 0 || kernelW <= 0) {
      throw new IllegalArgumentException("kernelH, kernelW: expected sizes > 0 but got " + kernelH + "x" + kernelW);
    }
    if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0) {
      throw new IllegalArgumentException("groups: expected a positive divisor of inChannels " + inChannels
          + " and outChannels " + outChannels + " but got " + groups);
    }
    if (dMul <= 0) throw new IllegalArgumentException("dMul: expected >= 1 but got " + dMul);
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    long mn = (long) kernelH * kernelW;
    Init.checkSize("kernelH, kernelW", "kernel", kernelH, kernelW);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelH = kernelH;
    this.kernelW = kernelW;
    this.dMul = mn == 1 ? 1 : dMul;
    this.groups = groups;
    this.device = device;
    this.options = Conv.Options.DEFAULT.groups(groups);
    Init.checkSize("inChannels, outChannels, groups, dMul", "W [out, in / groups, D_mul]", outChannels, inChannels / groups, this.dMul);
    Init.checkSize("inChannels, outChannels, kernelH, kernelW, groups", "kernel [out, in / groups, kernelH, kernelW]",
        outChannels, inChannels / groups, kernelH, kernelW);
    // kaiming_uniform(a = sqrt(5)) on W and the bias bound both come to 1/sqrt(fan_in), fan_in of W
    // being (in/groups) * D_mul.
    long fanIn = (long) (inChannels / groups) * this.dMul;
    this.w = registerParameter("W", Init.fanInUniform(device, fanIn, outChannels, inChannels / groups, this.dMul));
    if (mn > 1) {
      Init.checkSize("inChannels, kernelH, kernelW, dMul", "D [in, M*N, D_mul]", inChannels, mn, this.dMul);
      this.d = registerParameter("D", Tensor.zeros(device, inChannels, (int) mn, this.dMul));
      this.dDiag = registerParameter("d_diag", Tensor.of(device, identityBlocks(inChannels, (int) mn, this.dMul),
          inChannels, (int) mn, this.dMul));
      dDiag.tensor().requiresGrad(false); // the reference's Parameter(..., requires_grad=False)
    } else {
      this.d = null;
      this.dDiag = null;
    }
    this.bias = bias ? registerParameter("bias", Init.fanInUniform(device, fanIn, outChannels)) : null;
  }

  private static int positiveProduct(int kernelH, int kernelW) {
    if (kernelH <= 0 || kernelW <= 0) {
      throw new IllegalArgumentException("kernelH, kernelW: expected sizes > 0 but got " + kernelH + "x" + kernelW);
    }
    long mn = (long) kernelH * kernelW;
    if (mn > Integer.MAX_VALUE) throw new IllegalArgumentException("kernelH, kernelW: kernel " + kernelH + "x" + kernelW + " is too large");
    return (int) mn;
  }

  /** d_diag: [in, mn, dMul], 1 where s < (dMul / mn) * mn and s % mn == m. */
  private static float[] identityBlocks(int in, int mn, int dMul) {
    float[] v = new float[Math.toIntExact((long) in * mn * dMul)];
    int full = dMul / mn * mn; // columns covered by whole identity blocks; the rest stay 0
    for (int i = 0; i < in; i++) {
      for (int m = 0; m < mn; m++) {
        for (int s = m; s < full; s += mn) v[(i * mn + m) * dMul + s] = 1f;
      }
    }
    return v;
  }

  public DoConv2d stride(int h, int w) { options = options.stride(h, w); return this; }

  public DoConv2d stride(int s) { return stride(s, s); }

  public DoConv2d padding(int h, int w) { options = options.padding(h, w); return this; }

  public DoConv2d padding(int p) { return padding(p, p); }

  public DoConv2d dilation(int h, int w) { options = options.dilation(h, w); return this; }

  public DoConv2d dilation(int dl) { return dilation(dl, dl); }

  /**
   * The reference's {@code padding_mode}: "zeros" (the convolution's own padding), or "reflect",
   * "replicate", "circular": the input padded by {@link Padding#pad2d} with the padding's sizes,
   * then a convolution without padding, as the reference does ({@link Conv#paddingMode}).
   */
  public DoConv2d paddingMode(String mode) {
    paddingMode = Conv.paddingMode(mode);
    return this;
  }

  public Parameter W() { return w; }

  /** The depthwise part D, or null for a 1x1 kernel. */
  public Parameter D() { return d; }

  /** The fixed identity part d_diag, or null for a 1x1 kernel. */
  public Parameter dDiag() { return dDiag; }

  public Parameter bias() { return bias; }

  /** D_mul as used: the constructor's, or 1 for a 1x1 kernel. */
  public int dMul() { return dMul; }

  public Conv.Options options() { return options; }

  /**
   * The composed kernel [out, in/groups, kernelH, kernelW] (records its backward to W and D when
   * they require grad).
   */
  public Tensor kernel() {
    int mn = kernelH * kernelW;
    if (mn == 1) return w.tensor().reshape(outChannels, inChannels / groups, kernelH, kernelW);
    Tensor dTotal = Elementwise.add(d.tensor(), dDiag.tensor()); // [in, mn, dMul]
    // The reference's einsum 'ims,ois->oim' as one batched product over i:
    // [in, mn, dMul] x [in, dMul, out/groups] -> [in, mn, out/groups], then to [out/groups, in, mn].
    Tensor wT = Layout.permute(w.tensor().reshape(outChannels / groups, inChannels, dMul), 1, 2, 0);
    Tensor k = Layout.permute(Linear.matmul(dTotal, wT), 2, 0, 1);
    return k.reshape(outChannels, inChannels / groups, kernelH, kernelW);
  }

  @Override public Tensor forward(Tensor x) {
    Checks.tensor(x, "x");
    Checks.rank(x, "x", 4);
    Checks.dim(x, "x", 1, inChannels);
    Checks.sameDevice(x, "x", w.tensor(), "W");
    Tensor b = bias == null ? null : bias.tensor();
    if (paddingMode == Padding.Mode.CONSTANT) return Conv.conv2d(x, kernel(), b, options);
    int[] pad = {options.padW(), options.padW(), options.padH(), options.padH()};
    return Conv.conv2d(x, kernel(), b, options.padding(0, 0), pad, paddingMode);
  }

  /**
   * A plain {@link Conv2d} with the composed kernel as its weight, the same bias, stride, padding,
   * dilation, groups and padding mode, made in the current scope on this module's device: it
   * gives this module's outputs (within float rounding) at the cost of one convolution. Its
   * parameters are copies; later training of this module does not change them. (Building the
   * Conv2d draws its default initialisation from {@link Init}'s seed sequence before it is
   * overwritten.)
   */
  public Conv2d fold() {
    Conv2d conv = new Conv2d(inChannels, outChannels, kernelH, kernelW, groups, bias != null, device)
        .stride(options.strideH(), options.strideW())
        .padding(options.padH(), options.padW())
        .dilation(options.dilationH(), options.dilationW())
        .paddingMode(paddingMode);
    try (var off = GradMode.disable(); Scope tmp = Scope.open()) {
      conv.weight().tensor().copyFrom(kernel().toArray(), 0);
      if (bias != null) conv.bias().tensor().copyFrom(bias.tensor().toArray(), 0);
    }
    return conv;
  }
}
