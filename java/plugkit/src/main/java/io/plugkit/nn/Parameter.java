package io.plugkit.nn;

import io.plugkit.Shape;
import io.plugkit.Tensor;

/**
 * A trainable tensor of a {@link Module}: a leaf F32 tensor with {@code requiresGrad(true)},
 * owned by the {@link io.plugkit.Scope} open when it was made (so it and its gradient outlive
 * per-step scopes). Made by {@link Module#registerParameter}; loading a state dict overwrites its
 * values in place, so optimizers holding {@link #tensor()} keep working.
 */
public final class Parameter {
  private final Tensor tensor;

  Parameter(Tensor tensor) {
    this.tensor = tensor;
    tensor.requiresGrad(true);
  }

  /** The tensor to pass to ops. */
  public Tensor tensor() { return tensor; }

  /** The accumulated gradient, or null before a backward reached it. */
  public Tensor grad() { return tensor.grad(); }

  public Shape shape() { return tensor.shape(); }
}
