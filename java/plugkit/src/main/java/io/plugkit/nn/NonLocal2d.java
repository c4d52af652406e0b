package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Attention;
import io.plugkit.ops.Checks;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Layout;
import io.plugkit.ops.Linear;
import io.plugkit.ops.Pooling;

/**
 * Non-local block (Wang et al. 2018, "Non-local Neural Networks") laid out as the well-known
 * PyTorch implementation's {@code NONLocalBlock2D} (AlexHex7/Non-local_pytorch), so its state
 * dicts load 1:1. For x {@code [B, C, H, W]} with N = H*W positions:
 * {@code z = W(y) + x}, {@code y_i = sum_j f(x_i, x_j) g(x_j)}, where g, theta and phi are 1x1
 * convs to {@code inter} channels (default C/2, at least 1) and the pairwise function f is
 * <ul>
 *   <li>{@link Mode#EMBEDDED_GAUSSIAN}: {@code softmax_j(theta_i . phi_j)};
 *   <li>{@link Mode#GAUSSIAN}: {@code softmax_j(x_i . x_j)} (no theta/phi convs);
 *   <li>{@link Mode#DOT_PRODUCT}: {@code theta_i . phi_j / M};
 *   <li>{@link Mode#CONCATENATION}: {@code ReLU(w . [theta_i, phi_j]) / M}, w the 1x1 conv
 *       {@code concat_project} of 2*inter channels to 1;
 * </ul>
 * with M the number of positions j. Sub-sampling max-pools (kernel 2) phi and g, so
 * M = floor(H/2) * floor(W/2) (it needs H, W >= 2). W is Sequential(conv1x1 inter -> C,
 * BatchNorm2d(C)) with the BN's gamma and beta zero, or without BN a conv whose weight and bias
 * are zero: either way the new block starts as the identity. Output shape = input shape.
 *
 * <p>State dict names: {@code g.weight} (with sub-sampling {@code g.0.weight}), {@code theta.*},
 * {@code phi.*} (or {@code phi.0.*}), {@code W.weight} (with BN {@code W.0.weight},
 * {@code W.1.weight}, {@code W.1.running_mean}, ...), {@code concat_project.0.weight}.
 *
 * <p>The softmax modes compute y with the fused {@link Attention#attention} (scale 1, as in the
 * paper: no 1/sqrt(d)) by default, in O(N*inter) memory; {@link #fused(boolean)} false selects
 * the plain matmul-softmax-matmul path, which stores the N x M affinities.
 */
public final class NonLocal2d extends Module {
  /** The pairwise function f. */
  public enum Mode { EMBEDDED_GAUSSIAN, GAUSSIAN, DOT_PRODUCT, CONCATENATION }

  private final int inChannels;
  private final int interChannels;
  private final Mode mode;
  private final boolean subSample;
  private final Module g;
  private final Module w;
  private final Module theta;
  private final Module phi;
  private final Conv2d concatProject;
  private boolean fused;

  /** {@code NONLocalBlock2D(inChannels)}'s defaults: inter = max(1, C/2), sub-sampling and BN on. */
  public NonLocal2d(int inChannels, Mode mode, Device device) {
    this(inChannels, Math.max(1, inChannels / 2), mode, true, true, device);
  }

  public NonLocal2d(int inChannels, int interChannels, Mode mode, boolean subSample, boolean bnLayer, Device device) {
    Checks.positive(inChannels, "inChannels");
    Checks.positive(interChannels, "interChannels");
    if (mode == null) throw new IllegalArgumentException("mode: expected EMBEDDED_GAUSSIAN, GAUSSIAN, DOT_PRODUCT or CONCATENATION but got null");
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    Init.checkSize("inChannels, interChannels", "1x1 conv weights [interChannels, inChannels]", interChannels, inChannels);
    if (mode == Mode.CONCATENATION) Init.checkSize("interChannels", "concat_project weight [1, 2 * interChannels]", 2L * interChannels);
    this.inChannels = inChannels;
    this.interChannels = interChannels;
    this.mode = mode;
    this.subSample = subSample;
    this.fused = hasSoftmax(mode);
    // Registration order = the reference's attribute order, so stateDict() lists keys as PyTorch does.
    this.g = registerModule("g", subSampled(conv1x1(inChannels, interChannels, true, device)));
    this.w = registerModule("W", bnLayer ? zeroGammaBlock(interChannels, inChannels, device) : zeroConv(interChannels, inChannels, device));
    boolean embedded = mode != Mode.GAUSSIAN;
    this.theta = embedded ? registerModule("theta", conv1x1(inChannels, interChannels, true, device)) : null;
    this.phi = embedded ? registerModule("phi", subSampled(conv1x1(inChannels, interChannels, true, device))) : null;
    Conv2d project = mode == Mode.CONCATENATION ? conv1x1(2 * interChannels, 1, false, device) : null;
    if (project != null) registerModule("concat_project", new Sequential(project, new ReLU()));
    this.concatProject = project;
  }

