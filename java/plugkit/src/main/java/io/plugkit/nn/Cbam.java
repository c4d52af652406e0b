package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.SqueezeExcite.Activation;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;

/**
 * Convolutional Block Attention Module (Woo et al. 2018) laid out as timm's {@code CbamModule}:
 * channel attention, then spatial attention; x [N, C, H, W] -> same shape.
 *
 * <ul>
 *   <li>{@code channel} ({@link ChannelAttn}): x * gate(mlp(mean_hw(x)) + mlp(max_hw(x))) with the
 *       shared mlp = fc2(act(fc1(.))), {@code fc1} = Conv2d(C, rd, 1), {@code fc2} = Conv2d(rd, C, 1),
 *       no biases unless {@code mlpBias}; rd = makeDivisible(C * rdRatio, rdDivisor, 0) unless given.
 *   <li>{@code spatial} ({@link SpatialAttn}): x * gate(bn(conv([mean_c(x), max_c(x)]))) with
 *       {@code conv.conv} = Conv2d(2, 1, k, padding (k - 1) / 2, no bias) and {@code conv.bn} =
 *       BatchNorm2d(1) (timm's ConvNormAct with apply_act=False), k odd.
 * </ul>
 * State dict keys: {@code channel.fc1.weight}, {@code channel.fc2.weight},
 * {@code spatial.conv.conv.weight}, {@code spatial.conv.bn.weight|bias|running_mean|running_var|num_batches_tracked}.
 */
public final class Cbam extends Module {
  /**
   * CBAM's hyper-parameters; {@link #DEFAULT} is timm's: rdRatio 1/16, rdDivisor 1, spatial kernel
   * 7, ReLU, sigmoid gates, no mlp bias.
   *
   * @param rdChannels explicit reduced channels, or 0 to derive them from rdRatio and rdDivisor
   */
  public record Options(double rdRatio, int rdDivisor, int rdChannels, int spatialKernelSize, Activation act, Gate gate,
      boolean mlpBias) {
    public static final Options DEFAULT = new Options(1.0 / 16, 1, 0, 7, Activation.RELU, Gate.SIGMOID, false);

    public Options {
      if (!(rdRatio > 0)) throw new IllegalArgumentException("rdRatio: expected > 0 but got " + rdRatio);
      if (rdDivisor <= 0) throw new IllegalArgumentException("rdDivisor: expected > 0 but got " + rdDivisor);
      if (rdChannels < 0) throw new IllegalArgumentException("rdChannels: expected >= 0 (0: derived) but got " + rdChannels);
      if (spatialKernelSize <= 0 || spatialKernelSize % 2 == 0) {
        throw new IllegalArgumentException("spatialKernelSize: expected an odd size > 0 (so the output keeps H x W) but got "
            + spatialKernelSize);
      }
      if (act == null) throw new IllegalArgumentException("act: expected RELU or SILU but got null");
      if (gate == null) throw new IllegalArgumentException("gate: expected SIGMOID or HARD_SIGMOID but got null");
    }

    public Options rdRatio(double v) { return new Options(v, rdDivisor, rdChannels, spatialKernelSize, act, gate, mlpBias); }

    public Options rdDivisor(int v) { return new Options(rdRatio, v, rdChannels, spatialKernelSize, act, gate, mlpBias); }

    public Options rdChannels(int v) { return new Options(rdRatio, rdDivisor, v, spatialKernelSize, act, gate, mlpBias); }

    public Options spatialKernelSize(int v) { return new Options(rdRatio, rdDivisor, rdChannels, v, act, gate, mlpBias); }

    public Options act(Activation v) { return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, v, gate, mlpBias); }

