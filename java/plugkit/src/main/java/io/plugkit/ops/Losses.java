package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.DType;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.Arrays;

/**
 * Loss functions (cuda-kernels/loss.cu) with the semantics of {@code torch.nn.functional} in
 * PyTorch 1.13. A {@link Reduction#MEAN} or {@link Reduction#SUM} loss is a rank-0 tensor (shape
 * {@code []}), as in PyTorch; {@link Reduction#NONE} keeps one value per element or row.
 */
public final class Losses {
  /** Block size of loss_column_sums on the GPU; it runs one work item (n = 1), i.e. one block. */
  private static final int SUM_BLOCK = 256;

  static final Kernel CROSS_ENTROPY_FORWARD =
      Kernel.of("cross_entropy_forward", PTR, PTR, PTR, I64, I64, I64, F32, PTR, PTR);
  static final Kernel CROSS_ENTROPY_REDUCE = Kernel.of("cross_entropy_reduce", PTR, I32, F32, I64, PTR);
  static final Kernel CROSS_ENTROPY_BACKWARD =
      Kernel.of("cross_entropy_backward", PTR, PTR, PTR, I64, I64, I64, F32, PTR, I32, PTR, I64, PTR);
  static final Kernel COLUMN_SUMS = Kernel.withBlock("loss_column_sums", SUM_BLOCK, I64, I32, PTR, F32, PTR);
  static final Kernel MSE_FORWARD = Kernel.of("mse_forward", PTR, PTR, PTR);
  static final Kernel MSE_BACKWARD = Kernel.of("mse_backward", PTR, PTR, PTR, I64, F32, PTR, PTR);

  private Losses() {}

  /** How per-element losses combine; the ordinals are the kernels' reduction codes. */
  public enum Reduction { NONE, MEAN, SUM }

  /**
   * Options of {@link #crossEntropy(Tensor, Tensor, CrossEntropyOptions)}, as in PyTorch:
   * reduction (default MEAN), ignoreIndex (default -100: targets equal to it add nothing and get
   * no gradient), labelSmoothing in [0, 1] (default 0) and per-class weights [C] (default none;
   * treated as constants, they get no gradient).
   */
  public record CrossEntropyOptions(Reduction reduction, long ignoreIndex, float labelSmoothing, Tensor weight) {
    public static CrossEntropyOptions defaults() { return new CrossEntropyOptions(Reduction.MEAN, -100, 0f, null); }

    public CrossEntropyOptions withReduction(Reduction r) { return new CrossEntropyOptions(r, ignoreIndex, labelSmoothing, weight); }

    public CrossEntropyOptions withIgnoreIndex(long i) { return new CrossEntropyOptions(reduction, i, labelSmoothing, weight); }

    public CrossEntropyOptions withLabelSmoothing(float s) { return new CrossEntropyOptions(reduction, ignoreIndex, s, weight); }

    public CrossEntropyOptions withWeight(Tensor w) { return new CrossEntropyOptions(reduction, ignoreIndex, labelSmoothing, w); }
  }

  /** {@link #crossEntropy(Tensor, Tensor, CrossEntropyOptions)} with the default options (mean). */
  public static Tensor crossEntropy(Tensor logits, Tensor target) {
    return crossEntropy(logits, target, CrossEntropyOptions.defaults());
  }

  /**
   * Cross-entropy of raw scores against class indices (torch.nn.functional.cross_entropy), a fused
   * log-softmax + NLL that is stable for any finite logits.
   *
   * <p>Shapes: logits [N, C] or [N, C, d1, ..., dk]; target I64 [N] or [N, d1, ..., dk] holding a
   * class in [0, C) or {@code ignoreIndex}. Output: [] for MEAN and SUM, the target's shape for
   * NONE. Per element with target t and smoothing e: {@code (1 - e) * w[t] * -logp[t] + e / C *
   * sum_c w[c] * -logp[c]}, 0 where t is ignoreIndex. MEAN divides the sum by the sum of w[t] over
   * non-ignored elements (their count without weights). All targets ignored gives NaN for MEAN,
   * as in PyTorch. Gradient: logits only.
   *
   * <p>The targets are validated on the host before any kernel runs, which copies them from the
   * device (a small device-to-host copy of N * d1 * ... * dk longs, synchronous on CUDA).
   *
   * @throws IllegalArgumentException for a target outside [0, C) that is not ignoreIndex, and for
   *     any malformed argument, before any kernel runs
   */
  public static Tensor crossEntropy(Tensor logits, Tensor target, CrossEntropyOptions options) {
    if (options == null) throw new IllegalArgumentException("options: expected options but got null");
    Checks.tensor(logits, "logits");
    if (logits.rank() < 2) {
      throw new IllegalArgumentException("logits: expected rank >= 2 ([N, C] or [N, C, d1, ...]) but got shape " + logits.shape());
    }
    int classes = logits.dim(1);
    Checks.positive(classes, "logits.dim(1)");
    checkTarget(logits, target);
    Tensor weight = options.weight();
    if (weight != null) checkWeight(weight, logits, classes);
    if (options.reduction() == null) throw new IllegalArgumentException("reduction: expected NONE, MEAN or SUM but got null");
    float smoothing = options.labelSmoothing();
    if (!(smoothing >= 0f && smoothing <= 1f)) {
      throw new IllegalArgumentException("labelSmoothing: expected a value in [0, 1] but got " + smoothing);
    }
    checkTargetValues(target, classes, options.ignoreIndex());

    Reduction reduction = options.reduction();
    long rows = target.numel();
    long spatial = rows == 0 ? 1 : rows / logits.dim(0);
    Tensor rowStats = Tensor.emptyLike(logits, Shape.of(Math.toIntExact(rows), 3));
    Tensor out = reduction == Reduction.NONE ? Tensor.emptyLike(logits, target.shape()) : Tensor.emptyLike(logits, Shape.of());
    Tensor sums = reduction == Reduction.NONE ? null : Tensor.emptyLike(logits, Shape.of(3));
    var driver = logits.driver();
    driver.launch(CROSS_ENTROPY_FORWARD, rows, logits.address(), target.address(), address(weight), (long) classes, spatial,
        options.ignoreIndex(), smoothing, rowStats.address(), reduction == Reduction.NONE ? out.address() : 0L);
    if (sums != null) {
      driver.launch(COLUMN_SUMS, 1, rows, 3, rowStats.address(), 1f, sums.address());
      driver.launch(CROSS_ENTROPY_REDUCE, 1, sums.address(), reduction.ordinal(), smoothing, (long) classes, out.address());
    }
    rowStats.close();
    return Autograd.record("cross_entropy", out, g -> {
      Tensor dlogits = Tensor.emptyLike(logits);
      driver.launch(CROSS_ENTROPY_BACKWARD, rows, logits.address(), target.address(), address(weight), (long) classes,
          spatial, options.ignoreIndex(), smoothing, address(sums), reduction.ordinal(),
          g.address(), reduction == Reduction.NONE ? 1L : 0L, dlogits.address());
      return new Tensor[] {dlogits};
    }, logits);
  }

