package io.plugkit.optim;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.driver.Kernel;
import java.util.Collection;
import java.util.List;

/**
 * Stochastic gradient descent with the exact update of torch.optim.SGD (PyTorch 1.13), kernel
 * sgd_step in cuda-kernels/optim.cu: {@code d = g + weightDecay * p}; with momentum the buffer
 * is {@code d} on a parameter's first step and {@code momentum * buf + (1 - dampening) * d}
 * after; Nesterov uses {@code d + momentum * buf}, plain momentum {@code buf}; {@code p -= lr * d}.
 * Momentum buffers are allocated in the constructor (see {@link Optimizer} on lifetime).
 */
public final class Sgd extends Optimizer {
  static final Kernel SGD_STEP = Kernel.of("sgd_step", PTR, PTR, PTR, F32, F32, F32, F32, I32, I32, I32);

  /** SGD hyper-parameters; defaults as torch.optim.SGD (all 0, no Nesterov, minimize). */
  public record Options(float lr, float momentum, float dampening, float weightDecay, boolean nesterov, boolean maximize) {
    public Options {
      nonNegative(lr, "lr");
      nonNegative(momentum, "momentum");
      if (!(dampening >= 0f && dampening <= 1f)) throw new IllegalArgumentException("dampening: expected a value in [0, 1] but got " + dampening);
      nonNegative(weightDecay, "weightDecay");
      if (nesterov && (momentum <= 0f || dampening != 0f)) {
        throw new IllegalArgumentException("nesterov: expected momentum > 0 and dampening 0 but got momentum " + momentum
            + " and dampening " + dampening);
      }
    }

    public static Options lr(float lr) { return new Options(lr, 0f, 0f, 0f, false, false); }

    public Options withMomentum(float m) { return new Options(lr, m, dampening, weightDecay, nesterov, maximize); }

    public Options withDampening(float d) { return new Options(lr, momentum, d, weightDecay, nesterov, maximize); }

    public Options withWeightDecay(float w) { return new Options(lr, momentum, dampening, w, nesterov, maximize); }

    public Options withNesterov(boolean n) { return new Options(lr, momentum, dampening, weightDecay, n, maximize); }

    public Options withMaximize(boolean m) { return new Options(lr, momentum, dampening, weightDecay, nesterov, m); }
  }

  private Options options;
  private final List<Tensor> momentumBuffers;
  private final boolean[] started;

  public Sgd(Collection<Tensor> params, Options options) {
    super(params);
    if (options == null) throw new IllegalArgumentException("options: expected SGD options but got null");
    this.options = options;
    this.momentumBuffers = options.momentum() != 0f ? zerosLikeParameters() : null;
    this.started = new boolean[params.size()];
  }

  public Options options() { return options; }

  /** Changes the learning rate (for schedules); the other options stay. */
  public void setLr(float lr) {
    options = new Options(lr, options.momentum(), options.dampening(), options.weightDecay(), options.nesterov(), options.maximize());
  }

  @Override protected void update(int index, Tensor param, Tensor grad) {
    Options o = options;
    long buffer = momentumBuffers == null ? 0L : momentumBuffers.get(index).address();
    param.driver().launch(SGD_STEP, param.numel(), param.address(), grad.address(), buffer, o.lr(), o.momentum(),
        o.dampening(), o.weightDecay(), o.nesterov() ? 1 : 0, started[index] ? 0 : 1, o.maximize() ? 1 : 0);
    started[index] = true;
  }
}
