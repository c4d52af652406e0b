package io.plugkit.optim;

import io.plugkit.DType;
import io.plugkit.Tensor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * Updates a fixed list of parameters (leaf F32 tensors) from their gradients.
 *
 * <p>Lifetime: an optimizer allocates all its state (momentum buffers, moment estimates) in its
 * constructor, in the {@link io.plugkit.Scope} open at that moment. Build it in the scope that
 * owns the model (or one that outlives training), never inside a per-step scope; steps allocate
 * nothing, so they may run inside per-step scopes that free only the step's own tensors:
 *
 * <pre>{@code
 * try (Scope model = Scope.open()) {
 *   Module net = ...;
 *   Optimizer opt = new Sgd(net.parameters(), Sgd.Options.lr(0.1f));
 *   for (...) {
 *     try (Scope step = Scope.open()) {
 *       opt.zeroGrad();
 *       Losses.mse(net.forward(x), y, Reduction.MEAN).backward();
 *       opt.step();
 *     }
 *   }
 * }
 * }</pre>
 *
 * A parameter whose gradient is null (no backward reached it) is skipped by {@link #step()}, as in
 * PyTorch.
 */
public abstract class Optimizer {
  private final List<Tensor> params;

  protected Optimizer(Collection<Tensor> params) {
    if (params == null || params.isEmpty()) {
      throw new IllegalArgumentException("params: expected at least one parameter but got " + (params == null ? "null" : "none"));
    }
    IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
    int i = 0;
    for (Tensor p : params) {
      String name = "params[" + i++ + "]";
      if (p == null) throw new IllegalArgumentException(name + ": expected a tensor but got null");
      if (p.isFreed()) throw new IllegalArgumentException(name + ": expected a live tensor but it was freed");
      if (p.dtype() != DType.F32) throw new IllegalArgumentException(name + ": expected dtype F32 but got " + p.dtype());
      if (p.gradFn() != null) throw new IllegalArgumentException(name + ": expected a leaf tensor but it is the output of an op");
      if (seen.put(p, true) != null) throw new IllegalArgumentException(name + ": expected distinct parameters but it appears twice");
    }
    this.params = Collections.unmodifiableList(new ArrayList<>(params));
  }

  /** The parameters, in the order given. */
  public final List<Tensor> parameters() { return params; }

  /** Sets every parameter's gradient to zero (keeping its memory). */
  public final void zeroGrad() {
    for (Tensor p : params) p.zeroGrad();
  }

  /** One update of every parameter that has a gradient. */
  public final void step() {
    for (int i = 0; i < params.size(); i++) {
      Tensor p = params.get(i);
      if (p.isFreed()) {
        throw new IllegalStateException("params[" + i + "] " + p.shape() + " was freed: its Scope closed before the optimizer's last step");
      }
      Tensor g = p.grad();
      if (g != null) update(i, p, g);
    }
  }

  /** Applies one update to parameter {@code index} from gradient {@code grad} (same shape). */
  protected abstract void update(int index, Tensor param, Tensor grad);

  /** The state tensors of each parameter (zeros, same shape), allocated in the current scope. */
  protected final List<Tensor> zerosLikeParameters() {
    List<Tensor> out = new ArrayList<>(params.size());
    for (Tensor p : params) out.add(Tensor.zerosLike(p));
    return out;
  }

  static float nonNegative(float v, String name) {
    if (!(v >= 0f) || Float.isInfinite(v)) throw new IllegalArgumentException(name + ": expected a finite value >= 0 but got " + v);
    return v;
  }
}