    public Options gate(Gate v) { return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, act, v, mlpBias); }

    public Options mlpBias(boolean v) { return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, act, gate, v); }

    public int reducedChannels(int channels) {
      return rdChannels > 0 ? rdChannels : SqueezeExcite.makeDivisible(channels * rdRatio, rdDivisor, 0.0);
    }
  }

  private final ChannelAttn channel;
  private final SpatialAttn spatial;

  public Cbam(int channels) { this(channels, Options.DEFAULT, Device.best()); }

  public Cbam(int channels, Options options, Device device) {
    if (channels <= 0) throw new IllegalArgumentException("channels: expected > 0 but got " + channels);
    if (options == null) throw new IllegalArgumentException("options: expected CBAM options but got null");
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    this.channel = registerModule("channel", new ChannelAttn(channels, options, device));
    this.spatial = registerModule("spatial", new SpatialAttn(options, device));
  }

  public ChannelAttn channel() { return channel; }

  public SpatialAttn spatial() { return spatial; }

  /** spatial(channel(x)); the channel gate and the spatial descriptor share one pass over x. */
  @Override public Tensor forward(Tensor x) {
    Tensor[] gatedAndDescriptor = AttentionGates.channelGateMeanMax(x, channel.logits(x), channel.gate);
    return spatial.forward(gatedAndDescriptor[0], gatedAndDescriptor[1]);
  }

  /** CBAM's channel attention (timm's ChannelAttn): [N, C, H, W] -> same shape. */
  public static final class ChannelAttn extends Module {
    private final int channels;
    private final Activation act;
    private final Gate gate;
    private final Conv2d fc1;
    private final Conv2d fc2;

    ChannelAttn(int channels, Options options, Device device) {
      this.channels = channels;
      this.act = options.act();
      this.gate = options.gate();
      int rd = options.reducedChannels(channels);
      if (rd <= 0) {
        throw new IllegalArgumentException("channels, options: expected a reduced channel count > 0 but got " + rd
            + " from channels " + channels + " and " + options);
      }
      Init.checkSize("channels, options", "fc1 weight [reduced channels, channels, 1, 1]", rd, channels);
      this.fc1 = registerModule("fc1", new Conv2d(channels, rd, 1, 1, 1, options.mlpBias(), device));
      this.fc2 = registerModule("fc2", new Conv2d(rd, channels, 1, 1, 1, options.mlpBias(), device));
    }

    /**
     * The logits before the gate: mlp(mean) + mlp(max), [N, C, 1, 1]; the mlp runs once over the
     * means and maxima stacked along the batch.
     */
    public Tensor logits(Tensor x) {
      SqueezeExcite.checkChannels(x, channels);
      return SqueezeExcite.sumHalves(mlp(AttentionGates.globalMeanMax(x)));
    }

    private Tensor mlp(Tensor pooled) { return fc2.forward(act.apply(fc1.forward(pooled))); }

    @Override public Tensor forward(Tensor x) { return AttentionGates.channelGate(x, logits(x), gate); }
  }

  /** CBAM's spatial attention (timm's SpatialAttn): [N, C, H, W] -> same shape. */
  public static final class SpatialAttn extends Module {
    private final Gate gate;
    private final ConvNorm conv;

    SpatialAttn(Options options, Device device) {
      this.gate = options.gate();
      this.conv = registerModule("conv", new ConvNorm(options.spatialKernelSize(), device));
    }

    /** The logits before the gate: bn(conv([mean_c, max_c])), [N, 1, H, W]. */
    public Tensor logits(Tensor x) { return conv.forward(AttentionGates.channelMeanMax(x)); }

    @Override public Tensor forward(Tensor x) { return AttentionGates.spatialGate(x, logits(x), gate); }

    /** forward(x) with x's descriptor [mean_c, max_c] already computed. */
    Tensor forward(Tensor x, Tensor descriptor) { return AttentionGates.spatialGate(x, conv.forward(descriptor), gate); }
  }

  /** timm's ConvNormAct(2, 1, k, apply_act=False): {@code conv} (no bias), then {@code bn}. */
  public static final class ConvNorm extends Module {
    private final Conv2d conv;
    private final BatchNorm2d bn;

    ConvNorm(int kernel, Device device) {
      this.conv = registerModule("conv", new Conv2d(2, 1, kernel, kernel, 1, false, device).padding((kernel - 1) / 2));
      this.bn = registerModule("bn", new BatchNorm2d(1, 0.1f, 1e-5f, device));
    }

    @Override public Tensor forward(Tensor x) { return bn.forward(conv.forward(x)); }
  }
}
