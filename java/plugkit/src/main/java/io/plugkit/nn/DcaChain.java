package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.Layout;
import java.util.List;

/**
 * Deep Connected Attention (Ma et al. 2020, DCANet) over a chain of SE blocks: stage i runs its
 * body (any module), then an SE attention that also sees the attention of stage i - 1. Follows the
 * authors' code, github.com/ma-xu/DCANet, models/resnet/resnet_se_dca.py ({@code CSELayer}), with
 * timm's SE in place of its Linear-based MLP:
 *
 * <pre>
 *   s     = squeeze(x)                                   [N, C] (SE's mean, or mean/max mix)
 *   p     = prev, or relu(LN(Linear(prev))) when prev has another channel count ("att_fc")
 *   mixed = relu(LN(conv1x1([s; p])))  (stage 0: mixed = s) the learned weighted sum w0 s + w1 p + b
 *   a     = excite(mixed) (fc2(act(bn(fc1(.)))))         the logits
 *   y     = x * gate(a);  passed on: s * gate(a)         [N, C]
 * </pre>
 * where LN is LayerNorm over C and conv1x1 is the reference's Conv2d(2, 1, 1) over the stacked
 * [N, 2, 1, C] descriptors. Differences from the reference: stage 0 has no {@code conv} (the
 * reference builds one it never uses), and the chain's stages are explicit bodies rather than
 * ResNet blocks (put the residual sum inside a body to rebuild a ResNet stage).
 *
 * <p>State dict: {@code bodies.i.*} and {@code attentions.i.se.fc1.weight} (timm's SE names),
 * {@code attentions.i.conv.0.weight|bias} (the mixing conv), {@code attentions.i.conv.1.weight|bias}
 * (LayerNorm), {@code attentions.i.att_fc.0.weight|bias} (Linear) and {@code attentions.i.att_fc.1.*}.
 * Shapes: x [N, C0, H, W]; each body's output has the channel count of its stage.
 */
public final class DcaChain extends Module {
  private final Sequential bodies;
  private final Sequential attentions;

  /**
   * @param bodies the stages' modules, applied in order
   * @param channels the output channel count of each body (one per body)
   * @param options the SE options of every stage
   */
  public DcaChain(List<Module> bodies, int[] channels, SqueezeExcite.Options options, Device device) {
    if (bodies == null || bodies.isEmpty()) throw new IllegalArgumentException("bodies: expected at least one module but got none");
    if (channels == null || channels.length != bodies.size()) {
      throw new IllegalArgumentException("channels: expected one count per body (" + bodies.size() + ") but got "
          + (channels == null ? "null" : channels.length + " counts"));
    }
    this.bodies = registerModule("bodies", new Sequential(bodies.toArray(Module[]::new)));
    this.attentions = registerModule("attentions", new Sequential());
    for (int i = 0; i < channels.length; i++) {
      attentions.add(new SeAttention(i == 0 ? 0 : channels[i - 1], channels[i], options, device));
    }
  }

  public int size() { return bodies.size(); }

  public SeAttention attention(int i) { return (SeAttention) attentions.get(i); }

  @Override public Tensor forward(Tensor x) { return forwardWithAttention(x).output(); }

  /** The chain's output and the last stage's attention vector [N, C_last]. */
  public Attended forwardWithAttention(Tensor x) {
    Attended state = new Attended(x, null);
    for (int i = 0; i < size(); i++) state = attention(i).forward(bodies.get(i).forward(state.output()), state.attention());
    return state;
  }

  /** A stage's output [N, C, H, W] and the attention vector it passes on [N, C]. */
  public record Attended(Tensor output, Tensor attention) {}

  /** One stage's SE attention with its connection to the previous stage (the reference's CSELayer). */
  public static final class SeAttention extends Module {
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
          : registerModule("conv", new Sequential(new Conv2d(2, 1, 1, 1, 1, true, device), new LayerNorm(channels, device), new ReLU()));
      this.attFc = prevChannels == 0 || prevChannels == channels ? null
          : registerModule("att_fc", new Sequential(new Linear(prevChannels, channels, true, device), new LayerNorm(channels, device), new ReLU()));
    }

    /** Without a previous attention (a chain's first stage). */
    @Override public Tensor forward(Tensor x) { return forward(x, null).output(); }

    /**
     * x [N, C, H, W] and the previous stage's attention prev [N, prevChannels] (null only for the
     * first stage) -> x * gate(a) and the attention passed on, s * gate(a) [N, C].
     */
    public Attended forward(Tensor x, Tensor prev) {
      Tensor s = se.squeeze(x);
      int n = x.dim(0);
      Tensor mixed = s;
      if (conv != null) {
        if (prev == null) throw new IllegalArgumentException("prev: expected the previous stage's attention [N, " + prevChannels + "] but got null");
        if (prev.rank() != 2 || prev.dim(0) != n || prev.dim(1) != prevChannels) {
          throw new IllegalArgumentException("prev: expected shape [" + n + ", " + prevChannels + "] but got " + prev.shape());
        }
        Tensor p = attFc == null ? prev : attFc.forward(prev);
        Tensor stacked = Layout.concat(1, s.reshape(n, 1, 1, channels), p.reshape(n, 1, 1, channels));
        mixed = conv.forward(stacked).reshape(n, channels, 1, 1);
      } else if (prev != null) {
        throw new IllegalArgumentException("prev: expected null (this stage has no connection) but got shape " + prev.shape());
      }
      Tensor a = se.excite(mixed);
      Tensor y = AttentionGates.channelGate(x, a, se.options().gate());
      // s * gate(a): the same fused gate over the [N, C, 1, 1] descriptor.
      Tensor passed = AttentionGates.channelGate(s, a, se.options().gate()).reshape(n, channels);
      return new Attended(y, passed);
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
