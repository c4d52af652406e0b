package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Interpolate;
import io.plugkit.ops.InterpolateOptions;

/**
 * torch.nn.Upsample (modes nearest, nearest-exact, bilinear, bicubic, area, with size or scale
 * factors): see {@link Interpolate#interpolate(Tensor, InterpolateOptions)}. No parameters.
 */
public final class Upsample extends Module {
  private final InterpolateOptions options;

  public Upsample(InterpolateOptions options) { this.options = options; }

  @Override public Tensor forward(Tensor x) { return Interpolate.interpolate(x, options); }
}
