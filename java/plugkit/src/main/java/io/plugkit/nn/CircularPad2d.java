package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Checks;
import io.plugkit.ops.Padding;

/**
 * torch.nn.CircularPad2d(padding): wraps the input around ({@code F.pad(x, padding, 'circular')}).
 * This is PyTorch 2.1's module: PyTorch 1.13, whose semantics plugkit otherwise follows, has no
 * CircularPad2d and offers circular padding only as {@code F.pad(x, pad, mode='circular')} on
 * [N, C, H, W]; the golden fixtures come from that call.
 *
 * <p>{@code padding} is one int for all sides or (left, right, top, bottom), each at most the size
 * of its dim (no wrapping more than once; negative pads crop). Input [N, C, H, W] or, as in 2.1,
 * unbatched [C, H, W] (padded as [1, C, H, W]) -> [..., H + top + bottom, W + left + right]. See
 * {@link Padding#pad2d} for the rules.
 */
public final class CircularPad2d extends Pad2d {
  public CircularPad2d(int padding) { super(padding, Padding.Mode.CIRCULAR); }

  public CircularPad2d(int[] padding) { super(padding, Padding.Mode.CIRCULAR); }

  @Override public Tensor forward(Tensor x) {
    Checks.tensor(x, "x");
    if (x.rank() != 3) return super.forward(x);
    // PyTorch 2.1 pads an unbatched input as a batch of one; reshape is a view and records its backward.
    Tensor y = super.forward(x.reshape(1, x.dim(0), x.dim(1), x.dim(2)));
    return y.reshape(y.dim(1), y.dim(2), y.dim(3));
  }
}
