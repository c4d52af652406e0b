package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Pooling;
import io.plugkit.ops.Reductions;

/**
 * Squeeze-and-Excitation (Hu et al. 2018) laid out as timm's {@code SEModule}: x [N, C, H, W] ->
 * x * gate(fc2(act(bn(fc1(squeeze(x)))))), same shape, where squeeze is the mean over H, W
 * ([N, C, 1, 1]; with {@code addMaxpool}, timm's 0.5 * mean + 0.5 * max). The final scaling is
 * fused with the gate ({@link AttentionGates#channelGate}).
 *
 * <p>Children (timm's state dict names, the default {@link Mlp#CONV_FC1_FC2}): {@code fc1} =
 * Conv2d(C, rd, 1) and {@code fc2} = Conv2d(rd, C, 1), with biases unless {@code bias(false)};
 * {@code bn} = BatchNorm2d(rd) only with {@code norm(true)} (timm's default Identity holds
 * nothing). Reduced channels rd = makeDivisible(C * rdRatio, rdDivisor, 0) unless given
 * explicitly. Other ports' checkpoints load with {@link Options#mlp} (nn.Linear layers, Sequential
 * names such as the classic SENet port's {@code fc.0}/{@code fc.2}, see {@link
 * Options#CLASSIC_SENET}) and {@link Options#rounding} ({@code C // r}); the forward is the same
 * computation in every layout. Keys that differ otherwise: {@link StateDictMapping}.
 */
public final class SqueezeExcite extends Module {
  /** The activation between fc1 and fc2. */
  public enum Activation {
    RELU, SILU;

    /** Applies it: relu(x), or silu(x) = x * sigmoid(x). */
    public Tensor apply(Tensor x) {
      return this == RELU ? Activations.relu(x) : Elementwise.mul(x, Activations.sigmoid(x));
    }
  }

  /**
   * The excitation MLP's state dict layout (C -> rd -> C); every layout computes the same thing.
   * Names as in the reference code's state dict.
   */
  public enum Mlp {
    /** timm's SEModule / CbamModule: {@code fc1}, {@code fc2} = Conv2d 1x1, weights [out, in, 1, 1]. */
    CONV_FC1_FC2(true),
    /** {@code fc1}, {@code fc2} = nn.Linear, weights [out, in]. */
    LINEAR_FC1_FC2(false),
    /** Classic SENet ports: {@code fc = Sequential(Linear, ReLU, Linear, Sigmoid)}, keys {@code fc.0}, {@code fc.2}. */
    LINEAR_FC_SEQUENTIAL(false),
    /** {@code fc = Sequential(Conv2d 1x1, ReLU, Conv2d 1x1)}, keys {@code fc.0}, {@code fc.2} (CBAM.PyTorch-style ports). */
    CONV_FC_SEQUENTIAL(true),
    /** CBAM's reference code (attention-module ChannelGate): {@code mlp = Sequential(Flatten, Linear, ReLU, Linear)}, keys {@code mlp.1}, {@code mlp.3}. */
    LINEAR_MLP_SEQUENTIAL(false);

    private final boolean conv;

    Mlp(boolean conv) { this.conv = conv; }

    /** True for 1x1 conv weights [out, in, 1, 1], false for Linear weights [out, in]. */
    public boolean conv() { return conv; }
  }

  /** How the reduced channel count rd comes from C and rdRatio. */
  public enum Rounding {
    /** timm: makeDivisible(C * rdRatio, rdDivisor, 0). */
    MAKE_DIVISIBLE,
    /** Most ports' {@code C // r} with r = 1 / rdRatio (rdDivisor is ignored). */
    FLOOR;

    /** rd for {@code channels}. */
    public int reduce(int channels, double rdRatio, int rdDivisor) {
      if (this == MAKE_DIVISIBLE) return makeDivisible(channels * rdRatio, rdDivisor, 0.0);
      double r = 1 / rdRatio;
      long ri = Math.round(r);
      // An integer reduction (the usual 16) divides exactly: C * (1 / 3.0) may land just below an integer.
      if (ri > 0 && Math.abs(r - ri) < 1e-9) return (int) (channels / ri);
      return (int) Math.floor(channels * rdRatio);
    }
  }

