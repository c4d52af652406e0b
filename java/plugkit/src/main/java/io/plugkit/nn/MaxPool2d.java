package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.MaxPool2dOptions;
import io.plugkit.ops.Pooling;

/** torch.nn.MaxPool2d: see {@link Pooling#maxPool2d(Tensor, MaxPool2dOptions)} for shapes. No parameters. */
public final class MaxPool2d extends Module {
  private final MaxPool2dOptions options;

  public MaxPool2d(MaxPool2dOptions options) { this.options = options; }

  public MaxPool2d(int... kernel) { this(MaxPool2dOptions.kernel(kernel)); }

  @Override public Tensor forward(Tensor x) { return Pooling.maxPool2d(x, options); }
}
