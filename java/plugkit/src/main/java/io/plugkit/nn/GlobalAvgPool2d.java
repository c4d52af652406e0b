package io.plugkit.nn;

import io.plugkit.Tensor;
import io.plugkit.ops.Pooling;

/** torch.nn.AdaptiveAvgPool2d(1): [N,C,H,W] -> [N,C,1,1]. No parameters. */
public final class GlobalAvgPool2d extends Module {
  @Override public Tensor forward(Tensor x) { return Pooling.globalAvgPool2d(x); }
}
