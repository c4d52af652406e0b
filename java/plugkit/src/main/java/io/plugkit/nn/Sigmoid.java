package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;

/** torch.nn.Sigmoid. No parameters. Output shape = input shape. */
public final class Sigmoid extends Module {
  @Override public Tensor forward(Tensor x) { return Activations.sigmoid(x); }
}
