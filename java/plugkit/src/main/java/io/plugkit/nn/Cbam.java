package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.SqueezeExcite.Activation;
import io.plugkit.nn.SqueezeExcite.Mlp;
import io.plugkit.nn.SqueezeExcite.Rounding;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.ops.Layout;

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
 *
 * <p>Other ports: {@link Options#mlp} lays the channel MLP out as nn.Linear layers and other names
 * ({@code channel.mlp.1}, {@code channel.mlp.3}: the reference code's ChannelGate),
 * {@link Options#rounding} gives {@code C // r}, {@code spatialBias}/{@code spatialNorm} give a
 * spatial conv with a bias ({@code spatial.conv.conv.bias}) and/or without BN, {@code spatialOrder}
 * the descriptor order ([max, mean] in the reference code), {@code spatialBnMomentum} its BN's
 * momentum. {@link Options#ATTENTION_MODULE} with {@link #attentionModuleKeys()} loads the
 * reference code's (Jongchan/attention-module) checkpoints. Every layout computes with the same
 * fused gates.
 */
public final class Cbam extends Module {
  /** The order of the spatial descriptor's two planes, i.e. of the spatial conv's input channels. */
  public enum SpatialOrder {
    /** timm, CBAM.PyTorch: [mean_c, max_c]. */
    MEAN_MAX,
    /** The reference code's ChannelPool: [max_c, mean_c]. */
    MAX_MEAN
  }

  /**
   * CBAM's hyper-parameters; {@link #DEFAULT} is timm's: rdRatio 1/16, rdDivisor 1, spatial kernel
   * 7, ReLU, sigmoid gates, no mlp bias, conv {@code fc1}/{@code fc2}, make_divisible, spatial conv
   * without bias then BN (momentum 0.1), descriptor [mean, max].
   *
   * @param rdChannels explicit reduced channels, or 0 to derive them from rdRatio and rdDivisor
   * @param spatialBias whether the spatial conv has a bias
   * @param spatialNorm whether BatchNorm2d(1) follows the spatial conv
   * @param spatialBnMomentum that BatchNorm's momentum (PyTorch convention: weight of the new statistic)
   */
  public record Options(double rdRatio, int rdDivisor, int rdChannels, int spatialKernelSize, Activation act, Gate gate,
      boolean mlpBias, Mlp mlp, Rounding rounding, boolean spatialBias, boolean spatialNorm, SpatialOrder spatialOrder,
      float spatialBnMomentum) {
    public static final Options DEFAULT = new Options(1.0 / 16, 1, 0, 7, Activation.RELU, Gate.SIGMOID, false,
        Mlp.CONV_FC1_FC2, Rounding.MAKE_DIVISIBLE, false, true, SpatialOrder.MEAN_MAX, 0.1f);

    /**
     * The reference code (Jongchan/attention-module MODELS/cbam.py): ChannelGate's
     * {@code mlp = Sequential(Flatten, Linear(C, C // r), ReLU, Linear(C // r, C))} with biases,
     * SpatialGate's BasicConv = conv without bias, BatchNorm2d(1, momentum=0.01), on [max, mean].
     * Its keys ({@code ChannelGate.}, {@code SpatialGate.spatial.}) load through {@link #attentionModuleKeys()}.
     */
    public static final Options ATTENTION_MODULE = DEFAULT.mlp(Mlp.LINEAR_MLP_SEQUENTIAL).mlpBias(true)
        .rounding(Rounding.FLOOR).spatialOrder(SpatialOrder.MAX_MEAN).spatialBnMomentum(0.01f);

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
      if (mlp == null) throw new IllegalArgumentException("mlp: expected a CBAM MLP layout but got null");
      if (rounding == null) throw new IllegalArgumentException("rounding: expected MAKE_DIVISIBLE or FLOOR but got null");
      if (spatialOrder == null) throw new IllegalArgumentException("spatialOrder: expected MEAN_MAX or MAX_MEAN but got null");
      if (!(spatialBnMomentum >= 0 && spatialBnMomentum <= 1)) {
        throw new IllegalArgumentException("spatialBnMomentum: expected a momentum in [0, 1] but got " + spatialBnMomentum);
      }
    }

    public Options rdRatio(double v) {
      return new Options(v, rdDivisor, rdChannels, spatialKernelSize, act, gate, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options rdDivisor(int v) {
      return new Options(rdRatio, v, rdChannels, spatialKernelSize, act, gate, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options rdChannels(int v) {
      return new Options(rdRatio, rdDivisor, v, spatialKernelSize, act, gate, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options spatialKernelSize(int v) {
      return new Options(rdRatio, rdDivisor, rdChannels, v, act, gate, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options act(Activation v) {
      return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, v, gate, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options gate(Gate v) {
      return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, act, v, mlpBias, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options mlpBias(boolean v) {
      return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, act, gate, v, mlp, rounding,
          spatialBias, spatialNorm, spatialOrder, spatialBnMomentum);
    }

    public Options mlp(Mlp v) { return with(v, rounding, spatialBias, spatialNorm, spatialOrder, spatialBnMomentum); }

    public Options rounding(Rounding v) { return with(mlp, v, spatialBias, spatialNorm, spatialOrder, spatialBnMomentum); }

    public Options spatialBias(boolean v) { return with(mlp, rounding, v, spatialNorm, spatialOrder, spatialBnMomentum); }

    public Options spatialNorm(boolean v) { return with(mlp, rounding, spatialBias, v, spatialOrder, spatialBnMomentum); }

    public Options spatialOrder(SpatialOrder v) { return with(mlp, rounding, spatialBias, spatialNorm, v, spatialBnMomentum); }

    public Options spatialBnMomentum(float v) { return with(mlp, rounding, spatialBias, spatialNorm, spatialOrder, v); }

    private Options with(Mlp m, Rounding r, boolean sb, boolean sn, SpatialOrder so, float mom) {
      return new Options(rdRatio, rdDivisor, rdChannels, spatialKernelSize, act, gate, mlpBias, m, r, sb, sn, so, mom);
    }

    public int reducedChannels(int channels) {
      return rdChannels > 0 ? rdChannels : rounding.reduce(channels, rdRatio, rdDivisor);
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

  /**
   * The reference code's keys (Jongchan/attention-module: {@code ChannelGate.mlp.*},
   * {@code SpatialGate.spatial.conv.weight}, {@code SpatialGate.spatial.bn.*}) renamed to this
   * module's under {@link Options#ATTENTION_MODULE}; chain {@link StateDictMapping#under} first to
   * pick one block out of a whole network.
   */
  public static StateDictMapping attentionModuleKeys() { return attentionModuleKeys(StateDictMapping.identity()); }

  /** {@link #attentionModuleKeys()} after the steps of {@code before} (e.g. {@code under("layer1.0.cbam.")}). */
  public static StateDictMapping attentionModuleKeys(StateDictMapping before) {
    if (before == null) throw new IllegalArgumentException("before: expected a StateDictMapping but got null");
    return before.renamePrefix("ChannelGate.", "channel.").renamePrefix("SpatialGate.spatial.conv.", "spatial.conv.conv.")
        .renamePrefix("SpatialGate.spatial.bn.", "spatial.conv.bn.");
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
    private final ExciteMlp mlp;

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
      this.mlp = new ExciteMlp(this, options.mlp(), channels, rd, options.mlpBias(), device, null);
    }

    /**
     * The logits before the gate: mlp(mean) + mlp(max), [N, C, 1, 1]; the mlp runs once over the
     * means and maxima stacked along the batch.
     */
    public Tensor logits(Tensor x) {
      SqueezeExcite.checkChannels(x, channels);
      return SqueezeExcite.sumHalves(mlp(AttentionGates.globalMeanMax(x)));
    }

    private Tensor mlp(Tensor pooled) { return mlp.second(act.apply(mlp.first(pooled))); }

    @Override public Tensor forward(Tensor x) { return AttentionGates.channelGate(x, logits(x), gate); }
  }

  /** CBAM's spatial attention (timm's SpatialAttn): [N, C, H, W] -> same shape. */
  public static final class SpatialAttn extends Module {
    private final Gate gate;
    private final SpatialOrder order;
    private final ConvNorm conv;

    SpatialAttn(Options options, Device device) {
      this.gate = options.gate();
      this.order = options.spatialOrder();
      this.conv = registerModule("conv", new ConvNorm(options, device));
    }

    /** The logits before the gate: bn(conv([mean_c, max_c])) (planes in the options' order), [N, 1, H, W]. */
    public Tensor logits(Tensor x) { return conv.forward(ordered(AttentionGates.channelMeanMax(x))); }

    @Override public Tensor forward(Tensor x) { return AttentionGates.spatialGate(x, logits(x), gate); }

    /** forward(x) with x's descriptor [mean_c, max_c] already computed. */
    Tensor forward(Tensor x, Tensor descriptor) {
      return AttentionGates.spatialGate(x, conv.forward(ordered(descriptor)), gate);
    }

    /** The fused kernels make [mean, max]; [max, mean] swaps the two [N, 1, H, W] planes (small next to x). */
    private Tensor ordered(Tensor meanMax) {
      if (order == SpatialOrder.MEAN_MAX) return meanMax;
      return Layout.concat(1, Layout.slice(meanMax, 1, 1, 2), Layout.slice(meanMax, 1, 0, 1));
    }
  }

  /**
   * timm's ConvNormAct(2, 1, k, apply_act=False): {@code conv} (no bias), then {@code bn}; with
   * options, the conv may have a bias and the BN may be absent or have another momentum.
   */
  public static final class ConvNorm extends Module {
    private final Conv2d conv;
    private final BatchNorm2d bn;

    ConvNorm(int kernel, Device device) { this(Options.DEFAULT.spatialKernelSize(kernel), device); }

    ConvNorm(Options options, Device device) {
      int kernel = options.spatialKernelSize();
      this.conv = registerModule("conv",
          new Conv2d(2, 1, kernel, kernel, 1, options.spatialBias(), device).padding((kernel - 1) / 2));
      this.bn = options.spatialNorm()
          ? registerModule("bn", new BatchNorm2d(1, options.spatialBnMomentum(), 1e-5f, device)) : null;
    }

    @Override public Tensor forward(Tensor x) {
      Tensor y = conv.forward(x);
      return bn == null ? y : bn.forward(y);
    }
  }
}
