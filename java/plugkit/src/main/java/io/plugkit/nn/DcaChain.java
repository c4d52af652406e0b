package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.SqueezeExcite.Activation;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Layout;
import io.plugkit.ops.Pooling;
import java.util.List;

/**
 * Deep Connected Attention (Ma et al. 2020, DCANet) over a chain of SE or CBAM blocks: stage i runs
 * its body (any module), then an attention block that also receives the attention of stage i - 1.
 * Follows the authors' code, github.com/ma-xu/DCANet: models/resnet/resnet_se_dca.py
 * ({@code CSELayer}) for SE and models/resnet/resnet_cbam_dca.py ({@code ChannelGate},
 * {@code SpatialGate}) for CBAM, with timm's SE and CBAM ({@link SqueezeExcite}, {@link Cbam}) as
 * the attention blocks and the reference's connection layers around them.
 *
 * <p>SE connection ({@link SeAttention}), descriptors [N, C]:
 * <pre>
 *   s     = squeeze(x)                           (SE's mean, or its mean/max mix)
 *   p     = prev, or relu(LN(Linear(prev))) when prev has another channel count   ("att_fc")
 *   mixed = relu(LN(conv1x1([s; p])))            ("conv": Conv2d(2, 1, 1) over [N, 2, 1, C] = w0 s + w1 p + b)
 *   a     = fc2(act(bn(fc1(mixed))));  y = x * gate(a);  passed on: s * gate(a)   [N, C]
 * </pre>
 * CBAM connection ({@link CbamAttention}): channel attention mixes each pooled vector of x with the
 * same pooling of the previous stage's channel-attended map P (through relu(BN(conv1x1(P))),
 * "att_fc", when the channel counts differ): v' = relu(LN(conv1x1([v; pool(P)]))) ("alpha", no
 * bias), then timm's mlp(avg') + mlp(max'); spatial attention mixes the [mean_c, max_c] maps:
 * relu(BN2(p1 [mean_c(x); max_c(x)] + p2 [mean_c(Q); max_c(Q)])) ("bnrelu", p1 = 1 and p2 = 0
 * initially) before timm's conv + BN, where Q is the previous stage's output map, average-pooled by
 * H_prev / H when it is larger. Passed on: the channel-attended map and the output map.
 *
 * <p>Differences from the reference: stage 0 has no connection layers (the reference builds ones it
 * never uses); the mlp and spatial conv are timm's (names, biases, [mean, max] channel order); the
 * stages are explicit bodies rather than ResNet blocks (put a residual sum inside a body to rebuild
 * a ResNet stage). LN is LayerNorm over C.
 *
 * <p>State dict: {@code bodies.i.*}; SE: {@code attentions.i.se.fc1.weight} (timm's SE names),
 * {@code attentions.i.conv.0.*} (mixing conv), {@code attentions.i.conv.1.*} (LayerNorm),
 * {@code attentions.i.att_fc.0.*} (Linear), {@code attentions.i.att_fc.1.*} (LayerNorm); CBAM:
 * {@code attentions.i.channel.fc1.weight}, {@code attentions.i.channel.alpha.0.weight},
 * {@code attentions.i.channel.alpha.1.*}, {@code attentions.i.channel.att_fc.0.*} (Conv2d),
 * {@code attentions.i.channel.att_fc.1.*} (BatchNorm2d), {@code attentions.i.spatial.p1},
 * {@code attentions.i.spatial.p2}, {@code attentions.i.spatial.bnrelu.0.*},
 * {@code attentions.i.spatial.conv.conv.weight}, {@code attentions.i.spatial.conv.bn.*}.
 * Shapes: x [N, C0, H, W]; each body's output has its stage's channel count.
 */
public final class DcaChain extends Module {
  private final Sequential bodies;
  private final Sequential attentions;

  private DcaChain(List<Module> bodies, int[] channels) {
    if (bodies == null || bodies.isEmpty()) {
      throw new IllegalArgumentException("bodies: expected at least one module but got none");
    }
    if (channels == null || channels.length != bodies.size()) {
      throw new IllegalArgumentException("channels: expected one count per body (" + bodies.size() + ") but got "
          + (channels == null ? "null" : channels.length + " counts"));
    }
    for (int c : channels) if (c <= 0) throw new IllegalArgumentException("channels: expected counts > 0 but got " + c);
    this.bodies = registerModule("bodies", new Sequential(bodies.toArray(Module[]::new)));
    this.attentions = registerModule("attentions", new Sequential());
  }

