package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/** Elementwise activations (cuda-kernels/activation.cu). Output shape = input shape. */
public final class Activations {
  static final Kernel RELU_FORWARD = Kernel.of("relu_forward", PTR, PTR);
  static final Kernel RELU_BACKWARD = Kernel.of("relu_backward", PTR, PTR, PTR);

  private Activations() {}

  /** max(x, 0); the gradient at exactly 0 is 0, as in PyTorch. */
  public static Tensor relu(Tensor x) {
    Checks.tensor(x, "x");
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(RELU_FORWARD, x.numel(), x.address(), y.address());
    return Autograd.record("relu", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(RELU_BACKWARD, x.numel(), x.address(), g.address(), dx.address());
      return new Tensor[] {dx};
    }, x);
  }
}
