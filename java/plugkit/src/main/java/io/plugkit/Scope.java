package io.plugkit;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Ownership of tensors: every tensor belongs to the innermost scope open on the thread that made
 * it, and is freed when that scope closes, unless moved out with {@link #keep(Tensor)}. Scopes
 * nest and close in reverse order on the thread that opened them. Gradients of a leaf tensor
 * belong to the leaf's scope, so parameters and their gradients outlive per-step scopes.
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *   Tensor loss = Losses.mse(model.forward(x), y);
 *   loss.backward();
 * } // every intermediate of the step is freed here
 * }</pre>
 */
public final class Scope implements AutoCloseable {
  private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

  /** Guarded by this; replaced, not copied, at close. */
  private List<Tensor> tensors = new ArrayList<>();
  private final Thread owner = Thread.currentThread();
  private final Scope parent;
  private boolean closed;

  private Scope(Scope parent) { this.parent = parent; }

  public static Scope open() {
    ArrayDeque<Scope> stack = STACK.get();
    Scope s = new Scope(stack.peek());
    stack.push(s);
    return s;
  }

  /** The innermost open scope of this thread. */
  static Scope current() {
    Scope s = STACK.get().peek();
    if (s == null) {
      throw new IllegalStateException("no Scope is open on this thread: make tensors inside "
          + "try (Scope scope = Scope.open()) { ... }");
    }
    return s;
  }

  synchronized void add(Tensor t) {
    if (closed) throw new IllegalStateException("this Scope is closed");
    tensors.add(t);
  }

  /** Moves {@code t} to the enclosing scope (or, at the outermost scope, to the caller, who closes it). */
  public synchronized Tensor keep(Tensor t) {
    if (t.owner() != this) throw new IllegalArgumentException("t: expected a tensor of this scope");
    tensors.remove(t);
    t.setOwner(parent);
    if (parent != null) parent.add(t);
    return t;
  }

  /** Moves {@code t} from its scope to {@code to} (null: the caller's, freed with its new holder). */
  static void move(Tensor t, Scope to) {
    Scope from = t.owner();
    if (from == to) return;
    if (from != null) {
      synchronized (from) {
        from.tensors.remove(t);
      }
    }
    t.setOwner(to);
    if (to != null) to.add(t);
  }

  /** Number of tensors this scope still owns (freed ones excluded). */
  public synchronized int size() {
    int n = 0;
    for (Tensor t : tensors) if (!t.isFreed()) n++;
    return n;
  }

  /** Entries in this scope's list, freed ones included (for tests of what stays listed). */
  synchronized int entries() { return tensors.size(); }

  @Override public void close() {
    if (closed) return;
    if (Thread.currentThread() != owner) {
      throw new IllegalStateException("a Scope must be closed on the thread that opened it (" + owner.getName() + ")");
    }
    ArrayDeque<Scope> stack = STACK.get();
    if (stack.peek() != this) throw new IllegalStateException("scopes must close innermost first");
    stack.pop();
    List<Tensor> owned;
    synchronized (this) {
      closed = true;
      owned = tensors;
      tensors = new ArrayList<>(0);
    }
    for (Tensor t : owned) t.free();
  }
}