  /**
   * A chain of connected SE blocks.
   *
   * @param bodies the stages' modules, applied in order
   * @param channels the output channel count of each body (one per body)
   * @param options the SE options of every stage
   */
  public static DcaChain se(List<Module> bodies, int[] channels, SqueezeExcite.Options options, Device device) {
    if (options != null && options.mlp() != SqueezeExcite.Options.DEFAULT.mlp()) {
      throw new IllegalArgumentException("options: expected mlp " + SqueezeExcite.Options.DEFAULT.mlp()
          + " (DcaChain builds DCANet's conv fc1/fc2 layout) but got " + options.mlp());
    }
    DcaChain chain = new DcaChain(bodies, channels);
    for (int i = 0; i < channels.length; i++) {
      chain.attentions.add(new SeAttention(i == 0 ? 0 : channels[i - 1], channels[i], options, device));
    }
    return chain;
  }

  /** A chain of connected CBAM blocks; arguments as {@link #se}. */
  public static DcaChain cbam(List<Module> bodies, int[] channels, Cbam.Options options, Device device) {
    Cbam.Options timm = Cbam.Options.DEFAULT;
    if (options != null && (options.mlp() != timm.mlp() || options.spatialBias() != timm.spatialBias()
        || options.spatialNorm() != timm.spatialNorm() || options.spatialOrder() != timm.spatialOrder()
        || options.spatialBnMomentum() != timm.spatialBnMomentum())) {
      throw new IllegalArgumentException("options: expected timm's CBAM layout (DcaChain builds DCANet's conv fc1/fc2"
          + " and spatial conv + BatchNorm on [mean, max]; only the reduction, activation and gate options apply) but got "
          + options);
    }
    DcaChain chain = new DcaChain(bodies, channels);
    for (int i = 0; i < channels.length; i++) {
      chain.attentions.add(new CbamAttention(i == 0 ? 0 : channels[i - 1], channels[i], options, device));
    }
    return chain;
  }

  public int size() { return bodies.size(); }

  public Connected attention(int i) { return (Connected) attentions.get(i); }

  @Override public Tensor forward(Tensor x) { return forwardWithAttention(x).output(); }

  /** The chain's output and what its last stage passes on. */
  public Attended forwardWithAttention(Tensor x) {
    Attended state = null;
    Tensor h = x;
    for (int i = 0; i < size(); i++) {
      state = attention(i).forward(bodies.get(i).forward(h), state);
      h = state.output();
    }
    return state;
  }

  /**
   * A stage's output [N, C, H, W] and what it passes on: SE, {@code channel} = s * gate(a) [N, C]
   * and no {@code spatial}; CBAM, {@code channel} = the channel-attended map and {@code spatial} =
   * the output map, both [N, C, H, W].
   */
  public record Attended(Tensor output, Tensor channel, Tensor spatial) {}

  /** An attention block that takes the previous stage's {@link Attended} (null for the first stage). */
  public sealed interface Connected permits SeAttention, CbamAttention {
    Attended forward(Tensor x, Attended prev);
  }

  private static void checkPrev(Attended prev, boolean connected) {
    if (connected && prev == null) {
      throw new IllegalArgumentException("prev: expected the previous stage's attention but got null");
    }
    if (!connected && prev != null) throw new IllegalArgumentException("prev: expected null (this stage has no connection)");
  }

  private static void checkMap(Tensor t, String name, Tensor x, int channels) {
    if (t == null || t.rank() != 4 || t.dim(0) != x.dim(0) || t.dim(1) != channels) {
      throw new IllegalArgumentException(name + ": expected [" + x.dim(0) + ", " + channels + ", H, W] but got "
          + (t == null ? "null" : t.shape().toString()));
    }
  }

  /** Stacks two [N, C, 1, 1] vectors as [N, 2, 1, C], mixes them with {@code mix} and returns [N, C, 1, 1]. */
  private static Tensor mixVectors(Sequential mix, Tensor own, Tensor other) {
    int n = own.dim(0);
    int c = own.dim(1);
    return mix.forward(Layout.concat(1, own.reshape(n, 1, 1, c), other.reshape(n, 1, 1, c))).reshape(n, c, 1, 1);
  }

  /** One stage's SE attention with its connection to the previous stage (the reference's CSELayer). */
  public static final class SeAttention extends Module implements Connected {
    private final int prevChannels;
    private final int channels;
    private final SqueezeExcite se;
    private final Sequential conv;
    private final Sequential attFc;

