package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Kernel;
import java.util.Arrays;

/**
 * 2-D convolution (cross-correlation, as in PyTorch) with groups, stride, padding and dilation.
 * A 1x1 conv is the driver's (GEMM on the CPU, cuDNN on CUDA); a larger kernel, or thin groups,
 * runs {@link AtrousConv}'s tap kernels or the driver's, whichever measures faster for the
 * geometry (forward and backward each). The bias kernels are in cuda-kernels/conv.cu.
 */
public final class Conv {
  /** y[n, c, s] += bias[c] over an output viewed as [batch, channels, spatial]. */
  static final Kernel BIAS_ADD = Kernel.of("conv2d_bias_add", PTR, PTR, I32, I32);
  /** dbias[c] = sum of dy over batch and spatial; one 256-thread block per channel on the GPU. */
  static final Kernel BIAS_GRAD = Kernel.withBlock("conv2d_bias_grad", 256, PTR, PTR, I32, I32, I32);

  private Conv() {}

  /**
   * Stride, padding, dilation and groups of a convolution. {@link #DEFAULT} is stride 1, padding 0,
   * dilation 1, groups 1; the withers return changed copies:
   * {@code Options.DEFAULT.stride(2).padding(1, 0).groups(2)}.
   */
  public record Options(int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {
    public static final Options DEFAULT = new Options(1, 1, 0, 0, 1, 1, 1);

    public Options {
      Checks.positive(strideH, "strideH");
      Checks.positive(strideW, "strideW");
      Checks.nonNegative(padH, "padH");
      Checks.nonNegative(padW, "padW");
      Checks.positive(dilationH, "dilationH");
      Checks.positive(dilationW, "dilationW");
      Checks.positive(groups, "groups");
    }

    public Options stride(int s) { return stride(s, s); }

    public Options stride(int h, int w) { return new Options(h, w, padH, padW, dilationH, dilationW, groups); }

    public Options padding(int p) { return padding(p, p); }

    public Options padding(int h, int w) { return new Options(strideH, strideW, h, w, dilationH, dilationW, groups); }

    public Options dilation(int d) { return dilation(d, d); }

    public Options dilation(int h, int w) { return new Options(strideH, strideW, padH, padW, h, w, groups); }

    public Options groups(int g) { return new Options(strideH, strideW, padH, padW, dilationH, dilationW, g); }
  }

  /** {@link #conv2d(Tensor, Tensor, Tensor, Options)} with stride 1, padding 0, dilation 1, groups 1. */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias) {
    return conv2d(x, weight, bias, Options.DEFAULT);
  }

  /**
   * PyTorch-style {@code conv2d}: {@code stride}, {@code padding}, {@code dilation} each one value
   * (both dims) or two ({h, w}). See {@link #conv2d(Tensor, Tensor, Tensor, Options)}.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation,
      int groups) {
    int[] s = Checks.pair(stride, "stride");
    int[] p = Checks.pair(padding, "padding");
    int[] d = Checks.pair(dilation, "dilation");
    return conv2d(x, weight, bias, new Options(s[0], s[1], p[0], p[1], d[0], d[1], groups));
  }

  /**
   * PyTorch's {@code F.conv2d(x, weight, bias, stride, padding, dilation, groups)} with a string
   * padding: {@code "valid"} (none) or {@code "same"} (output H x W = input H x W; stride 1 only).
   * "same" pads each dim by {@code dilation * (kernel - 1)} in all, half before, and the odd one
   * left over after (bottom, right), as PyTorch does.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int[] stride, String padding, int[] dilation,
      int groups) {
    int[] s = Checks.pair(stride, "stride");
    int[] d = Checks.pair(dilation, "dilation");
    Options o = new Options(s[0], s[1], 0, 0, d[0], d[1], groups);
    if (!isSame(padding, o)) return conv2d(x, weight, bias, o);
    Checks.rank(weight, "weight", 4);
    return conv2d(x, weight, bias, o, samePadding(o, weight.dim(2), weight.dim(3)), Padding.Mode.CONSTANT);
  }

  /**
   * Whether a string padding is "same" (true) or "valid" (false). Anything else is rejected, as is
   * "same" with a stride other than 1 (PyTorch: not supported for strided convolutions).
   */
  public static boolean isSame(String padding, Options o) {
    if (!"same".equals(padding) && !"valid".equals(padding)) {
      throw new IllegalArgumentException("padding: expected \"valid\" or \"same\" but got "
          + (padding == null ? "null" : "\"" + padding + "\""));
    }
    boolean same = padding.equals("same");
    if (same && (o.strideH() != 1 || o.strideW() != 1)) {
      throw new IllegalArgumentException("padding: \"same\" is not supported for strided convolutions (expected stride 1"
          + " but got " + o.strideH() + "x" + o.strideW() + ")");
    }
    return same;
  }

