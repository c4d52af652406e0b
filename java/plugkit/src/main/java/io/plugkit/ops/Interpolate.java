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
 * rules) in modes nearest, nearest-exact, bilinear, bicubic and area (cuda-kernels/interpolate.cu).
 */
public final class Interpolate {
  static final Kernel NEAREST_FORWARD = Kernel.of("interpolate_nearest_forward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel NEAREST_BACKWARD = Kernel.of("interpolate_nearest_backward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel BILINEAR_FORWARD = Kernel.of("interpolate_bilinear_forward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel BILINEAR_BACKWARD = Kernel.of("interpolate_bilinear_backward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel BICUBIC_FORWARD = Kernel.of("interpolate_bicubic_forward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel BICUBIC_BACKWARD = Kernel.of("interpolate_bicubic_backward", PTR, PTR,
      I32, I32, I32, I32, F32, F32, I32);
  static final Kernel AREA_FORWARD = Kernel.of("interpolate_area_forward", PTR, PTR, I32, I32, I32, I32);
  static final Kernel AREA_BACKWARD = Kernel.of("interpolate_area_backward", PTR, PTR, I32, I32, I32, I32);

  /** Resampling modes (PyTorch's mode strings: nearest, nearest-exact, bilinear, bicubic, area). */
  public enum Mode {
    /** The pixel at floor(dst * step), clamped to the last one (PyTorch's legacy "nearest"). */
    NEAREST,
    /** The pixel at floor((dst + 0.5) * step), clamped to the last one ("nearest-exact"). */
    NEAREST_EXACT,
    /** Weighted mean of the 2x2 pixels around the source position. */
    BILINEAR,
    /**
     * Cubic convolution (A = -0.75) of the 4x4 pixels around the source position, taps past the
     * border clamped to it ("bicubic"); not clamped to the input range, as PyTorch.
     */
    BICUBIC,
    /** Mean of each output's adaptive_avg_pool2d window ("area"). */
    AREA;

    /** Whether alignCorners applies (PyTorch's interpolating modes). */
    boolean interpolating() { return this == BILINEAR || this == BICUBIC; }
  }

  private Interpolate() {}

  /**
   * [N, C, H, W] -> [N, C, outH, outW], with C, H, W > 0 (N may be 0). The output size is the
   * given one, or floor(H * scaleH) x floor(W * scaleW), and must be at least 1x1.
   *
   * <p>The source step per output pixel: with alignCorners (bilinear, bicubic only) (H - 1) /
   * (outH - 1), 0 when outH == 1; else 1 / scaleH when scale factors are given and not recomputed,
   * else H / outH. Nearest reads pixel min(floor(dst * step), H - 1) (same size copies, double size
   * repeats each pixel twice, exactly); nearest-exact min(floor((dst + 0.5) * step), H - 1).
   * Bilinear and bicubic read at src = dst * step with alignCorners, else (dst + 0.5) * step - 0.5
   * (bilinear clamps it at 0 and copies at same size); bilinear between pixels floor(src) and the
   * next (clamped), bicubic from the 4 pixels floor(src) - 1 .. + 2 (clamped to the border). Area
   * is adaptive_avg_pool2d to the output size (scale factors are always recomputed, as PyTorch).
   * The gradient of x sums each output's gradient into the pixels it read, by weight; on the GPU
   * that is an atomic scatter for nearest, nearest-exact, bilinear and bicubic (sums not bitwise
   * reproducible), a gather for area.
   */
  public static Tensor interpolate(Tensor x, InterpolateOptions options) {
    PoolGeometry.checkImages(x, "x");
    if (options == null) throw new IllegalArgumentException("options: expected interpolate options but got null");
    InterpolateOptions o = options;
    Mode mode = o.mode();
    if (!mode.interpolating() && o.alignCorners()) {
      throw new IllegalArgumentException("alignCorners: expected false with mode " + mode + " (PyTorch allows it only"
          + " for the interpolating modes BILINEAR and BICUBIC) but got true");
    }
    if (o.hasSize() && o.recomputeScaleFactor()) {
      throw new IllegalArgumentException("recomputeScaleFactor: expected false with an explicit output size (PyTorch:"
          + " not meaningful) but got true");
    }
    int height = x.dim(2);
    int width = x.dim(3);
    int outH = o.hasSize() ? o.outH() : scaledSize(height, o.scaleH(), "scaleH");
    int outW = o.hasSize() ? o.outW() : scaledSize(width, o.scaleW(), "scaleW");
    boolean byScale = !o.hasSize() && !o.recomputeScaleFactor() && mode != Mode.AREA;
    float stepH = step(height, outH, byScale ? o.scaleH() : 0, o.alignCorners());
    float stepW = step(width, outW, byScale ? o.scaleW() : 0, o.alignCorners());
    Tensor y = Tensor.emptyLike(x, Shape.of(x.dim(0), x.dim(1), outH, outW));
    Kernel forward;
    Kernel backward;
    Object[] geometry;
    switch (mode) {
      case NEAREST, NEAREST_EXACT -> {
        forward = NEAREST_FORWARD;
        backward = NEAREST_BACKWARD;
        geometry = new Object[] {height, width, outH, outW, stepH, stepW, mode == Mode.NEAREST_EXACT ? 1 : 0};
      }
      case BILINEAR, BICUBIC -> {
        forward = mode == Mode.BILINEAR ? BILINEAR_FORWARD : BICUBIC_FORWARD;
        backward = mode == Mode.BILINEAR ? BILINEAR_BACKWARD : BICUBIC_BACKWARD;
        geometry = new Object[] {height, width, outH, outW, stepH, stepW, o.alignCorners() ? 1 : 0};
      }
      default -> {
        forward = AREA_FORWARD;
        backward = AREA_BACKWARD;
        geometry = new Object[] {height, width, outH, outW};
      }
    }
    x.driver().launch(forward, y.numel(), args(x.address(), y.address(), geometry));
    return Autograd.record("interpolate", y, g -> {
      Tensor dx;
      if (mode == Mode.AREA) {
        dx = Tensor.emptyLike(x, x.shape());  // the gather writes every value
        x.driver().launch(backward, dx.numel(), args(g.address(), dx.address(), geometry));
      } else {
        dx = Tensor.zerosLike(x);
        x.driver().launch(backward, g.numel(), args(g.address(), dx.address(), geometry));
      }
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
