package io.plugkit.nn;

import io.plugkit.Tensor;

/** torch.nn.Flatten(): [N, d1, d2, ...] -> [N, d1*d2*...] (a view). No parameters. */
public final class Flatten extends Module {
  @Override public Tensor forward(Tensor x) {
    if (x.rank() < 1) throw new IllegalArgumentException("x: expected rank >= 1 but got rank 0");
    return x.reshape(x.dim(0), -1);
  }
}