  /**
   * torch.nn.Conv2d's {@code padding_mode} as a padding mode: "zeros" (CONSTANT), "reflect",
   * "replicate" or "circular".
   */
  public static Padding.Mode paddingMode(String mode) {
    return switch (mode == null ? "" : mode) {
      case "zeros" -> Padding.Mode.CONSTANT;
      case "reflect" -> Padding.Mode.REFLECT;
      case "replicate" -> Padding.Mode.REPLICATE;
      case "circular" -> Padding.Mode.CIRCULAR;
      default -> throw new IllegalArgumentException("paddingMode: expected \"zeros\", \"reflect\", \"replicate\" or"
          + " \"circular\" but got " + (mode == null ? "null" : "\"" + mode + "\""));
    };
  }

  /** Padding "same" as {left, right, top, bottom}: {@code dilation * (kernel - 1)} per dim, the odd one after. */
  public static int[] samePadding(Options o, int kernelH, int kernelW) {
    int h = o.dilationH() * (kernelH - 1);
    int w = o.dilationW() * (kernelW - 1);
    return new int[] {w / 2, w - w / 2, h / 2, h - h / 2};
  }

  /**
   * The convolution of x padded by {@code pad = {left, right, top, bottom}} (F.pad's order) in
   * {@code mode}, with o's stride, dilation and groups; o's own padding must be 0. This is
   * torch.nn.Conv2d's {@code padding_mode} (zeros = CONSTANT, reflect, replicate, circular) and
   * any asymmetric padding. Zero padding goes into the convolution as far as it is symmetric, so
   * only the rest makes a padded copy; the other modes pad a copy first, as PyTorch.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Options o, int[] pad, Padding.Mode mode) {
    Checks.tensor(x, "x");
    if (o == null) throw new IllegalArgumentException("options: expected convolution options but got null");
    if (o.padH() != 0 || o.padW() != 0) {
      throw new IllegalArgumentException("options: expected padding 0 beside an explicit pad but got " + o.padH() + "x"
          + o.padW());
    }
    if (pad == null || pad.length != 4 || Arrays.stream(pad).anyMatch(v -> v < 0)) {
      throw new IllegalArgumentException("pad: expected 4 values >= 0 {left, right, top, bottom} but got "
          + Arrays.toString(pad));
    }
    if (mode == null) throw new IllegalArgumentException("mode: expected a padding mode but got null");
    if (Arrays.stream(pad).allMatch(v -> v == 0)) return conv2d(x, weight, bias, o);
    if (mode != Padding.Mode.CONSTANT) return conv2d(Padding.pad2d(x, pad, mode), weight, bias, o);
    int inW = Math.min(pad[0], pad[1]);
    int inH = Math.min(pad[2], pad[3]);
    int[] rest = {pad[0] - inW, pad[1] - inW, pad[2] - inH, pad[3] - inH};
    boolean symmetric = Arrays.stream(rest).allMatch(v -> v == 0);
    return conv2d(symmetric ? x : Padding.pad2d(x, rest), weight, bias, o.padding(inH, inW));
  }

  /**
   * 2-D convolution. x {@code [N, Cin, H, W]} (or unbatched {@code [Cin, H, W]}, giving
   * {@code [Cout, outH, outW]}), weight {@code [Cout, Cin/groups, kh, kw]}, bias
   * {@code [Cout]} or null; returns {@code [N, Cout, outH, outW]} with
   * {@code outH = (H + 2*padH - dilationH*(kh-1) - 1) / strideH + 1} (likewise outW), which must be
   * at least 1. Cin and Cout must be divisible by groups. N may be 0. Records the backward of x,
   * weight and bias.
   */
  public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Options options) {
    int rank = Checks.tensor(x, "x").rank();
    if (rank != 3 && rank != 4) {
      throw new IllegalArgumentException("x: expected rank 4 [N, C, H, W] or 3 [C, H, W] but got shape " + x.shape());
    }
    if (rank == 3) { // unbatched, as PyTorch: a batch of one
      Tensor y = conv2d(x.reshape(1, x.dim(0), x.dim(1), x.dim(2)), weight, bias, options);
      return y.reshape(y.dim(1), y.dim(2), y.dim(3));
    }
    Conv2dGeometry g = geometry(x, weight, bias, options);
    // Convs with a spatial kernel, dilated or not, and thin-group (depthwise) convs take
    // AtrousConv's measured choice between its tap kernels (a direct one for thin groups) and the
    // standard path (per-group im2col + GEMM here, cuDNN on CUDA). A 1x1 conv is one GEMM either way.
    if (g.kernelH() * g.kernelW() > 1 || g.inChannelsPerGroup() < 8 && g.groups() > 1) {
      return AtrousConv.conv2d(x, weight, bias, g);
    }
    return standard(x, weight, bias, g);
  }

  /** The driver's conv (im2col + GEMM, cuDNN) with its backward recorded; g from {@link #geometry}. */
  static Tensor standard(Tensor x, Tensor weight, Tensor bias, Conv2dGeometry g) {
    Tensor y = standardForward(g, x, weight, bias);
    return Autograd.record("conv2d", y, gy -> standardBackward(g, x, weight, bias, gy), x, weight, bias);
  }

  /** The driver's forward, bias added (or none); no autograd. */
  static Tensor standardForward(Conv2dGeometry g, Tensor x, Tensor weight, Tensor bias) {
    // Nothing to convolve (a batch of 0, 0 channels in or out): no driver call, which would size a
    // column buffer for one image of a possibly huge input; the sums over nothing are zeros.
    boolean noWork = x.numel() == 0 || weight.numel() == 0;
    Tensor y = noWork ? Tensor.zeros(x.device(), g.n(), g.outChannels(), g.outH(), g.outW())
        : Tensor.empty(x.device(), g.n(), g.outChannels(), g.outH(), g.outW());
    if (!noWork) x.driver().conv2dForward(g, x.address(), weight.address(), y.address());
    if (bias != null) addBias(y, bias, g.outChannels(), g.outH() * g.outW());
    return y;
  }

  /** The driver's backward: {dx, dweight, dbias}, each null unless its input requires grad. */
  static Tensor[] standardBackward(Conv2dGeometry g, Tensor x, Tensor weight, Tensor bias, Tensor gy) {
    return new Tensor[] {
        x.requiresGrad() ? inputGrad(g, gy, weight, x.shape()) : null,
        weight.requiresGrad() ? weightGrad(g, x, gy, weight.shape()) : null,
        bias != null && bias.requiresGrad() ? biasGrad(gy, g.n(), g.outChannels(), g.outH() * g.outW()) : null,
    };
  }

  private static Tensor inputGrad(Conv2dGeometry g, Tensor gy, Tensor weight, Shape shape) {
    if (gy.numel() == 0 || weight.numel() == 0) return Tensor.zeros(gy.device(), shape.dims());
    Tensor dx = Tensor.emptyLike(gy, shape);
    gy.driver().conv2dBackwardData(g, gy.address(), weight.address(), dx.address());
    return dx;
  }

  private static Tensor weightGrad(Conv2dGeometry g, Tensor x, Tensor gy, Shape shape) {
    if (gy.numel() == 0 || x.numel() == 0) return Tensor.zeros(gy.device(), shape.dims());
    Tensor dw = Tensor.emptyLike(gy, shape);
    gy.driver().conv2dBackwardFilter(g, x.address(), gy.address(), dw.address());
    return dw;
  }

  /** y viewed as [batch, channels, spatial] gets bias[c] added in place. */
  static void addBias(Tensor y, Tensor bias, int channels, int spatial) {
    y.driver().launch(BIAS_ADD, y.numel(), y.address(), bias.address(), channels, spatial);
  }

  /** The bias gradient [channels]: dy viewed as [batch, channels, spatial] summed over batch and spatial. */
  static Tensor biasGrad(Tensor dy, int batch, int channels, int spatial) {
    Tensor db = Tensor.empty(dy.device(), channels);
    dy.driver().launch(BIAS_GRAD, channels, dy.address(), db.address(), batch, channels,
        spatial);
    return db;
  }

  static Conv2dGeometry geometry(Tensor x, Tensor weight, Tensor bias, Options o) {
    Checks.rank(x, "x", 4);
    Checks.rank(weight, "weight", 4);
    Checks.sameDevice(x, "x", weight, "weight");
    if (o == null) throw new IllegalArgumentException("options: expected convolution options but got null");
    int inChannels = x.dim(1);
    int outChannels = weight.dim(0);
    if (inChannels == 0 || x.dim(2) == 0 || x.dim(3) == 0) {
      throw new IllegalArgumentException("x: expected non-zero channel and spatial sizes but got shape " + x.shape());
    }
    if (outChannels == 0 || weight.dim(2) == 0 || weight.dim(3) == 0) {
      throw new IllegalArgumentException("weight: expected non-zero out channels and kernel sizes but got shape "
          + weight.shape());
    }
    if (inChannels % o.groups() != 0) {
      throw new IllegalArgumentException("groups: expected a divisor of x's " + inChannels + " channels but got "
          + o.groups());
    }
    if (outChannels % o.groups() != 0) {
      throw new IllegalArgumentException("groups: expected a divisor of weight's " + outChannels
          + " output channels but got " + o.groups());
    }
    Checks.dim(weight, "weight", 1, inChannels / o.groups());
    if (bias != null) {
      Checks.rank(bias, "bias", 1);
      Checks.sameDevice(x, "x", bias, "bias");
      Checks.dim(bias, "bias", 0, outChannels);
    }
    int outH = outputSize(x.dim(2), weight.dim(2), o.padH(), o.dilationH(), o.strideH(), "H");
    int outW = outputSize(x.dim(3), weight.dim(3), o.padW(), o.dilationW(), o.strideW(), "W");
    if ((long) outH * outW > Integer.MAX_VALUE) { // the drivers index one output plane with an int
      throw new IllegalArgumentException("x: output plane " + outH + "x" + outW + " has more than 2^31-1 values");
    }
    return new Conv2dGeometry(x.dim(0), inChannels, x.dim(2), x.dim(3), outChannels, weight.dim(2), weight.dim(3),
        o.strideH(), o.strideW(), o.padH(), o.padW(), o.dilationH(), o.dilationW(), o.groups());
  }

  private static int outputSize(int in, int kernel, int pad, int dilation, int stride, String axis) {
    long padded = (long) in + 2L * pad;
    long span = (long) dilation * (kernel - 1) + 1;
    if (padded < span) {
      throw new IllegalArgumentException("x: padded input " + axis + " " + padded + " is smaller than the dilated kernel "
          + axis + " " + span + " (input " + in + ", padding " + pad + ", kernel " + kernel + ", dilation " + dilation
          + "): the output would be empty");
    }
    long out = (padded - span) / stride + 1;
    if (out > Integer.MAX_VALUE || padded > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("x: output " + axis + " " + out + " is too large");
    }
    return (int) out;
  }
}
