package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Checks;
import io.plugkit.ops.Padding;

/**
 * torch.nn.ConstantPad2d(padding, value): pads the last two dims with {@code value}
 * ({@code F.pad(x, padding, 'constant', value)}); negative pads crop. {@code padding} is one int
 * for all sides or (left, right, top, bottom). Input of any rank >= 2, as F.pad's constant mode:
 * [..., H, W] -> [..., H + top + bottom, W + left + right]; see {@link Padding#pad2d} for the
 * size rules. Backward: the gradient of the kept values, zero where the output was padding.
 */
public class ConstantPad2d extends Pad2d {
  private final float value;

  public ConstantPad2d(int padding, float value) {
    super(padding, Padding.Mode.CONSTANT);
    this.value = value;
  }

  public ConstantPad2d(int[] padding, float value) {
    super(padding, Padding.Mode.CONSTANT);
    this.value = value;
  }

  /** The fill value. */
  @Override public final float value() { return value; }

  @Override public final Tensor forward(Tensor x) {
    Checks.tensor(x, "x");
    int rank = x.rank();
    if (rank == 3 || rank == 4) return super.forward(x);
    if (rank < 2) {
      throw new IllegalArgumentException("x: expected rank >= 2 (the padded dims last) but got shape " + x.shape());
    }
    // pad2d takes [N, C, H, W]: fold the leading dims into C (a view), pad, unfold. Reshape records its backward.
    int[] dims = x.dims();
    long planes = 1;
    for (int i = 0; i < rank - 2; i++) planes *= dims[i];
    if (planes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("x: expected at most " + Integer.MAX_VALUE + " planes but got shape " + x.shape());
    }
    Tensor y = super.forward(x.reshape(1, (int) planes, dims[rank - 2], dims[rank - 1]));
    dims[rank - 2] = y.dim(2);
    dims[rank - 1] = y.dim(3);
    return y.reshape(dims);
  }
}
