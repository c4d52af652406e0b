package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;

/** {@code max(x, 0)} elementwise (torch.nn.ReLU); no parameters. Output shape = input shape. */
public final class ReLU extends Module {
  @Override public Tensor forward(Tensor x) { return Activations.relu(x); }
}