  /**
   * SE's hyper-parameters (timm's defaults in {@link #DEFAULT}: rdRatio 1/16, rdDivisor 8, bias,
   * ReLU, sigmoid gate, no norm, no max pool, conv {@code fc1}/{@code fc2}, make_divisible).
   *
   * @param rdChannels explicit reduced channels, or 0 to derive them from rdRatio and rdDivisor
   * @param mlp the state dict layout of the two layers
   * @param rounding how rd is derived when rdChannels is 0
   */
  public record Options(double rdRatio, int rdDivisor, int rdChannels, boolean addMaxpool, boolean bias, boolean norm,
      Activation act, Gate gate, Mlp mlp, Rounding rounding) {
    public static final Options DEFAULT = new Options(1.0 / 16, 8, 0, false, true, false, Activation.RELU, Gate.SIGMOID,
        Mlp.CONV_FC1_FC2, Rounding.MAKE_DIVISIBLE);

    /**
     * The classic SENet PyTorch port's SELayer: {@code fc = Sequential(Linear(C, C // 16, bias=False),
     * ReLU, Linear(C // 16, C, bias=False), Sigmoid)}; keys {@code fc.0.weight}, {@code fc.2.weight}.
     * Its variant with biased Linears: {@code CLASSIC_SENET.bias(true)}. The other common port,
     * Cadene's pretrainedmodels SEModule (conv fc1 / fc2 with biases, C // r), is
     * {@code DEFAULT.rounding(Rounding.FLOOR)}.
     */
    public static final Options CLASSIC_SENET = DEFAULT.mlp(Mlp.LINEAR_FC_SEQUENTIAL).bias(false).rounding(Rounding.FLOOR);

    public Options {
      if (!(rdRatio > 0)) throw new IllegalArgumentException("rdRatio: expected > 0 but got " + rdRatio);
      if (rdDivisor <= 0) throw new IllegalArgumentException("rdDivisor: expected > 0 but got " + rdDivisor);
      if (rdChannels < 0) throw new IllegalArgumentException("rdChannels: expected >= 0 (0: derived) but got " + rdChannels);
      if (act == null) throw new IllegalArgumentException("act: expected RELU or SILU but got null");
      if (gate == null) throw new IllegalArgumentException("gate: expected SIGMOID or HARD_SIGMOID but got null");
      if (mlp == null) throw new IllegalArgumentException("mlp: expected an SE MLP layout but got null");
      if (rounding == null) throw new IllegalArgumentException("rounding: expected MAKE_DIVISIBLE or FLOOR but got null");
      if (norm && mlp != Mlp.CONV_FC1_FC2 && mlp != Mlp.LINEAR_FC1_FC2) {
        throw new IllegalArgumentException("norm: expected false with mlp " + mlp
            + " (the norm is timm's bn between fc1 and fc2; a Sequential layout has no slot for it) but got true");
      }
    }

    public Options rdRatio(double v) { return new Options(v, rdDivisor, rdChannels, addMaxpool, bias, norm, act, gate, mlp, rounding); }

    public Options rdDivisor(int v) { return new Options(rdRatio, v, rdChannels, addMaxpool, bias, norm, act, gate, mlp, rounding); }

    public Options rdChannels(int v) { return new Options(rdRatio, rdDivisor, v, addMaxpool, bias, norm, act, gate, mlp, rounding); }

    public Options addMaxpool(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, v, bias, norm, act, gate, mlp, rounding); }