    /** @param prevChannels the previous stage's channels, or 0 for the first stage (no connection) */
    public SeAttention(int prevChannels, int channels, SqueezeExcite.Options options, Device device) {
      if (prevChannels < 0) throw new IllegalArgumentException("prevChannels: expected >= 0 but got " + prevChannels);
      this.prevChannels = prevChannels;
      this.channels = channels;
      this.se = registerModule("se", new SqueezeExcite(channels, options, device));
      this.conv = prevChannels == 0 ? null
          : registerModule("conv", new Sequential(new Conv2d(2, 1, 1, 1, 1, true, device), new LayerNorm(channels, device),
              new ReLU()));
      this.attFc = prevChannels == 0 || prevChannels == channels ? null
          : registerModule("att_fc", new Sequential(new Linear(prevChannels, channels, true, device),
              new LayerNorm(channels, device), new ReLU()));
    }

    /** Without a previous attention (a chain's first stage). */
    @Override public Tensor forward(Tensor x) { return forward(x, null).output(); }

    /** x [N, C, H, W] and prev (channel [N, prevChannels]) -> x * gate(a), passing on s * gate(a) [N, C]. */
    @Override public Attended forward(Tensor x, Attended prev) {
      Tensor s = se.squeeze(x);
      checkPrev(prev, conv != null);
      Tensor mixed = s;
      if (conv != null) {
        Tensor p = prev.channel();
        if (p == null || p.rank() != 2 || p.dim(0) != x.dim(0) || p.dim(1) != prevChannels) {
          throw new IllegalArgumentException("prev: expected a channel attention of shape [" + x.dim(0) + ", " + prevChannels
              + "] but got " + (p == null ? "null" : p.shape().toString()));
        }
        mixed = mixVectors(conv, s, attFc == null ? p : attFc.forward(p));
      }
      Tensor a = se.excite(mixed);
      Gate gate = se.options().gate();
      // s * gate(a): the same fused gate over the [N, C, 1, 1] descriptor.
      Tensor passed = AttentionGates.channelGate(s, a, gate).reshape(x.dim(0), channels);
      return new Attended(AttentionGates.channelGate(x, a, gate), passed, null);
    }
  }

  /** One stage's CBAM with its connections to the previous stage (the reference's ChannelGate and SpatialGate). */
  public static final class CbamAttention extends Module implements Connected {
    private final ChannelAttn channel;
    private final SpatialAttn spatial;
    private final boolean connected;

    /** @param prevChannels the previous stage's channels, or 0 for the first stage (no connection) */
    public CbamAttention(int prevChannels, int channels, Cbam.Options options, Device device) {
      if (prevChannels < 0) throw new IllegalArgumentException("prevChannels: expected >= 0 but got " + prevChannels);
      if (options == null) throw new IllegalArgumentException("options: expected CBAM options but got null");
      this.connected = prevChannels > 0;
      this.channel = registerModule("channel", new ChannelAttn(prevChannels, channels, options, device));
      this.spatial = registerModule("spatial", new SpatialAttn(prevChannels, options, device));
    }

    @Override public Tensor forward(Tensor x) { return forward(x, null).output(); }

    /** x [N, C, H, W] and prev (channel and spatial maps of the previous stage) -> output, passing on both maps. */
    @Override public Attended forward(Tensor x, Attended prev) {
      checkPrev(prev, connected);
      Tensor c = channel.forward(x, prev == null ? null : prev.channel());
      Tensor y = spatial.forward(c, prev == null ? null : prev.spatial());
      return new Attended(y, c, y);
    }
  }

  /** timm's ChannelAttn (fc1, act, fc2) with the reference's alpha mixing and att_fc projection. */
  static final class ChannelAttn extends Module {
    private final int prevChannels;
    private final int channels;
    private final Activation act;
    private final Gate gate;
    private final Conv2d fc1;
    private final Conv2d fc2;
    private final Sequential alpha;
    private final Sequential attFc;

