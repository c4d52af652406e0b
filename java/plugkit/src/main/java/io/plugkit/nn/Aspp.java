package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.AtrousConv;
import io.plugkit.ops.BatchNorm;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Interpolate;
import io.plugkit.ops.InterpolateOptions;
import io.plugkit.ops.Layout;
import java.util.Arrays;

/**
 * Atrous spatial pyramid pooling, torchvision's
 * {@code torchvision.models.segmentation.deeplabv3.ASPP(in_channels, atrous_rates, out_channels=256)}
 * with its state dict names, for any number R >= 1 of rates:
 * <ul>
 *   <li>{@code convs.0}: 1x1 conv (no bias, {@code convs.0.0.weight}) + BN ({@code convs.0.1.*}) + ReLU;</li>
 *   <li>{@code convs.1..R}: ASPPConv, a 3x3 conv of dilation and padding rate (no bias) + BN + ReLU;</li>
 *   <li>{@code convs.R+1}: ASPPPooling, the global average, 1x1 conv ({@code convs.R+1.1.weight}) + BN
 *   ({@code convs.R+1.2.*}) + ReLU, then bilinear (align_corners false) back to H x W;</li>
 *   <li>{@code project}: 1x1 conv of the (R + 2) out concatenated channels -> out (no bias) + BN + ReLU +
 *   Dropout(0.5) ({@code project.3}, active in training only).</li>
 * </ul>
 * Input [N, in, H, W], output [N, out, H, W]. In training the pooling branch's BN sees one value per
 * channel and image, so a batch of one is rejected there, as in PyTorch.
 */
public final class Aspp extends Module {
  private final int inChannels;
  private final int[] rates;
  private final Sequential[] branches;
  private final Sequential pooling;
  private final Sequential project;
  private final Branches convs;
  private final Dropout dropout;

  /** out 256 on {@link Device#best()}. */
  public Aspp(int inChannels, int... atrousRates) { this(inChannels, atrousRates, 256, Device.best()); }

  public Aspp(int inChannels, int[] atrousRates, int outChannels, Device device) {
    if (inChannels <= 0) throw new IllegalArgumentException("inChannels: expected > 0 but got " + inChannels);
    if (outChannels <= 0) throw new IllegalArgumentException("outChannels: expected > 0 but got " + outChannels);
    if (atrousRates == null || atrousRates.length == 0) {
      throw new IllegalArgumentException("atrousRates: expected at least one rate but got "
          + (atrousRates == null ? "null" : "none"));
    }
    for (int r : atrousRates) {
      if (r <= 0) throw new IllegalArgumentException("atrousRates: expected rates > 0 but got " + Arrays.toString(atrousRates));
    }
    if ((long) (atrousRates.length + 2) * outChannels > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("outChannels: expected (rates + 2) * outChannels concatenated channels"
          + " <= 2^31-1 but got (" + atrousRates.length + " + 2) * " + outChannels);
    }
    this.inChannels = inChannels;
    this.rates = atrousRates.clone();
    int r = rates.length;
    convs = registerModule("convs", new Branches());
    branches = new Sequential[r + 1];
    branches[0] = convBnRelu(inChannels, outChannels, 1, 0, 1, device);
    for (int i = 0; i < r; i++) branches[i + 1] = convBnRelu(inChannels, outChannels, 3, rates[i], rates[i], device);
    for (int i = 0; i <= r; i++) convs.add(Integer.toString(i), branches[i]);
    // ASPPPooling: index 0 is the parameterless AdaptiveAvgPool2d(1), so its conv is ".1".
    pooling = new Sequential(new GlobalAvgPool2d(), new Conv2d(inChannels, outChannels, 1, 1, 1, false, device),
        new BatchNorm2d(outChannels, 0.1f, 1e-5f, device), new ReLU());
    convs.add(Integer.toString(r + 1), pooling);
    dropout = new Dropout(0.5f);
    project = registerModule("project", new Sequential(
        new Conv2d((r + 2) * outChannels, outChannels, 1, 1, 1, false, device),
        new BatchNorm2d(outChannels, 0.1f, 1e-5f, device), new ReLU(), dropout));
  }

  private static Sequential convBnRelu(int in, int out, int kernel, int padding, int dilation, Device device) {
    return new Sequential(new Conv2d(in, out, kernel, kernel, 1, false, device).padding(padding).dilation(dilation),
        new BatchNorm2d(out, 0.1f, 1e-5f, device), new ReLU());
  }

  public int[] rates() { return rates.clone(); }

  /** The projection's Dropout ({@code project.3}); its p can be changed (0 makes training deterministic). */
  public Dropout dropout() { return dropout; }

