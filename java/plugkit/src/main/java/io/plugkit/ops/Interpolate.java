package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * Resampling of [N, C, H, W] batches as torch.nn.functional.interpolate (PyTorch 1.13, CPU
 * rules) in modes nearest and bilinear (cuda-kernels/interpolate.cu).
 */
public final class Interpolate {
  static final Kernel NEAREST_FORWARD = Kernel.of("interpolate_nearest_forward", PTR, PTR,
      I32, I32, I32, I32, F32, F32);
  static final Kernel NEAREST_BACKWARD = Kernel.of("interpolate_nearest_backward", PTR, PTR,
      I32, I32, I32, I32, F32, F32);
  static final Kernel BILINEAR_FORWARD = Kernel.of("interpolate_bilinear_forward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel BILINEAR_BACKWARD = Kernel.of("interpolate_bilinear_backward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);

  /** Resampling modes. */
  public enum Mode {
    /** The pixel at floor(dst * step), clamped to the last one (PyTorch's legacy "nearest"). */
    NEAREST,
    /** Weighted mean of the 2x2 pixels around the source position. */
    BILINEAR
  }

  private Interpolate() {}

  /**
   * [N, C, H, W] -> [N, C, outH, outW], with C, H, W > 0 (N may be 0). The output size is the
   * given one, or floor(H * scaleH) x floor(W * scaleW), and must be at least 1x1.
   *
   * <p>The source step per output pixel: with alignCorners (bilinear only) (H - 1) / (outH - 1),
   * 0 when outH == 1; else 1 / scaleH when scale factors are given and not recomputed, else
   * H / outH. Nearest reads pixel min(floor(dst * step), H - 1) (same size copies, double size
   * repeats each pixel twice, exactly). Bilinear reads at src = dst * step with alignCorners, else
   * max((dst + 0.5) * step - 0.5, 0), between pixels floor(src) and the next (clamped); same size
   * copies. The gradient of x sums each output's gradient into the pixels it read, by weight.
   */
  public static Tensor interpolate(Tensor x, InterpolateOptions options) {
    PoolGeometry.checkImages(x, "x");
    if (options == null) throw new IllegalArgumentException("options: expected interpolate options but got null");
    InterpolateOptions o = options;
    boolean nearest = o.mode() == Mode.NEAREST;
    if (nearest && o.alignCorners()) {
      throw new IllegalArgumentException("alignCorners: expected false with mode NEAREST (PyTorch allows it only for the"
          + " interpolating modes) but got true");
    }
    int height = x.dim(2);
    int width = x.dim(3);
    int outH = o.hasSize() ? o.outH() : scaledSize(height, o.scaleH(), "scaleH");
    int outW = o.hasSize() ? o.outW() : scaledSize(width, o.scaleW(), "scaleW");
    boolean byScale = !o.hasSize() && !o.recomputeScaleFactor();
    float stepH = step(height, outH, byScale ? o.scaleH() : 0, o.alignCorners());
    float stepW = step(width, outW, byScale ? o.scaleW() : 0, o.alignCorners());
    Tensor y = Tensor.emptyLike(x, Shape.of(x.dim(0), x.dim(1), outH, outW));
    Object[] geometry = nearest
        ? new Object[] {height, width, outH, outW, stepH, stepW}
        : new Object[] {height, width, outH, outW, stepH, stepW, o.alignCorners() ? 1 : 0};
    x.driver().launch(nearest ? NEAREST_FORWARD : BILINEAR_FORWARD, y.numel(), args(x.address(), y.address(), geometry));
    return Autograd.record("interpolate", y, g -> {
      Tensor dx = Tensor.zerosLike(x);
      x.driver().launch(nearest ? NEAREST_BACKWARD : BILINEAR_BACKWARD, g.numel(), args(g.address(), dx.address(), geometry));
      return new Tensor[] {dx};
    }, x);
  }

  /** floor(in * scale) in double, as PyTorch; must be at least 1. */
  private static int scaledSize(int in, double scale, String name) {
    double out = Math.floor(in * scale);
    if (out < 1 || out > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + ": expected a scale factor giving an output size in [1, "
          + Integer.MAX_VALUE + "] but got " + scale + " for input size " + in + " (output " + out + ")");
    }
    return (int) out;
  }

  /** PyTorch's area_pixel_compute_scale in float; {@code scale} 0 means none given. */
  private static float step(int in, int out, double scale, boolean alignCorners) {
    if (alignCorners) return out > 1 ? (float) (in - 1) / (out - 1) : 0f;
    return scale > 0 ? (float) (1.0 / scale) : (float) in / out;
  }

  private static Object[] args(long from, long to, Object[] geometry) {
    Object[] a = new Object[geometry.length + 2];
    a[0] = from;
    a[1] = to;
    System.arraycopy(geometry, 0, a, 2, geometry.length);
    return a;
  }
}
