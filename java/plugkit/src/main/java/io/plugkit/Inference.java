package io.plugkit;

import io.plugkit.autograd.GradMode;

/**
 * One inference request on the calling thread: a {@link Scope} that owns every tensor the request
 * makes, with grad recording off, both undone on close (the scope frees its tensors, the previous
 * grad mode returns). Pair it with a model {@link io.plugkit.nn.Module#freeze() frozen} once at
 * startup:
 *
 * <pre>{@code
 * try (Inference request = Inference.open()) {
 *   Tensor x = Tensor.empty(device, 1, 3, 224, 224);
 *   x.copyFrom(pixels, 0);
 *   model.forward(x).copyTo(scores, 0);
 * } // every tensor of the request is freed here
 * }</pre>
 *
 * <p>Like a Scope, an Inference belongs to the thread that opened it and must be closed there,
 * innermost first.
 */
public final class Inference implements AutoCloseable {
  private final GradMode.Restore grad;
  private final Scope scope;
  private boolean closed;

  private Inference(GradMode.Restore grad, Scope scope) {
    this.grad = grad;
    this.scope = scope;
  }

  /** Turns grad recording off on this thread and opens a scope for the request's tensors. */
  public static Inference open() {
    GradMode.Restore grad = GradMode.disable();
    try {
      return new Inference(grad, Scope.open());
    } catch (RuntimeException e) {
      grad.close();
      throw e;
    }
  }

  /** The request's scope. */
  public Scope scope() { return scope; }

  /** Moves {@code t} out of the request to the enclosing scope (see {@link Scope#keep}). */
  public Tensor keep(Tensor t) { return scope.keep(t); }

  /** Frees the request's tensors and restores the previous grad mode. */
  @Override public void close() {
    if (closed) return;
    closed = true;
    try {
      scope.close();
    } finally {
      grad.close();
    }
  }
}