  @Override public Tensor forward(Tensor x) {
    checkInput(x, inChannels);
    // project(concat(branches, upsampled pooling)) without the concat: the pooling branch is
    // constant over H x W (bilinear from 1x1), so its share of the 1x1 projection is one value per
    // image and channel, added after the branches' share (which runs through AtrousConv's measured
    // choice). Same sums as torchvision's up to float rounding; ASPP 1x256x33x33 forward: no
    // upsampled map, no 5-way concat, 1/5 less projection.
    Tensor branchesOut = convs.branches(x);
    Tensor w = ((Conv2d) project.get(0)).weight().tensor();
    int k = branchesOut.dim(1);
    Tensor y = AtrousConv.conv2d(branchesOut, Layout.slice(w, 1, 0, k), null, Conv.Options.DEFAULT);
    y = Elementwise.add(y, Conv.conv2d(pooling.forward(x), Layout.slice(w, 1, k, w.dim(1)), null, Conv.Options.DEFAULT));
    for (int i = 1; i < 4; i++) y = project.get(i).forward(y);  // project's BN, ReLU, Dropout
    return y;
  }

  /** Rejects an x that is not [N, channels, H, W], naming it. */
  static void checkInput(Tensor x, int channels) {
    if (x == null || x.rank() != 4 || x.dim(1) != channels) {
      throw new IllegalArgumentException("x: expected [N, " + channels + ", H, W] but got "
          + (x == null ? "null" : "shape " + x.shape()));
    }
  }

  /**
   * The convolutions of the 1x1 branch and of every atrous branch over one input, each [N, out, H, W]
   * before its BN: one {@link AtrousConv#multiRate} call (the centre taps of all rates are one GEMM,
   * or separate convolutions where that measured faster for this geometry), split per branch.
   */
  private Tensor[] branchConvs(Tensor x) {
    int[] sizes = new int[branches.length];
    for (int i = 0; i < branches.length; i++) sizes[i] = ((Conv2d) branches[i].get(0)).weight().tensor().dim(0);
    return Layout.split(multiRate(x), sizes, 1);
  }

  /** Every branch's conv, concatenated along channels ([N, (R + 1) * out, H, W]). */
  private Tensor multiRate(Tensor x) {
    Tensor[] weights = new Tensor[branches.length];
    int[] rates = new int[branches.length];
    for (int i = 0; i < branches.length; i++) {
      weights[i] = ((Conv2d) branches[i].get(0)).weight().tensor();
      rates[i] = i == 0 ? 1 : this.rates[i - 1];
    }
    return AtrousConv.multiRate(x, weights, null, rates);
  }

  /**
   * torchvision's {@code convs} ModuleList, applied as its ASPP.forward applies it: every branch
   * over x, concatenated along channels ([N, (R + 2) * out, H, W], before {@code project}).
   */
  private final class Branches extends Module {
    void add(String name, Module m) { registerModule(name, m); }

    @Override public Tensor forward(Tensor x) {
      Tensor pooled = Interpolate.interpolate(pooling.forward(x),
          InterpolateOptions.size(x.dim(2), x.dim(3)).mode(Interpolate.Mode.BILINEAR).alignCorners(false));
      return Layout.concat(1, branches(x), pooled);
    }

    /** The conv branches after BN and ReLU, concatenated: [N, (R + 1) * out, H, W] (no pooling branch). */
    Tensor branches(Tensor x) {
      if (evalWithOneEps()) {
        // Eval: BN is per channel with fixed statistics, so the branches' BNs run as one over the
        // stacked conv output, with their parameters and statistics stacked: no split, one BN and
        // one ReLU instead of R + 1 each (ASPP 1x256x33x33 forward + backward about 2.5 ms less).
        Tensor y = BatchNorm.batchNorm(multiRate(x), stack(BatchNorm2d::runningMean), stack(BatchNorm2d::runningVar),
            stack(b -> b.weight().tensor()), stack(b -> b.bias().tensor()), false, 0.1f, bn(0).eps());
        return Activations.relu(y);
      }
      Tensor[] outs = new Tensor[branches.length];
      Tensor[] convOut = branchConvs(x);
      for (int i = 0; i < branches.length; i++) {
        // Conv2d (index 0) came from branchConvs; apply the branch's BN and ReLU.
        outs[i] = Activations.relu(branches[i].get(1).forward(convOut[i]));
      }
      return outs.length == 1 ? outs[0] : Layout.concat(1, outs);
    }

    private BatchNorm2d bn(int i) { return (BatchNorm2d) branches[i].get(1); }

    private boolean evalWithOneEps() {
      for (int i = 0; i < branches.length; i++) {
        if (bn(i).isTraining() || bn(i).eps() != bn(0).eps()) return false;
      }
      return true;
    }

    /** One per-channel tensor of every branch's BN, concatenated. */
    private Tensor stack(java.util.function.Function<BatchNorm2d, Tensor> of) {
      Tensor[] p = new Tensor[branches.length];
      for (int i = 0; i < p.length; i++) p[i] = of.apply(bn(i));
      return p.length == 1 ? p[0] : Layout.concat(0, p);
    }
  }
}
