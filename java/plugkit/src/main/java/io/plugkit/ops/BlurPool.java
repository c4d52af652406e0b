package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * Anti-aliased downsampling, op id {@code blur_pool} (cuda-kernels/blur_pool.cu): BlurPool and
 * MaxBlurPool of Zhang, "Making Convolutional Networks Shift-Invariant Again" (ICML 2019), with
 * the semantics of adobe/antialiased-cnns' {@code BlurPool(channels, pad_type, filt_size, stride,
 * pad_off)}.
 *
 * <p>The filter is the normalised binomial {@code a a^T / sum(a a^T)}, {@code a} the row
 * {@code filtSize - 1} of Pascal's triangle ({@code filtSize} 1..7; 1 is plain subsampling), the
 * same for every channel. The source is padded by {@code padLo = (filtSize - 1) / 2 + padOff} on
 * top and left and {@code padHi = filtSize / 2 + padOff} on bottom and right, then filtered with
 * {@code stride}. Output size per axis: {@code out = (src + padLo + padHi - filtSize) / stride + 1}.
 *
 * <p>Inputs are [N, C, H, W] F32 with C, H, W > 0 (N may be 0). Reflect padding needs
 * {@code padLo, padHi < src} (PyTorch's ReflectionPad2d rule).
 */
public final class BlurPool {
  static final Kernel BLUR_POOL2D_FORWARD = Kernel.of("blur_pool2d_forward", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel BLUR_POOL2D_BACKWARD =
      Kernel.of("blur_pool2d_backward", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel MAX_BLUR_POOL2D_FORWARD =
      Kernel.of("max_blur_pool2d_forward", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel MAX_BLUR_POOL2D_BACKWARD =
      Kernel.of("max_blur_pool2d_backward", PTR, PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  /** The largest filter antialiased-cnns defines. */
  public static final int MAX_FILT_SIZE = 7;

  private BlurPool() {}

  /** The padding layers of antialiased-cnns' get_pad_layer; the ordinal is the kernel's code. */
  public enum PadType {
    REFLECT, REPLICATE, ZERO;

    /** antialiased-cnns' names: {@code refl}/{@code reflect}, {@code repl}/{@code replicate}, {@code zero}. */
    public static PadType of(String name) {
      if (name != null) {
        switch (name) {
          case "refl", "reflect" -> { return REFLECT; }
          case "repl", "replicate" -> { return REPLICATE; }
          case "zero" -> { return ZERO; }
          default -> { }
        }
      }
      throw new IllegalArgumentException("padType: expected one of refl, reflect, repl, replicate, zero but got "
          + (name == null ? "null" : "'" + name + "'"));
    }
  }

  /** {@link #blurPool(Tensor, int, int, PadType, int)} with antialiased-cnns' defaults: reflect, 4, 2, 0. */
  public static Tensor blurPool(Tensor x) { return blurPool(x, 4, 2, PadType.REFLECT, 0); }

  /**
   * Blur then subsample: [N, C, H, W] -> [N, C, outH, outW], {@code out} from the source size
   * {@code H} (or {@code W}) as in the class comment. The gradient flows to x.
   */
  public static Tensor blurPool(Tensor x, int filtSize, int stride, PadType padType, int padOff) {
    Geometry g = Geometry.of(x, filtSize, stride, padType, padOff, false);
    Tensor y = Tensor.emptyLike(x, g.outShape(x));
    x.driver().launch(BLUR_POOL2D_FORWARD, y.numel(), x.address(), y.address(), x.dim(2), x.dim(3), g.outH, g.outW,
        filtSize, stride, g.padLo, padType.ordinal());
    return Autograd.record("blur_pool2d", y, dy -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(BLUR_POOL2D_BACKWARD, x.numel(), dy.address(), dx.address(), x.dim(2), x.dim(3), g.outH,
          g.outW, filtSize, stride, g.padLo, g.padHi, padType.ordinal());
      return new Tensor[] {dx};
    }, x);
  }

  /**
   * Max pooling (kernel 2, stride 1) then {@link #blurPool}: antialiased-cnns' replacement for
   * MaxPool2d(2), {@code Sequential(MaxPool2d(2, stride=1), BlurPool(C, filt_size, stride))}, fused
   * so the (H - 1) x (W - 1) max map is never stored; the output size comes from source size
   * {@code H - 1} (or {@code W - 1}), so H, W >= 2. The gradient goes to the first maximum of each
   * 2x2 window (PyTorch's tie rule; a NaN always wins, the last one of a window).
   */
  public static Tensor maxBlurPool(Tensor x, int filtSize, int stride, PadType padType, int padOff) {
    Geometry g = Geometry.of(x, filtSize, stride, padType, padOff, true);
    Tensor y = Tensor.emptyLike(x, g.outShape(x));
    x.driver().launch(MAX_BLUR_POOL2D_FORWARD, y.numel(), x.address(), y.address(), x.dim(2), x.dim(3), g.outH,
        g.outW, filtSize, stride, g.padLo, padType.ordinal());
    return Autograd.record("max_blur_pool2d", y, dy -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(MAX_BLUR_POOL2D_BACKWARD, x.numel(), x.address(), dy.address(), dx.address(), x.dim(2),
          x.dim(3), g.outH, g.outW, filtSize, stride, g.padLo, g.padHi, padType.ordinal());
      return new Tensor[] {dx};
    }, x);
  }

  /** {@code padLo = (filtSize - 1) / 2 + padOff}, antialiased-cnns' int(1.*(filt_size-1)/2) + pad_off. */
  public static int padLo(int filtSize, int padOff) { return (filtSize - 1) / 2 + padOff; }

  /** {@code padHi = filtSize / 2 + padOff}, antialiased-cnns' int(np.ceil(1.*(filt_size-1)/2)) + pad_off. */
  public static int padHi(int filtSize, int padOff) { return filtSize / 2 + padOff; }

  /** The 1-D binomial filter of {@code filtSize} taps, unnormalised (row filtSize - 1 of Pascal's triangle). */
  public static double[] binomial(int filtSize) {
    checkFiltSize(filtSize);
    double[] a = new double[filtSize];
    a[0] = 1;
    for (int j = 1; j < filtSize; j++) a[j] = a[j - 1] * (filtSize - j) / j;
    return a;
  }

  /** Rejects a filter size outside 1..7. */
  public static void checkFiltSize(int filtSize) {
    if (filtSize < 1 || filtSize > MAX_FILT_SIZE) {
      throw new IllegalArgumentException("filtSize: expected a value in 1.." + MAX_FILT_SIZE + " but got " + filtSize);
    }
  }

  /** Validated sizes of one call; {@code maxFirst}: the source is the 2x2 stride-1 max map. */
  private record Geometry(int padLo, int padHi, int outH, int outW) {
    static Geometry of(Tensor x, int filtSize, int stride, PadType padType, int padOff, boolean maxFirst) {
      PoolGeometry.checkImages(x, "x");
      checkFiltSize(filtSize);
      Checks.positive(stride, "stride");
      if (padType == null) throw new IllegalArgumentException("padType: expected a pad type but got null");
      Checks.nonNegative(padOff, "padOff");
      int srcH = x.dim(2) - (maxFirst ? 1 : 0);
      int srcW = x.dim(3) - (maxFirst ? 1 : 0);
      if (srcH < 1 || srcW < 1) {
        throw new IllegalArgumentException("x: expected H, W >= 2 for the 2x2 max pooling but got shape " + x.shape());
      }
      int lo = BlurPool.padLo(filtSize, padOff);
      int hi = BlurPool.padHi(filtSize, padOff);
      String src = maxFirst ? "the max map of " : "";
      if (padType == PadType.REFLECT && (hi >= srcH || hi >= srcW)) {
        throw new IllegalArgumentException("x: expected " + src + "H and W above the reflect padding " + lo + ", " + hi
            + " (filtSize " + filtSize + ", padOff " + padOff + ") but got " + srcH + "x" + srcW + " from shape " + x.shape());
      }
      long outH = ((long) srcH + lo + hi - filtSize) / stride + 1;
      long outW = ((long) srcW + lo + hi - filtSize) / stride + 1;
      PoolGeometry.checkOutput(x, "x", outH, outW);
      return new Geometry(lo, hi, (int) outH, (int) outW);
    }

    Shape outShape(Tensor x) { return Shape.of(x.dim(0), x.dim(1), outH, outW); }
  }
}
