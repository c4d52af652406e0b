package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Checks;
import io.plugkit.ops.Padding;
import java.util.Arrays;

/**
 * The padding modules' common part (PyTorch's {@code _ConstantPadNd}, {@code _ReflectionPadNd},
 * ... for 2d): a padding {@code (left, right, top, bottom)}, from one int for all four sides as
 * PyTorch's {@code _quadruple}, applied by {@link Padding#pad2d(Tensor, int[], Padding.Mode, float)}
 * whose rules (and error messages) apply in forward. No parameters, no buffers.
 */
abstract class Pad2d extends Module {
  private final int[] padding;
  private final Padding.Mode mode;

  Pad2d(int padding, Padding.Mode mode) { this(new int[] {padding, padding, padding, padding}, mode); }

  /**
   * Negative values crop, as in PyTorch. PyTorch also takes a tuple of another length here and
   * fails (or pads fewer dims) in forward; a 2d module takes exactly four values.
   */
  Pad2d(int[] padding, Padding.Mode mode) {
    if (padding == null || padding.length != 4) {
      throw new IllegalArgumentException("padding: expected one int or 4 values (left, right, top, bottom) but got "
          + Arrays.toString(padding));
    }
    this.padding = padding.clone();
    this.mode = mode;
  }

  /** The padding (left, right, top, bottom), a copy. */
  public final int[] padding() { return padding.clone(); }

  /** The value outside the input (0 but for {@link ConstantPad2d}). */
  float value() { return 0f; }

  /** {@code pad2d} on [N, C, H, W] or [C, H, W], as PyTorch's modes accept them. */
  @Override public Tensor forward(Tensor x) {
    Checks.tensor(x, "x");
    return Padding.pad2d(x, padding, mode, value());
  }

  /**
   * As PyTorch 1.13 prints the module: {@code ReflectionPad2d((1, 1, 2, 0))}, but
   * {@code ConstantPad2d(padding=(1, 1, 2, 0), value=1.5)}.
   */
  @Override public String toString() {
    String p = "(" + padding[0] + ", " + padding[1] + ", " + padding[2] + ", " + padding[3] + ")";
    boolean constant = mode == Padding.Mode.CONSTANT && !(this instanceof ZeroPad2d);
    return getClass().getSimpleName() + "(" + (constant ? "padding=" + p + ", value=" + value() : p) + ")";
  }
}
