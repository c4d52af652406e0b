package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import io.plugkit.ops.AtrousTaps.Geometry;
import io.plugkit.ops.AtrousTaps.Tap;
import java.util.ArrayList;
import java.util.List;

/**
 * Atrous (dilated) convolution, op id {@code atrous_conv2d} (DeepLab; Chen et al. 2017), with a
 * kernel that skips the taps (and the parts of taps) that read only padding: one GEMM per tap over
 * the output rectangle whose input is inside the image (cuda-kernels/atrous_conv.cu gathers and
 * scatters the rectangles); depthwise and narrow groups run a direct kernel. Same numbers as
 * {@link Conv#conv2d} within float rounding. {@link #multiRate} evaluates several rates over one
 * input in one pass (ASPP), writing each branch into its channel slice of one output.
 *
 * <p>Which runs, this kernel or the standard path (im2col + GEMM on the CPU, cuDNN on CUDA), is
 * measured once per device and geometry and cached ({@link AtrousChoice}); {@link Conv#conv2d} with
 * dilation > 1 takes the same choice. {@link #forcePath} or {@code -Dplugkit.atrous.path=atrous|standard|auto}
 * forces one.
 */
public final class AtrousConv {
  static final Kernel DIRECT_FORWARD = Kernel.of("atrous_direct_forward", PTR, PTR, PTR, I32, I32, I32, I32, I32, I32,
      I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel DIRECT_BACKWARD_DATA = Kernel.of("atrous_direct_backward_data", PTR, PTR, PTR, I32, I32, I32, I32,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel DIRECT_BACKWARD_WEIGHT = Kernel.of("atrous_direct_backward_weight", PTR, PTR, PTR, I32, I32, I32,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  /** Below this many input or output channels per group a tap's GEMM is too thin: direct kernel. */
  private static final int MIN_GEMM_CHANNELS = 8;

  private AtrousConv() {}

  /** Which implementation runs: measured per geometry ({@link #AUTO}) or forced. */
  public enum Path { AUTO, ATROUS, STANDARD }

  /**
   * Forces every atrous and dilated convolution onto one path ({@link Path#AUTO}: measure per
   * geometry, the default, or what {@code -Dplugkit.atrous.path} says); returns the previous setting.
   * Process-wide.
   */
  public static Path forcePath(Path path) { return AtrousChoice.force(path); }

  /** The current setting of {@link #forcePath}. */
  public static Path forcedPath() { return AtrousChoice.forced(); }

  /**
   * DeepLab's atrous conv: stride 1, groups 1, padding {@code rate*(k-1)/2} per dim (the output keeps
   * the input size for odd kernels). See {@link #conv2d(Tensor, Tensor, Tensor, int, int, int, int)}.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int rate) {
    Checks.positive(rate, "rate");
    Checks.rank(Checks.tensor(weight, "weight"), "weight", 4);
    return checked(x, weight, bias, rate, Conv.Options.DEFAULT.dilation(rate)
        .padding(rate * ((weight.dim(2) - 1) / 2), rate * ((weight.dim(3) - 1) / 2)));
  }

  /**
   * Atrous conv: x {@code [N, Cin, H, W]}, weight {@code [Cout, Cin/groups, kh, kw]}, bias
   * {@code [Cout]} or null; dilation {@code rate} >= 1, {@code stride}, {@code padding} (both dims),
   * {@code groups} (groups = Cin = Cout: depthwise). Output size as in {@link Conv#conv2d}, at least
   * 1x1 (else an IllegalArgumentException naming rate). Records the backward of x, weight and bias.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int rate, int stride, int padding, int groups) {
    Checks.positive(rate, "rate");
    Checks.positive(stride, "stride");
    Checks.nonNegative(padding, "padding");
    Checks.positive(groups, "groups");
    return checked(x, weight, bias, rate, Conv.Options.DEFAULT.dilation(rate).stride(stride).padding(padding).groups(groups));
  }

  private static Tensor checked(Tensor x, Tensor weight, Tensor bias, int rate, Conv.Options o) {
    Checks.rank(Checks.tensor(x, "x"), "x", 4);
    Checks.rank(Checks.tensor(weight, "weight"), "weight", 4);
    for (int axis = 2; axis < 4; axis++) {
      long span = (long) rate * (weight.dim(axis) - 1) + 1;
      int pad = axis == 2 ? o.padH() : o.padW();
      if ((long) x.dim(axis) + 2L * pad < span) {
        throw new IllegalArgumentException("rate: " + rate + " spreads the kernel " + (axis == 2 ? "height " : "width ")
            + weight.dim(axis) + " over " + span + " samples, more than the input's " + x.dim(axis) + " plus padding "
            + pad + " on each side: the output would be empty");
      }
    }
    return conv2d(x, weight, bias, Conv.geometry(x, weight, bias, o));
  }

  /** Any {@link Conv.Options} (asymmetric stride, padding and dilation) through the measured choice. */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Conv.Options options) {
    return conv2d(x, weight, bias, Conv.geometry(x, weight, bias, options));
  }

  /**
   * g checked by {@link Conv#geometry}. The forward and the backward each run the path measured
   * faster for them: at stride 2 the tap kernels win the forward but lose the backward.
   */
  static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Conv2dGeometry g) {
    if (x.numel() == 0) return Conv.standard(x, weight, bias, g);
    boolean atrous = AtrousChoice.atrous(x.driver(), g, () -> forward(g, x, weight).close(),
        () -> Conv.standardForward(g, x, weight, null).close());
    Tensor y = atrous ? forward(g, x, weight, bias) : Conv.standardForward(g, x, weight, bias);
    return Autograd.record(atrous ? "atrous_conv2d" : "conv2d", y, gy -> backward(g, x, weight, bias, gy), x, weight,
        bias);
  }

  /** The backward's choice is its own: per geometry and the gradients asked for. */
  record BackwardKey(Conv2dGeometry g, boolean dx, boolean dw) {}

  private static Tensor[] backward(Conv2dGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor gy) {
    boolean dx = x.requiresGrad();
    boolean dw = weight.requiresGrad();
    if ((dx || dw) && AtrousChoice.atrous(gy.driver(), new BackwardKey(g, dx, dw),
        () -> closeAll(atrousBackward(g, x, weight, null, gy)), () -> closeAll(Conv.standardBackward(g, x, weight, null, gy)))) {
      return atrousBackward(g, x, weight, bias, gy);
    }
    return Conv.standardBackward(g, x, weight, bias, gy);
  }

  private static void closeAll(Tensor[] ts) {
    for (Tensor t : ts) {
      if (t != null) t.close();
    }
  }

  /** dx, dw and db (each null when not asked for); at stride 1 the taps kernel computes dx and dw in one call. */
  private static Tensor[] atrousBackward(Conv2dGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor gy) {
    Tensor db = bias != null && bias.requiresGrad() ? Conv.biasGrad(gy, g.n(), g.outChannels(), g.outH() * g.outW()) : null;
    if ((x.requiresGrad() || weight.requiresGrad()) && !direct(g) && AtrousTaps.direct(gy.driver(), taps(g), true)) {
      Tensor dx = x.requiresGrad() ? Tensor.zeros(gy.device(), g.n(), g.inChannels(), g.inH(), g.inW()) : null;
      Tensor dw = weight.requiresGrad() ? Tensor.empty(gy.device(), weight.dims()) : null;
      AtrousTaps.directBackward(taps(g), inPlace(g, weight), dw == null ? null : inPlace(g, dw), x.address(), gy.address(),
          dx == null ? 0 : dx.address());
      return new Tensor[] {dx, dw, db};
    }
    return new Tensor[] {x.requiresGrad() ? inputGrad(g, gy, weight) : null,
        weight.requiresGrad() ? weightGrad(g, x, gy) : null, db};
  }

  // ---- the atrous kernel of one convolution ----------------------------------------------------

  private static boolean direct(Conv2dGeometry g) {
    return g.inChannelsPerGroup() < MIN_GEMM_CHANNELS || g.outChannelsPerGroup() < MIN_GEMM_CHANNELS;
  }

  private static Object[] directArgs(Conv2dGeometry g, long a, long b, long c) {
    return new Object[] {a, b, c, g.inChannels(), g.inH(), g.inW(), g.outChannels(), g.outH(), g.outW(), g.kernelH(),
        g.kernelW(), g.strideH(), g.strideW(), g.padH(), g.padW(), g.dilationH(), g.dilationW(), g.groups()};
  }

  private static Geometry taps(Conv2dGeometry g) {
    return new Geometry(g.n(), g.inChannels(), g.inH(), g.inW(), g.outChannels(), g.outH(), g.outW(), g.strideH(),
        g.strideW(), g.groups());
  }

  /** One tap per kernel position, weights packed at packed + tap * Cout*Cin/groups. */
  private static List<Tap> tapList(Conv2dGeometry g, long packed) {
    return tapList(g, packed, (long) g.outChannels() * g.inChannelsPerGroup());
  }

  /** One tap per kernel position, tap t's weights at base + t * tapFloats floats. */
  private static List<Tap> tapList(Conv2dGeometry g, long base, long tapFloats) {
    List<Tap> list = new ArrayList<>();
    for (int ky = 0; ky < g.kernelH(); ky++) {
      for (int kx = 0; kx < g.kernelW(); kx++) {
        int t = ky * g.kernelW() + kx;
        list.add(new Tap(base + 4L * t * tapFloats, g.outChannels(), 0, ky * g.dilationH() - g.padH(),
            kx * g.dilationW() - g.padW()));
      }
    }
    return list;
  }

  /** The direct path's taps reading w [Cout, Cin, kh, kw] (a weight or its gradient) in place. */
  private static List<AtrousTaps.Strided> inPlace(Conv2dGeometry g, Tensor w) {
    int k = g.kernelH() * g.kernelW();
    return AtrousTaps.strided(tapList(g, w.address(), 1), g.inChannels() * k, k);
  }

  /** weight [Cout, Cin/g, kh, kw] as [kh*kw, Cout, Cin/g]. */
  static Tensor pack(Tensor weight) {
    int taps = weight.dim(2) * weight.dim(3);
    int per = weight.dim(0) * weight.dim(1);
    Tensor p = Tensor.empty(weight.device(), taps, per);
    weight.driver().launch(AtrousTaps.PACK_ALL, (long) taps * per, weight.address(), p.address(), taps);
    return p;
  }

  /** y without bias; x not empty. */
  static Tensor forward(Conv2dGeometry g, Tensor x, Tensor weight) { return forward(g, x, weight, null); }

  /** y with bias (or none); x not empty. */
  private static Tensor forward(Conv2dGeometry g, Tensor x, Tensor weight, Tensor bias) {
    Driver d = x.driver();
    Tensor y;
    if (direct(g)) {
      y = Tensor.empty(x.device(), g.n(), g.outChannels(), g.outH(), g.outW());
      d.launch(DIRECT_FORWARD, (long) g.n() * g.outChannels() * g.outH(), directArgs(g, x.address(), weight.address(),
          y.address()));
    } else if (AtrousTaps.direct(d, taps(g), false)) {  // weight read in place, bias added in the same pass
      y = Tensor.zeros(x.device(), g.n(), g.outChannels(), g.outH(), g.outW());
      AtrousTaps.direct(taps(g), inPlace(g, weight), x.address(), y.address(), bias == null ? 0 : bias.address());
      return y;
    } else {
      y = Tensor.zeros(x.device(), g.n(), g.outChannels(), g.outH(), g.outW());
      try (Tensor packed = pack(weight)) {
        AtrousTaps.forward(d, taps(g), tapList(g, packed.address()), x.address(), y.address());
      }
    }
    if (bias != null) Conv.addBias(y, bias, g.outChannels(), g.outH() * g.outW());
    return y;
  }

  private static Tensor inputGrad(Conv2dGeometry g, Tensor gy, Tensor weight) {
    Driver d = gy.driver();
    if (direct(g)) {
      Tensor dx = Tensor.empty(gy.device(), g.n(), g.inChannels(), g.inH(), g.inW());
      d.launch(DIRECT_BACKWARD_DATA, (long) g.n() * g.inChannels() * g.inH(), directArgs(g, gy.address(),
          weight.address(), dx.address()));
      return dx;
    }
    Tensor dx = Tensor.zeros(gy.device(), g.n(), g.inChannels(), g.inH(), g.inW());
    try (Tensor packed = pack(weight)) {
      AtrousTaps.backwardData(d, taps(g), tapList(g, packed.address()), gy.address(), dx.address());
    }
    return dx;
  }

  private static Tensor weightGrad(Conv2dGeometry g, Tensor x, Tensor gy) {
    Driver d = gy.driver();
    int taps = g.kernelH() * g.kernelW();
    Tensor dw = Tensor.empty(gy.device(), g.outChannels(), g.inChannelsPerGroup(), g.kernelH(), g.kernelW());
    if (direct(g)) {
      Object[] a = directArgs(g, x.address(), gy.address(), dw.address());
      Object[] args = java.util.Arrays.copyOf(a, a.length + 1);
      args[a.length] = g.n();
      d.launch(DIRECT_BACKWARD_WEIGHT, dw.numel(), args);
      return dw;
    }
    if (AtrousTaps.direct(d, taps(g), false)) {  // writes dw in place: no pack
      AtrousTaps.directWeight(taps(g), inPlace(g, dw), x.address(), gy.address());
      return dw;
    }
    int per = g.outChannels() * g.inChannelsPerGroup();
    try (Tensor packed = Tensor.zeros(gy.device(), taps, per)) {
      List<Tap> list = tapList(g, packed.address());
      long[] grads = new long[taps];
      for (int t = 0; t < taps; t++) grads[t] = list.get(t).w();
      AtrousTaps.backwardWeight(d, taps(g), list, grads, x.address(), gy.address());
      d.launch(AtrousTaps.UNPACK_ALL, (long) taps * per, packed.address(), dw.address(), taps);
    }
    return dw;
  }

  // ---- several rates over one input (ASPP) ---------------------------------------------------

  /**
   * ASPP's parallel branches in one pass: branch i is {@code conv2d(x, weights[i], biases[i],
   * rates[i])} (stride 1, groups 1, padding {@code rates[i]*(k-1)/2}, so every branch keeps the
   * input's H x W), and the result is their concatenation along channels,
   * {@code [N, sum of weights[i].dim(0), H, W]}, branch i at channels from the sum of the earlier
   * Cout. weights[i] is {@code [Cout_i, Cin, k_i, k_i]} with k_i odd (1x1 branches take any rate,
   * which they ignore); biases may be null, or hold nulls. The centre taps of all branches are one
   * GEMM with stacked weights; each other tap runs over its valid rectangle only. Records the
   * backward of x, every weight and every bias. The fused pass or separate convs + concat,
   * whichever measures faster per geometry (see {@link #forcePath}).
   */
  public static Tensor multiRate(Tensor x, Tensor[] weights, Tensor[] biases, int[] rates) {
    return AtrousMulti.of(x, weights, biases, rates).run();
  }
}
