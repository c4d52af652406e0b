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
 * <p>Children (timm's state dict names): {@code fc1} = Conv2d(C, rd, 1) and {@code fc2} =
 * Conv2d(rd, C, 1), with biases unless {@code bias(false)}; {@code bn} = BatchNorm2d(rd) only with
 * {@code norm(true)} (timm's default Identity holds nothing). Reduced channels
 * rd = makeDivisible(C * rdRatio, rdDivisor, 0) unless given explicitly.
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
   * SE's hyper-parameters (timm's defaults in {@link #DEFAULT}: rdRatio 1/16, rdDivisor 8, bias,
   * ReLU, sigmoid gate, no norm, no max pool).
   *
   * @param rdChannels explicit reduced channels, or 0 to derive them from rdRatio and rdDivisor
   */
  public record Options(double rdRatio, int rdDivisor, int rdChannels, boolean addMaxpool, boolean bias, boolean norm,
      Activation act, Gate gate) {
    public static final Options DEFAULT = new Options(1.0 / 16, 8, 0, false, true, false, Activation.RELU, Gate.SIGMOID);

    public Options {
      if (!(rdRatio > 0)) throw new IllegalArgumentException("rdRatio: expected > 0 but got " + rdRatio);
      if (rdDivisor <= 0) throw new IllegalArgumentException("rdDivisor: expected > 0 but got " + rdDivisor);
      if (rdChannels < 0) throw new IllegalArgumentException("rdChannels: expected >= 0 (0: derived) but got " + rdChannels);
      if (act == null) throw new IllegalArgumentException("act: expected RELU or SILU but got null");
      if (gate == null) throw new IllegalArgumentException("gate: expected SIGMOID or HARD_SIGMOID but got null");
    }

    public Options rdRatio(double v) { return new Options(v, rdDivisor, rdChannels, addMaxpool, bias, norm, act, gate); }

    public Options rdDivisor(int v) { return new Options(rdRatio, v, rdChannels, addMaxpool, bias, norm, act, gate); }

    public Options rdChannels(int v) { return new Options(rdRatio, rdDivisor, v, addMaxpool, bias, norm, act, gate); }

    public Options addMaxpool(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, v, bias, norm, act, gate); }

    public Options bias(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, v, norm, act, gate); }

    public Options norm(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, v, act, gate); }

    public Options act(Activation v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, v, gate); }

    public Options gate(Gate v) { return new Options(rdRatio, rdDivisor, rdChannels, addMaxpool, bias, norm, act, v); }

    /** The reduced channel count for {@code channels}. */
    public int reducedChannels(int channels) {
      return rdChannels > 0 ? rdChannels : makeDivisible(channels * rdRatio, rdDivisor, 0.0);
    }
  }

  private final int channels;
  private final Options options;
  private final Conv2d fc1;
  private final BatchNorm2d bn;
  private final Conv2d fc2;

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
    this.fc1 = registerModule("fc1", new Conv2d(channels, rd, 1, 1, 1, options.bias(), device));
    this.bn = options.norm() ? registerModule("bn", new BatchNorm2d(rd, 0.1f, 1e-5f, device)) : null;
    this.fc2 = registerModule("fc2", new Conv2d(rd, channels, 1, 1, 1, options.bias(), device));
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
    Tensor h = fc1.forward(squeezed);
    if (bn != null) h = bn.forward(h);
    return fc2.forward(options.act().apply(h));
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
