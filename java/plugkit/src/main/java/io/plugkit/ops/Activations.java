package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/** Elementwise activations (cuda-kernels/activation.cu). Output shape = input shape. */
public final class Activations {
  static final Kernel RELU_FORWARD = Kernel.of("relu_forward", PTR, PTR);
  static final Kernel RELU_BACKWARD = Kernel.of("relu_backward", PTR, PTR, PTR);
  static final Kernel SIGMOID_FORWARD = Kernel.of("sigmoid_forward", PTR, PTR);
  static final Kernel SIGMOID_BACKWARD = Kernel.of("sigmoid_backward", PTR, PTR, PTR);
  static final Kernel TANH_FORWARD = Kernel.of("tanh_forward", PTR, PTR);
  static final Kernel TANH_BACKWARD = Kernel.of("tanh_backward", PTR, PTR, PTR);
  static final Kernel LEAKY_RELU_FORWARD = Kernel.of("leaky_relu_forward", PTR, PTR, F32);
  static final Kernel LEAKY_RELU_BACKWARD = Kernel.of("leaky_relu_backward", PTR, PTR, PTR, F32);

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

  /**
   * PyTorch's leaky_relu: {@code x > 0 ? x : x * negativeSlope}, any slope (NaN and infinities
   * included). A NaN input gives NaN; the gradient is {@code dy} where x > 0 and
   * {@code dy * negativeSlope} elsewhere, at exactly 0 and at NaN inputs too.
   */
  public static Tensor leakyRelu(Tensor x, float negativeSlope) {
    Checks.tensor(x, "x");
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(LEAKY_RELU_FORWARD, x.numel(), x.address(), y.address(), negativeSlope);
    return Autograd.record("leaky_relu", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(LEAKY_RELU_BACKWARD, x.numel(), x.address(), g.address(), dx.address(), negativeSlope);
      return new Tensor[] {dx};
    }, x);
  }

  /** 1 / (1 + exp(-x)); the backward uses the saved output: dx = dy * y * (1 - y). */
  public static Tensor sigmoid(Tensor x) { return fromOutput("sigmoid", x, SIGMOID_FORWARD, SIGMOID_BACKWARD); }

  /** tanh(x); the backward uses the saved output: dx = dy * (1 - y^2). */
  public static Tensor tanh(Tensor x) { return fromOutput("tanh", x, TANH_FORWARD, TANH_BACKWARD); }

  /** An activation whose derivative is a function of its output (kernel: y, dy -> dx). */
  private static Tensor fromOutput(String op, Tensor x, Kernel forward, Kernel backward) {
    Checks.tensor(x, "x");
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(forward, x.numel(), x.address(), y.address());
    return Autograd.record(op, y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(backward, x.numel(), y.address(), g.address(), dx.address());
      return new Tensor[] {dx};
    }, x);
  }
}