  private static Conv2d conv1x1(int in, int out, boolean bias, Device device) { return new Conv2d(in, out, 1, 1, 1, bias, device); }

  private Module subSampled(Conv2d conv) { return subSample ? new Sequential(conv, new MaxPool2d(2)) : conv; }

  private static Sequential zeroGammaBlock(int in, int out, Device device) {
    BatchNorm2d bn = new BatchNorm2d(out, 0.1f, 1e-5f, device);
    bn.namedParameters().values().forEach(t -> t.fill(0f));
    return new Sequential(conv1x1(in, out, true, device), bn);
  }

  private static Conv2d zeroConv(int in, int out, Device device) {
    Conv2d conv = conv1x1(in, out, true, device);
    conv.weight().tensor().fill(0f);
    conv.bias().tensor().fill(0f);
    return conv;
  }

  private static boolean hasSoftmax(Mode m) { return m == Mode.EMBEDDED_GAUSSIAN || m == Mode.GAUSSIAN; }

  /**
   * Fused attention (true, the default for the softmax modes) or the plain matmul-softmax-matmul
   * path. DOT_PRODUCT and CONCATENATION have no softmax and always run plain.
   */
  public NonLocal2d fused(boolean on) {
    if (on && !hasSoftmax(mode)) {
      throw new IllegalArgumentException("fused: the " + mode + " pairwise function has no softmax, so only the plain path computes it");
    }
    fused = on;
    return this;
  }

  public boolean isFused() { return fused; }

  public Mode mode() { return mode; }

  public int interChannels() { return interChannels; }

  /** x [B, C, H, W] -> z [B, C, H, W]. */
  @Override public Tensor forward(Tensor x) {
    Checks.rank(x, "x", 4);
    if (x.dim(1) != inChannels) {
      throw new IllegalArgumentException("x: expected " + inChannels + " channels (dim 1) but got shape " + x.shape());
    }
    if (subSample && (x.dim(2) < 2 || x.dim(3) < 2)) {
      throw new IllegalArgumentException("x: sub-sampling (max-pool 2) needs H >= 2 and W >= 2 but got shape " + x.shape());
    }
    Tensor value = positionsFirst(g.forward(x));
    Tensor y = switch (mode) {
      case EMBEDDED_GAUSSIAN -> softmaxAttention(positionsFirst(theta.forward(x)), positionsFirst(phi.forward(x)), value);
      case GAUSSIAN -> softmaxAttention(positionsFirst(x), positionsFirst(subSample ? Pooling.maxPool2d(x, 2) : x), value);
      case DOT_PRODUCT -> {
        Tensor keys = channelsFirst(phi.forward(x));
        Tensor f = Linear.matmul(positionsFirst(theta.forward(x)), keys);
        yield Linear.matmul(Elementwise.divScalar(f, keys.dim(2)), value);
      }
      case CONCATENATION -> concatenation(theta.forward(x), phi.forward(x), value);
    };
    Tensor yMap = Layout.transpose(y, 1, 2).reshape(x.dim(0), interChannels, x.dim(2), x.dim(3));
    return Elementwise.add(w.forward(yMap), x);
  }

  private Tensor softmaxAttention(Tensor queries, Tensor keys, Tensor values) {
    return fused ? Attention.attention(queries, keys, values, 1f) : Attention.attentionPlain(queries, keys, values, 1f);
  }

  /**
   * concat_project is linear before its ReLU, so w . [theta_i, phi_j] = w_theta . theta_i + w_phi . phi_j:
   * two 1x1 convs to one channel and a broadcast add build the [B, N, M] map without the
   * [B, 2*inter, N, M] concatenation.
   */
  private Tensor concatenation(Tensor thetaMap, Tensor phiMap, Tensor values) {
    Tensor weight = concatProject.weight().tensor();
    Tensor fromTheta = Conv.conv2d(thetaMap, Layout.slice(weight, 1, 0, interChannels), null);
    Tensor fromPhi = Conv.conv2d(phiMap, Layout.slice(weight, 1, interChannels, 2 * interChannels), null);
    int batch = thetaMap.dim(0);
    int m = phiMap.dim(2) * phiMap.dim(3);
    Tensor f = Activations.relu(Elementwise.add(fromTheta.reshape(batch, thetaMap.dim(2) * thetaMap.dim(3), 1), fromPhi.reshape(batch, 1, m)));
    return Linear.matmul(Elementwise.divScalar(f, m), values);
  }

  /** [B, C, H, W] -> [B, C, H*W] (a view). */
  private static Tensor channelsFirst(Tensor map) { return map.reshape(map.dim(0), map.dim(1), map.dim(2) * map.dim(3)); }

  /** [B, C, H, W] -> [B, H*W, C]. */
  private static Tensor positionsFirst(Tensor map) { return Layout.transpose(channelsFirst(map), 1, 2); }
}
