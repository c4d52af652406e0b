package io.plugkit.nn;

import io.plugkit.Tensor;

/**
 * torch.nn.Dropout(p): in training zeroes each value with probability p and scales the rest by
 * 1 / (1 - p) ({@link io.plugkit.ops.Dropout#dropout}); in eval returns its input. No parameters.
 * Like PyTorch's attribute, {@code p} can be changed after construction.
 */
public final class Dropout extends Module {
  private float p;

  /** p = 0.5, PyTorch's default. */
  public Dropout() { this(0.5f); }

  public Dropout(float p) {
    io.plugkit.ops.Dropout.checkP(p);
    this.p = p;
  }

  public float p() { return p; }

  /** Sets p (in [0, 1]); returns this. */
  public Dropout p(float p) {
    io.plugkit.ops.Dropout.checkP(p);
    this.p = p;
    return this;
  }

  @Override public Tensor forward(Tensor x) { return io.plugkit.ops.Dropout.dropout(x, p, isTraining()); }
}