    ChannelAttn(int prevChannels, int channels, Cbam.Options options, Device device) {
      this.prevChannels = prevChannels;
      this.channels = channels;
      this.act = options.act();
      this.gate = options.gate();
      int rd = options.reducedChannels(channels);
      this.fc1 = registerModule("fc1", new Conv2d(channels, rd, 1, 1, 1, options.mlpBias(), device));
      this.fc2 = registerModule("fc2", new Conv2d(rd, channels, 1, 1, 1, options.mlpBias(), device));
      this.alpha = prevChannels == 0 ? null
          : registerModule("alpha", new Sequential(new Conv2d(2, 1, 1, 1, 1, false, device), new LayerNorm(channels, device),
              new ReLU()));
      this.attFc = prevChannels == 0 || prevChannels == channels ? null
          : registerModule("att_fc", new Sequential(new Conv2d(prevChannels, channels, 1, 1, 1, true, device),
              new BatchNorm2d(channels, 0.1f, 1e-5f, device), new ReLU()));
    }

    @Override public Tensor forward(Tensor x) { return forward(x, null); }

    Tensor forward(Tensor x, Tensor prev) {
      SqueezeExcite.checkChannels(x, channels);
      Tensor[] own = Layout.chunk(AttentionGates.globalMeanMax(x), 2, 0);
      Tensor avg = own[0];
      Tensor max = own[1];
      if (alpha != null) {
        checkMap(prev, "prev.channel", x, prevChannels);
        Tensor[] previous = Layout.chunk(AttentionGates.globalMeanMax(attFc == null ? prev : attFc.forward(prev)), 2, 0);
        avg = mixVectors(alpha, avg, previous[0]);
        max = mixVectors(alpha, max, previous[1]);
      }
      Tensor logits = Elementwise.add(mlp(avg), mlp(max));
      return AttentionGates.channelGate(x, logits, gate);
    }

    private Tensor mlp(Tensor pooled) { return fc2.forward(act.apply(fc1.forward(pooled))); }
  }

  /** timm's SpatialAttn (conv = conv + bn) with the reference's p1/p2 mixing and bnrelu. */
  static final class SpatialAttn extends Module {
    private final int prevChannels;
    private final Gate gate;
    private final Parameter p1;
    private final Parameter p2;
    private final Sequential bnrelu;
    private final Cbam.ConvNorm conv;

    SpatialAttn(int prevChannels, Cbam.Options options, Device device) {
      this.prevChannels = prevChannels;
      this.gate = options.gate();
      this.p1 = prevChannels == 0 ? null : registerParameter("p1", Tensor.ones(device, 1));
      this.p2 = prevChannels == 0 ? null : registerParameter("p2", Tensor.zeros(device, 1));
      this.bnrelu = prevChannels == 0 ? null
          : registerModule("bnrelu", new Sequential(new BatchNorm2d(2, 0.1f, 1e-5f, device), new ReLU()));
      this.conv = registerModule("conv", new Cbam.ConvNorm(options.spatialKernelSize(), device));
    }

    @Override public Tensor forward(Tensor x) { return forward(x, null); }

    Tensor forward(Tensor x, Tensor prev) {
      Tensor compressed = AttentionGates.channelMeanMax(x);
      if (bnrelu != null) {
        checkMap(prev, "prev.spatial", x, prevChannels);
        Tensor q = prev;
        int extent = prev.dim(2) / x.dim(2);
        // The reference's F.avg_pool2d(prev, extent, extent) with extent = H_prev // H.
        if (prev.dim(2) != x.dim(2) && extent >= 1) q = Pooling.avgPool2d(prev, extent, extent);
        if (q.dim(2) != x.dim(2) || q.dim(3) != x.dim(3)) {
          throw new IllegalArgumentException("prev.spatial: expected a map that pools to " + x.dim(2) + "x" + x.dim(3)
              + " but got shape " + prev.shape());
        }
        Tensor own = Elementwise.mul(compressed, p1.tensor());
        Tensor previous = Elementwise.mul(AttentionGates.channelMeanMax(q), p2.tensor());
        compressed = bnrelu.forward(Elementwise.add(own, previous));
      }
      return AttentionGates.spatialGate(x, conv.forward(compressed), gate);
    }
  }

  /** torch.nn.LayerNorm(features): {@code weight} (ones), {@code bias} (zeros) over the last dim, eps 1e-5. */
  public static final class LayerNorm extends Module {
    private final Parameter weight;
    private final Parameter bias;

    public LayerNorm(int features, Device device) {
      if (features <= 0) throw new IllegalArgumentException("features: expected > 0 but got " + features);
      this.weight = registerParameter("weight", Tensor.ones(device, features));
      this.bias = registerParameter("bias", Tensor.zeros(device, features));
    }

    @Override public Tensor forward(Tensor x) { return AttentionGates.layerNorm(x, weight.tensor(), bias.tensor(), 1e-5f); }
  }
}
