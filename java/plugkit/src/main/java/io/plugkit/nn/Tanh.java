package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;

/** torch.nn.Tanh. No parameters. Output shape = input shape. */
public final class Tanh extends Module {
  @Override public Tensor forward(Tensor x) { return Activations.tanh(x); }
}
