package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.AvgPool2dOptions;
import io.plugkit.ops.Pooling;

/** torch.nn.AvgPool2d: see {@link Pooling#avgPool2d(Tensor, AvgPool2dOptions)} for shapes. No parameters. */
public final class AvgPool2d extends Module {
  private final AvgPool2dOptions options;

  public AvgPool2d(AvgPool2dOptions options) { this.options = options; }

  public AvgPool2d(int... kernel) { this(AvgPool2dOptions.kernel(kernel)); }

  @Override public Tensor forward(Tensor x) { return Pooling.avgPool2d(x, options); }
}