  /** The address of an optional tensor (0 for none); throws when it was freed meanwhile. */
  private static long address(Tensor t) { return t == null ? 0L : t.address(); }

  private static void checkTarget(Tensor logits, Tensor target) {
    if (target == null) throw new IllegalArgumentException("target: expected a tensor but got null");
    if (target.isFreed()) throw new IllegalArgumentException("target: expected a live tensor but it was freed");
    if (target.dtype() != DType.I64) {
      throw new IllegalArgumentException("target: expected dtype I64 (class indices) but got " + target.dtype());
    }
    Checks.sameDevice(logits, "logits", target, "target");
    int[] ld = logits.dims();
    int[] expected = new int[ld.length - 1];
    expected[0] = ld[0];
    System.arraycopy(ld, 2, expected, 1, ld.length - 2);
    if (!target.shape().equals(Shape.of(expected))) {
      throw new IllegalArgumentException("target: expected shape " + Arrays.toString(expected) + " (logits " + logits.shape()
          + " without the class dimension) but got " + target.shape());
    }
  }

  private static void checkWeight(Tensor weight, Tensor logits, int classes) {
    Checks.rank(weight, "weight", 1);
    Checks.sameDevice(logits, "logits", weight, "weight");
    Checks.dim(weight, "weight", 0, classes);
    if (weight.requiresGrad()) {
      throw new IllegalArgumentException("weight: expected a tensor that does not require grad (class weights are constants)");
    }
  }

  private static void checkTargetValues(Tensor target, int classes, long ignoreIndex) {
    long[] labels = target.toLongArray();
    for (int i = 0; i < labels.length; i++) {
      long t = labels[i];
      if (t != ignoreIndex && (t < 0 || t >= classes)) {
        throw new IllegalArgumentException("target: expected class indices in [0, " + classes + ") or ignoreIndex "
            + ignoreIndex + " but element " + i + " is " + t);
      }
    }
  }

  /**
   * Mean squared error {@code (input - target)^2} (torch.nn.functional.mse_loss).
   *
   * <p>Shapes: input and target of the same shape (any); output [] for MEAN (sum / numel; NaN for
   * an empty input, as in PyTorch) and SUM, the input's shape for NONE. Gradients: both inputs.
   */
  public static Tensor mse(Tensor input, Tensor target, Reduction reduction) {
    Checks.tensor(input, "input");
    Checks.tensor(target, "target");
    Checks.sameDevice(input, "input", target, "target");
    Checks.sameShape(input, "input", target, "target");
    if (reduction == null) throw new IllegalArgumentException("reduction: expected NONE, MEAN or SUM but got null");
    var driver = input.driver();
    long n = input.numel();
    float scale = reduction == Reduction.MEAN ? 1f / n : 1f;
    Tensor out;
    if (reduction == Reduction.NONE) {
      out = Tensor.emptyLike(input);
      driver.launch(MSE_FORWARD, n, input.address(), target.address(), out.address());
    } else {
      Tensor squares = Tensor.emptyLike(input);
      driver.launch(MSE_FORWARD, n, input.address(), target.address(), squares.address());
      out = Tensor.emptyLike(input, Shape.of());
      driver.launch(COLUMN_SUMS, 1, n, 1, squares.address(), scale, out.address());
      squares.close();
    }
    return Autograd.record("mse", out, g -> {
      Tensor dx = input.requiresGrad() ? Tensor.emptyLike(input) : null;
      Tensor dy = target.requiresGrad() ? Tensor.emptyLike(target) : null;
      driver.launch(MSE_BACKWARD, n, input.address(), target.address(), g.address(), reduction == Reduction.NONE ? 1L : 0L,
          scale, address(dx), address(dy));
      return new Tensor[] {dx, dy};
    }, input, target);
  }
}