    public Options bias(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, v, norm, act, gate, mlp, rounding); }

    public Options norm(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, v, act, gate, mlp, rounding); }

    public Options act(Activation v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, v, gate, mlp, rounding); }

    public Options gate(Gate v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, act, v, mlp, rounding); }

    public Options mlp(Mlp v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, act, gate, v, rounding); }

    public Options rounding(Rounding v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, act, gate, mlp, v); }

    /** The reduced channel count for {@code channels}. */
    public int reducedChannels(int channels) {
      return rdChannels > 0 ? rdChannels : rounding.reduce(channels, rdRatio, rdDivisor);
    }
  }

  private final int channels;
  private final Options options;
  private final ExciteMlp mlp;
  private final BatchNorm2d bn;

  public SqueezeExcite(int channels) { this(channels, Options.DEFAULT, Device.best()); }

  public SqueezeExcite(int channels, Options options, Device device) {
    if (channels <= 0) throw new IllegalArgumentException("channels: expected > 0 but got " + channels);
    if (options == null) throw new IllegalArgumentException("options: expected SE options but got null");
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    this.channels = channels;
    this.options = options;
    int rd = options.reducedChannels(channels);
    if (rd <= 0) {
      throw new IllegalArgumentException("channels, options: expected a reduced channel count > 0 but got " + rd
          + " from channels " + channels + " and " + options);
    }
    Init.checkSize("channels, options", "fc1 weight [reduced channels, channels, 1, 1]", rd, channels);
    // Registration order is the state dict's: fc1, bn, fc2 (timm), so bn goes between the layers.
    this.bn = options.norm() ? new BatchNorm2d(rd, 0.1f, 1e-5f, device) : null;
    this.mlp = new ExciteMlp(this, options.mlp(), channels, rd, options.bias(), device, bn);
  }

  /**
   * timm's make_divisible: v rounded to the nearest multiple of divisor (halves up), at least
   * divisor, plus one divisor when that lost more than (1 - roundLimit) of v.
   */
  public static int makeDivisible(double v, int divisor, double roundLimit) {
    int rounded = Math.max(divisor, (int) (v + divisor / 2.0) / divisor * divisor);
    return rounded < roundLimit * v ? rounded + divisor : rounded;
  }

  public int channels() { return channels; }

  public Options options() { return options; }

  /** The squeezed descriptor: x [N, C, H, W] -> [N, C, 1, 1] (mean, or 0.5 * mean + 0.5 * max). */
  public Tensor squeeze(Tensor x) {
    checkChannels(x, channels);
    if (!options.addMaxpool()) return Pooling.globalAvgPool2d(x);
    // 0.5 * (mean + max) equals timm's 0.5 * mean + 0.5 * max exactly (scaling by 0.5 is exact).
    return Elementwise.mulScalar(sumHalves(AttentionGates.globalMeanMax(x)), 0.5f);
  }

  /** [2N, C, 1, 1] (two stacked batches, as {@link AttentionGates#globalMeanMax}) -> their sum, [N, C, 1, 1]. */
  static Tensor sumHalves(Tensor stacked) {
    int n = stacked.dim(0) / 2;
    int c = stacked.dim(1);
    return Reductions.sum(stacked.reshape(2, n * c), new int[] {0}, false).reshape(n, c, 1, 1);
  }

  /** The excitation logits before the gate: squeezed [N, C, 1, 1] -> fc2(act(bn(fc1(.)))) [N, C, 1, 1]. */
  public Tensor excite(Tensor squeezed) {
    Tensor h = mlp.first(squeezed);
    if (bn != null) h = bn.forward(h);
    return mlp.second(options.act().apply(h));
  }

  @Override public Tensor forward(Tensor x) {
    return AttentionGates.channelGate(x, excite(squeeze(x)), options.gate());
  }

  /** Rejects x unless it is [N, channels, H, W], naming x. */
  static void checkChannels(Tensor x, int channels) {
    if (x == null) throw new IllegalArgumentException("x: expected a tensor but got null");
    if (x.rank() != 4) throw new IllegalArgumentException("x: expected rank 4 [N, C, H, W] but got shape " + x.shape());
    if (x.dim(1) != channels) {
      throw new IllegalArgumentException("x: expected " + channels + " channels (the module's) but got shape " + x.shape());
    }
  }
}
