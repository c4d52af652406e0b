package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * softmax and log_softmax along one dim (cuda-kernels/softmax.cu), numerically stable (the row
 * max is subtracted first). Output shape = input shape; {@code dim} may be negative, and a rank-0
 * input is treated as one value (dim 0 or -1), as in PyTorch. Both backwards use the saved output.
 */
public final class Softmax {
  static final Kernel FORWARD = Kernel.of("softmax_forward", PTR, PTR, I64, I64, I32);
  static final Kernel BACKWARD = Kernel.of("softmax_backward", PTR, PTR, PTR, I64, I64, I32);

  private Softmax() {}

  /** y = exp(x - max) / sum(exp(x - max)) along {@code dim}. Shapes: y = x. */
  public static Tensor softmax(Tensor x, int dim) { return run("softmax", x, dim, false); }

  /** y = x - max - log(sum(exp(x - max))) along {@code dim}. Shapes: y = x. */
  public static Tensor logSoftmax(Tensor x, int dim) { return run("log_softmax", x, dim, true); }

  private static Tensor run(String op, Tensor x, int dim, boolean log) {
    Checks.tensor(x, "x");
    int d = Shape.normalizeAxis(dim, Math.max(x.rank(), 1), "dim");
    int[] dims = x.rank() == 0 ? new int[] {1} : x.dims();
    long size = dims[d];
    long inner = product(dims, d + 1, dims.length);
    long rows = product(dims, 0, d) * inner;
    int logFlag = log ? 1 : 0;
    Tensor y = Tensor.emptyLike(x);
    if (x.numel() > 0) x.driver().launch(FORWARD, rows, x.address(), y.address(), size, inner, logFlag);
    return Autograd.record(op, y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      if (x.numel() > 0) x.driver().launch(BACKWARD, rows, y.address(), g.address(), dx.address(), size, inner, logFlag);
      return new Tensor[] {dx};
    }, x);
  }

  private static long product(int[] dims, int from, int to) {
    long p = 1;
    for (int i = from; i < to; i++) p *= dims[i];
    return p;
  }
}
