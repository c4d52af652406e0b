package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;

/**
 * torch.nn.LeakyReLU(negative_slope): {@code x > 0 ? x : x * negativeSlope} elementwise (see
 * {@link Activations#leakyRelu}); no parameters. Output shape = input shape.
 */
public final class LeakyReLU extends Module {
  private final float negativeSlope;

  /** PyTorch's default slope, 0.01. */
  public LeakyReLU() { this(0.01f); }

  public LeakyReLU(float negativeSlope) { this.negativeSlope = negativeSlope; }

  public float negativeSlope() { return negativeSlope; }

  @Override public Tensor forward(Tensor x) { return Activations.leakyRelu(x, negativeSlope); }
}
