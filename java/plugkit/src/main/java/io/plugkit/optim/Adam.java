package io.plugkit.optim;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.driver.Kernel;
import java.util.Collection;
import java.util.List;

/**
 * Adam and AdamW with the exact updates of torch.optim.Adam / torch.optim.AdamW (PyTorch 1.13),
 * kernel adam_step in cuda-kernels/optim.cu. Each parameter counts its own steps t (a step where
 * its gradient is null does not count); the bias corrections are {@code stepSize = lr / (1 -
 * beta1^t)} and {@code sqrt(1 - beta2^t)}, computed in double. Weight decay is added to the
 * gradient (Adam) or, with {@link Options#decoupledWeightDecay()}, applied as {@code p *= 1 - lr *
 * weightDecay} (AdamW). State (exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad) is allocated
 * in the constructor (see {@link Optimizer} on lifetime).
 */
public final class Adam extends Optimizer {
  static final Kernel ADAM_STEP =
      Kernel.of("adam_step", PTR, PTR, PTR, PTR, PTR, F32, F32, F32, F32, F32, I32, F32, F32, I32);

  /** Adam hyper-parameters. {@link #lr} gives torch.optim.Adam's defaults, {@link #adamW} AdamW's. */
  public record Options(float lr, float beta1, float beta2, float eps, float weightDecay, boolean amsgrad,
      boolean decoupledWeightDecay, boolean maximize) {
    public Options {
      nonNegative(lr, "lr");
      nonNegative(eps, "eps");
      nonNegative(weightDecay, "weightDecay");
      if (!(beta1 >= 0f && beta1 < 1f)) throw new IllegalArgumentException("beta1: expected a value in [0, 1) but got " + beta1);
      if (!(beta2 >= 0f && beta2 < 1f)) throw new IllegalArgumentException("beta2: expected a value in [0, 1) but got " + beta2);
    }

    /** Adam: betas (0.9, 0.999), eps 1e-8, no weight decay. */
    public static Options lr(float lr) { return new Options(lr, 0.9f, 0.999f, 1e-8f, 0f, false, false, false); }

    /** AdamW: betas (0.9, 0.999), eps 1e-8, decoupled weight decay 0.01. */
    public static Options adamW(float lr) { return new Options(lr, 0.9f, 0.999f, 1e-8f, 0.01f, false, true, false); }

    public Options withBetas(float b1, float b2) { return new Options(lr, b1, b2, eps, weightDecay, amsgrad, decoupledWeightDecay, maximize); }

    public Options withEps(float e) { return new Options(lr, beta1, beta2, e, weightDecay, amsgrad, decoupledWeightDecay, maximize); }

    public Options withWeightDecay(float w) { return new Options(lr, beta1, beta2, eps, w, amsgrad, decoupledWeightDecay, maximize); }

    public Options withAmsgrad(boolean a) { return new Options(lr, beta1, beta2, eps, weightDecay, a, decoupledWeightDecay, maximize); }

    public Options withDecoupledWeightDecay(boolean d) { return new Options(lr, beta1, beta2, eps, weightDecay, amsgrad, d, maximize); }

    public Options withMaximize(boolean m) { return new Options(lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay, m); }
  }

  private Options options;
  private final List<Tensor> expAvg;
  private final List<Tensor> expAvgSq;
  private final List<Tensor> maxExpAvgSq;
  private final int[] steps;

  public Adam(Collection<Tensor> params, Options options) {
    super(params);
    if (options == null) throw new IllegalArgumentException("options: expected Adam options but got null");
    this.options = options;
    this.expAvg = zerosLikeParameters();
    this.expAvgSq = zerosLikeParameters();
    this.maxExpAvgSq = options.amsgrad() ? zerosLikeParameters() : null;
    this.steps = new int[params.size()];
  }

  public Options options() { return options; }

  /** Changes the learning rate (for schedules); the other options stay. */
  public void setLr(float lr) {
    Options o = options;
    options = new Options(lr, o.beta1(), o.beta2(), o.eps(), o.weightDecay(), o.amsgrad(), o.decoupledWeightDecay(), o.maximize());
  }

  /** How many updates parameter {@code index} has had. */
  public int steps(int index) { return steps[index]; }

  @Override protected void update(int index, Tensor param, Tensor grad) {
    Options o = options;
    int t = ++steps[index];
    double biasCorrection1 = 1 - Math.pow(o.beta1(), t);
    double biasCorrection2 = 1 - Math.pow(o.beta2(), t);
    float stepSize = (float) (o.lr() / biasCorrection1);
    float biasCorrection2Sqrt = (float) Math.sqrt(biasCorrection2);
    long max = maxExpAvgSq == null ? 0L : maxExpAvgSq.get(index).address();
    param.driver().launch(ADAM_STEP, param.numel(), param.address(), grad.address(), expAvg.get(index).address(),
        expAvgSq.get(index).address(), max, o.lr(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(),
        o.decoupledWeightDecay() ? 1 : 0, stepSize, biasCorrection2Sqrt, o.maximize() ? 1 : 0);
  }
}
