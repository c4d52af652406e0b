package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.DType;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * 2-D max and average pooling with PyTorch's semantics (cuda-kernels/pool.cu). Inputs are
 * [N, C, H, W] F32 batches with C, H, W > 0 (N may be 0).
 *
 * <p>Windowed output size, per axis (PyTorch's pooling_output_shape):
 * {@code out = floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1}, with ceil instead of
 * floor when {@code ceilMode}, in which case a last window starting at or beyond {@code in + pad}
 * is dropped. Padding must be at most half the kernel and the output at least 1x1.
 *
 * <p>Max selection is PyTorch's: the first maximum wins ties (so the gradient goes to it), a NaN
 * is always selected (the last NaN of a window wins), padding is -inf.
 */
public final class Pooling {
  // 256 threads: 8 warps per block reduce one plane, enough to hide load latency on every target.
  static final Kernel GLOBAL_AVG_POOL2D_FORWARD = Kernel.withBlock("global_avg_pool2d_forward", 256, PTR, PTR, I64);
  static final Kernel GLOBAL_AVG_POOL2D_BACKWARD = Kernel.of("global_avg_pool2d_backward", PTR, PTR, I64);
  static final Kernel GLOBAL_MAX_POOL2D_FORWARD =
      Kernel.withBlock("global_max_pool2d_forward", 256, PTR, PTR, PTR, I64);
  static final Kernel GLOBAL_MAX_POOL2D_BACKWARD = Kernel.of("global_max_pool2d_backward", PTR, PTR, PTR, I64);
  static final Kernel MAX_POOL2D_FORWARD = Kernel.of("max_pool2d_forward", PTR, PTR, PTR,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel MAX_POOL2D_BACKWARD = Kernel.of("max_pool2d_backward", PTR, PTR, PTR,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel AVG_POOL2D_FORWARD = Kernel.of("avg_pool2d_forward", PTR, PTR,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel AVG_POOL2D_BACKWARD = Kernel.of("avg_pool2d_backward", PTR, PTR,
      I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  private Pooling() {}

  /** A max pooling's output and its argmax: I64, h * W + w inside each (n, c) plane (-1: empty window). */
  public record MaxPoolResult(Tensor output, Tensor indices) {}

  /**
   * The mean of each (n, c) plane: [N, C, H, W] -> [N, C, 1, 1], as adaptive_avg_pool2d(x, 1).
   * The gradient spreads evenly over the plane.
   */
  public static Tensor globalAvgPool2d(Tensor x) {
    PoolGeometry.checkImages(x, "x");
    long planes = (long) x.dim(0) * x.dim(1);
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x, Shape.of(x.dim(0), x.dim(1), 1, 1));
    x.driver().launch(GLOBAL_AVG_POOL2D_FORWARD, planes, x.address(), y.address(), plane);
    return Autograd.record("global_avg_pool2d", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(GLOBAL_AVG_POOL2D_BACKWARD, x.numel(), g.address(), dx.address(), plane);
      return new Tensor[] {dx};
    }, x);
  }

  /**
   * The maximum of each (n, c) plane: [N, C, H, W] -> [N, C, 1, 1], as adaptive_max_pool2d(x, 1).
   * The gradient goes to the selected pixel only.
   */
  public static Tensor globalMaxPool2d(Tensor x) {
    PoolGeometry.checkImages(x, "x");
    long planes = (long) x.dim(0) * x.dim(1);
    long plane = (long) x.dim(2) * x.dim(3);
    Shape outShape = Shape.of(x.dim(0), x.dim(1), 1, 1);
    Tensor y = Tensor.emptyLike(x, outShape);
    Tensor indices = Tensor.empty(x.device(), DType.I64, outShape);
    x.driver().launch(GLOBAL_MAX_POOL2D_FORWARD, planes, x.address(), y.address(), indices.address(), plane);
    if (!Autograd.needsGrad(x)) {
      indices.close();
      return y;
    }
    return Autograd.record("global_max_pool2d", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(GLOBAL_MAX_POOL2D_BACKWARD, x.numel(), g.address(), indices.address(), dx.address(), plane);
      return new Tensor[] {dx};
    }, x);
  }

  /** {@link #maxPool2d(Tensor, MaxPool2dOptions)} with a (kh, kw) kernel, stride = kernel. */
  public static Tensor maxPool2d(Tensor x, int... kernel) { return maxPool2d(x, MaxPool2dOptions.kernel(kernel)); }

  /**
   * Max pooling: [N, C, H, W] -> [N, C, outH, outW] (output size in the class comment); window
   * taps at {@code oh * strideH - padH + ki * dilationH}, likewise for columns.
   */
  public static Tensor maxPool2d(Tensor x, MaxPool2dOptions options) {
    MaxPoolResult r = maxPool2dWithIndices(x, options);
    if (!Autograd.needsGrad(x)) r.indices().close();
    return r.output();
  }

  /** {@link #maxPool2d(Tensor, MaxPool2dOptions)} that also returns the argmax (return_indices=True). */
  public static MaxPoolResult maxPool2dWithIndices(Tensor x, MaxPool2dOptions options) {
    PoolGeometry.checkImages(x, "x");
    if (options == null) throw new IllegalArgumentException("options: expected max pooling options but got null");
    int height = x.dim(2);
    int width = x.dim(3);
    MaxPool2dOptions o = options;
    long outH = PoolGeometry.outputSize(height, o.kernelH(), o.padH(), o.strideH(), o.dilationH(), o.ceilMode());
    long outW = PoolGeometry.outputSize(width, o.kernelW(), o.padW(), o.strideW(), o.dilationW(), o.ceilMode());
    PoolGeometry.checkOutput(x, "x", outH, outW);
    Shape outShape = Shape.of(x.dim(0), x.dim(1), Math.toIntExact(outH), Math.toIntExact(outW));
    Tensor y = Tensor.emptyLike(x, outShape);
    Tensor indices = Tensor.empty(x.device(), DType.I64, outShape);
    Object[] geometry = {height, width, (int) outH, (int) outW, o.kernelH(), o.kernelW(), o.strideH(), o.strideW(),
        o.padH(), o.padW(), o.dilationH(), o.dilationW()};
    x.driver().launch(MAX_POOL2D_FORWARD, y.numel(), concat(geometry, x.address(), y.address(), indices.address()));
    Autograd.record("max_pool2d", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(MAX_POOL2D_BACKWARD, x.numel(), concat(geometry, g.address(), indices.address(), dx.address()));
      return new Tensor[] {dx};
    }, x);
    return new MaxPoolResult(y, indices);
  }

  /** {@link #avgPool2d(Tensor, AvgPool2dOptions)} with a (kh, kw) kernel, stride = kernel. */
  public static Tensor avgPool2d(Tensor x, int... kernel) { return avgPool2d(x, AvgPool2dOptions.kernel(kernel)); }

  /**
   * Average pooling: [N, C, H, W] -> [N, C, outH, outW] (output size in the class comment, with
   * dilation 1). Each window's sum is divided by {@code divisorOverride} when nonzero, else with
   * {@code countIncludePad} by its size clipped to the padded input, else by its count of input
   * pixels.
   */
  public static Tensor avgPool2d(Tensor x, AvgPool2dOptions options) {
    PoolGeometry.checkImages(x, "x");
    if (options == null) throw new IllegalArgumentException("options: expected average pooling options but got null");
    int height = x.dim(2);
    int width = x.dim(3);
    AvgPool2dOptions o = options;
    long outH = PoolGeometry.outputSize(height, o.kernelH(), o.padH(), o.strideH(), 1, o.ceilMode());
    long outW = PoolGeometry.outputSize(width, o.kernelW(), o.padW(), o.strideW(), 1, o.ceilMode());
    PoolGeometry.checkOutput(x, "x", outH, outW);
    Tensor y = Tensor.emptyLike(x, Shape.of(x.dim(0), x.dim(1), Math.toIntExact(outH), Math.toIntExact(outW)));
    Object[] geometry = {height, width, (int) outH, (int) outW, o.kernelH(), o.kernelW(), o.strideH(), o.strideW(),
        o.padH(), o.padW(), o.countIncludePad() ? 1 : 0, o.divisorOverride()};
    x.driver().launch(AVG_POOL2D_FORWARD, y.numel(), concat(geometry, x.address(), y.address()));
    return Autograd.record("avg_pool2d", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(AVG_POOL2D_BACKWARD, x.numel(), concat(geometry, g.address(), dx.address()));
      return new Tensor[] {dx};
    }, x);
  }

  /** The kernel arguments: the pointers first, then the geometry. */
  private static Object[] concat(Object[] geometry, Object... pointers) {
    Object[] args = new Object[pointers.length + geometry.length];
    System.arraycopy(pointers, 0, args, 0, pointers.length);
    System.arraycopy(geometry, 0, args, pointers.length, geometry.length);
    return args;
  }
}
