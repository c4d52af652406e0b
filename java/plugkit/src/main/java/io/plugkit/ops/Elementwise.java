package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * Elementwise arithmetic (cuda-kernels/elementwise.cu). The binary ops broadcast as NumPy and
 * PyTorch do: shapes align at their last dim and each pair of sizes is equal or contains a 1,
 * e.g. [2, 1, 5] with [3, 1] gives [2, 3, 5]. Their backward sums each input's gradient over the
 * dims it was broadcast along, back to its own shape.
 */
public final class Elementwise {
  // Op codes of elementwise.cu.
  private static final int ADD = 0;
  private static final int SUB = 1;
  private static final int MUL = 2;
  private static final int DIV = 3;

  static final Kernel BINARY_FLAT = Kernel.of("elementwise_binary_flat", I32, PTR, PTR, PTR);
  static final Kernel BINARY = Kernel.of("elementwise_binary", StridedLoop.params(2, I32, PTR, PTR, PTR));
  static final Kernel SCALAR = Kernel.of("elementwise_scalar", I32, PTR, PTR, F32);
  static final Kernel DIV_GRAD_B = Kernel.of("elementwise_div_grad_b", StridedLoop.params(2, PTR, PTR, PTR, PTR));

  private Elementwise() {}

  /** a + b. Shapes: a and b broadcastable; the output has the broadcast shape. */
  public static Tensor add(Tensor a, Tensor b) { return binary(ADD, "add", a, b); }

  /** a - b. Shapes: a and b broadcastable; the output has the broadcast shape. */
  public static Tensor sub(Tensor a, Tensor b) { return binary(SUB, "sub", a, b); }

  /** a * b. Shapes: a and b broadcastable; the output has the broadcast shape. */
  public static Tensor mul(Tensor a, Tensor b) { return binary(MUL, "mul", a, b); }

  /**
   * a / b (IEEE: x/0 is +-inf or NaN). Shapes: a and b broadcastable; the output has the
   * broadcast shape. Gradients: g / b for a, -g * a / b^2 for b.
   */
  public static Tensor div(Tensor a, Tensor b) { return binary(DIV, "div", a, b); }

  /** x + s. Output shape = x's shape. */
  public static Tensor addScalar(Tensor x, float s) { return scalar(ADD, "add_scalar", x, s); }

  /** x - s. Output shape = x's shape. */
  public static Tensor subScalar(Tensor x, float s) { return scalar(SUB, "sub_scalar", x, s); }

  /** x * s. Output shape = x's shape. */
  public static Tensor mulScalar(Tensor x, float s) { return scalar(MUL, "mul_scalar", x, s); }

  /** x / s (a true division, as PyTorch, not a multiplication by 1/s). Output shape = x's shape. */
  public static Tensor divScalar(Tensor x, float s) { return scalar(DIV, "div_scalar", x, s); }

  /** -x. Output shape = x's shape. */
  public static Tensor neg(Tensor x) { return scalar(MUL, "neg", x, -1f); }

  private static Tensor binary(int op, String opId, Tensor a, Tensor b) {
    Checks.tensor(a, "a");
    Checks.tensor(b, "b");
    Checks.sameDevice(a, "a", b, "b");
    Tensor y = Tensor.emptyLike(a, Broadcasting.shape(a.shape(), "a", b.shape(), "b"));
    launchBinary(op, a, b, y);
    return Autograd.record(opId, y, g -> binaryBackward(op, g, a, b), a, b);
  }

  /** y = a (op) b with y already in the broadcast shape. */
  private static void launchBinary(int op, Tensor a, Tensor b, Tensor y) {
    if (y.numel() == 0) return;
    if (a.numel() == y.numel() && b.numel() == y.numel()) {
      // Nothing is broadcast (shapes differ at most by 1-dims): one flat pass, no index math.
      y.driver().launch(BINARY_FLAT, y.numel(), op, a.address(), b.address(), y.address());
      return;
    }
    int[] dims = y.dims();
    StridedLoop.of(dims, Broadcasting.strides(a.shape(), dims), Broadcasting.strides(b.shape(), dims),
            y.shape().strides())
        .forEachLaunch((n, off, sizes, strides) -> y.driver().launch(BINARY, n,
            StridedLoop.args(sizes, new long[][] {strides[0], strides[1]}, op, a.address() + 4 * off[0],
                b.address() + 4 * off[1], y.address() + 4 * off[2])));
  }

  private static Tensor[] binaryBackward(int op, Tensor g, Tensor a, Tensor b) {
    Tensor da = null;
    Tensor db = null;
    if (a.requiresGrad()) {
      da = switch (op) {
        case ADD, SUB -> Reductions.sumTo(g, a.shape());
        case MUL -> sumToAndFree(mul(g, b), a.shape());
        default -> sumToAndFree(div(g, b), a.shape());
      };
    }
    if (b.requiresGrad()) {
      db = switch (op) {
        case ADD -> Reductions.sumTo(g, b.shape());
        case SUB -> neg(Reductions.sumTo(g, b.shape()));
        case MUL -> sumToAndFree(mul(g, a), b.shape());
        default -> sumToAndFree(divGradB(g, a, b), b.shape());
      };
    }
    return new Tensor[] {da, db};
  }

  /** -g * a / b^2 in g's (the broadcast) shape. */
  private static Tensor divGradB(Tensor g, Tensor a, Tensor b) {
    Tensor db = Tensor.emptyLike(g);
    int[] dims = g.dims();
    StridedLoop.of(dims, Broadcasting.strides(a.shape(), dims), Broadcasting.strides(b.shape(), dims),
            g.shape().strides())
        .forEachLaunch((n, off, sizes, strides) -> g.driver().launch(DIV_GRAD_B, n,
            StridedLoop.args(sizes, new long[][] {strides[0], strides[1]}, g.address() + 4 * off[2],
                a.address() + 4 * off[0], b.address() + 4 * off[1], db.address() + 4 * off[2])));
    return db;
  }

  /** Sums a backward temporary down to {@code shape} and frees it when the sum is a new tensor. */
  private static Tensor sumToAndFree(Tensor t, Shape shape) {
    Tensor r = Reductions.sumTo(t, shape);
    if (r != t) t.close();
    return r;
  }

  private static Tensor scalar(int op, String opId, Tensor x, float s) {
    Checks.tensor(x, "x");
    Tensor y = Tensor.emptyLike(x);
    if (x.numel() > 0) x.driver().launch(SCALAR, x.numel(), op, x.address(), y.address(), s);
    return Autograd.record(opId, y, g -> new Tensor[] {switch (op) {
      case ADD, SUB -> g;
      case MUL -> mulScalar(g, s);
      default -> divScalar(g, s);
    }}, x);
  }
}
