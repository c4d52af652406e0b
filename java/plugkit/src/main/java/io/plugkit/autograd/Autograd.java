package io.plugkit.autograd;

import io.plugkit.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** Records op backwards and runs them in reverse tape order. */
public final class Autograd {
  private Autograd() {}

  /**
   * Told, once per backward pass that reaches {@code leaf}, that the pass will add nothing more to
   * its gradient ({@code received}: whether the pass added any). Runs on the backward's thread,
   * with grad mode off, in the middle of the pass (data-parallel training launches a gradient
   * all-reduce from here while the backward goes on).
   */
  @FunctionalInterface
  public interface LeafHook {
    void gradientFinal(Tensor leaf, boolean received);
  }

  /** Removes a hook; idempotent. */
  public interface Registration extends AutoCloseable {
    @Override void close();
  }

  // Weak keys (identity: Tensor keeps Object's equals): a dropped tensor takes its hooks along.
  private static final Map<Tensor, List<LeafHook>> HOOKS = Collections.synchronizedMap(new WeakHashMap<>());
  private static final AtomicInteger HOOK_COUNT = new AtomicInteger(); // 0: backward skips the bookkeeping
  private static final ThreadLocal<List<Runnable>> PASS_CALLBACKS = new ThreadLocal<>();

  /**
   * Calls {@code hook} in every later backward pass that reaches {@code leaf} (a tensor that
   * requires grad and is no op's output), when its gradient is final for that pass. Hooks of one
   * leaf run in registration order. Passes that do not reach the leaf do not call it.
   */
  public static Registration onGradientFinal(Tensor leaf, LeafHook hook) {
    if (leaf == null) throw new IllegalArgumentException("leaf: expected a tensor but got null");
    if (hook == null) throw new IllegalArgumentException("hook: expected a LeafHook but got null");
    if (leaf.gradFn() != null) throw new IllegalArgumentException("leaf: expected a leaf tensor but it is the output of an op");
    if (!leaf.requiresGrad()) throw new IllegalArgumentException("leaf: expected a tensor that requires grad");
    HOOKS.computeIfAbsent(leaf, k -> new CopyOnWriteArrayList<>()).add(hook);
    HOOK_COUNT.incrementAndGet();
    boolean[] removed = {false};
    return () -> {
      synchronized (removed) {
        if (removed[0]) return;
        removed[0] = true;
      }
      List<LeafHook> list = HOOKS.get(leaf);
      if (list != null && list.remove(hook)) HOOK_COUNT.decrementAndGet();
    };
  }

  /**
   * Runs {@code callback} when the backward pass running on this thread has finished (after every
   * gradient is accumulated; callbacks in queue order), as PyTorch's queue_callback. A pass that
   * throws drops its callbacks. Only valid inside a pass (from a {@link LeafHook} or a BackwardFn).
   */
  public static void queueCallback(Runnable callback) {
    if (callback == null) throw new IllegalArgumentException("callback: expected a Runnable but got null");
    List<Runnable> queue = PASS_CALLBACKS.get();
    if (queue == null) throw new IllegalStateException("queueCallback: no backward pass is running on this thread");
    queue.add(callback);
  }

  /** True when an op with these inputs must record its backward. */
  public static boolean needsGrad(Tensor... inputs) {
    if (!GradMode.isEnabled()) return false;
    for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
    return false;
  }

  /** Attaches {@code backward} to {@code output} when any input requires a gradient. Returns output. */
  public static Tensor record(String op, Tensor output, BackwardFn backward, Tensor... inputs) {
    if (needsGrad(inputs)) output.attachGradFn(new Node(op, inputs.clone(), backward));
    return output;
  }

  /**
   * Back-propagates {@code seed} (the gradient of {@code root}) through the tape and accumulates
   * into the {@code grad()} of every leaf that requires a gradient. Runs with grad mode off. Calls
   * each hooked leaf's {@link LeafHook} right after the last node feeding it ran, then the
   * callbacks the pass queued.
   */
  public static void backward(Tensor root, Tensor seed) {
    List<Runnable> outer = PASS_CALLBACKS.get();
    List<Runnable> callbacks = new ArrayList<>();
    PASS_CALLBACKS.set(callbacks);
    try {
      run(root, seed);
      // A callback may queue more (they run too); the pass's hooks have all fired by now.
      try (var off = GradMode.disable()) {
        for (int i = 0; i < callbacks.size(); i++) callbacks.get(i).run();
      }
    } finally {
      PASS_CALLBACKS.set(outer);
    }
  }

  private static void run(Tensor root, Tensor seed) {
    Node top = root.gradFn();
    if (top == null) {
      if (root.requiresGrad()) {
        root.accumulateGrad(seed);
        try (var off = GradMode.disable()) {
          fire(root, true);
        }
      }
      return;
    }
    try (var off = GradMode.disable()) {
      long mark = Tensor.allocationMark(); // gradients allocated after it are this pass's own
      List<Node> order = reachable(top);
      order.sort(Comparator.comparingLong((Node n) -> n.seq).reversed());
      Map<Node, Tensor> pending = new IdentityHashMap<>();
      pending.put(top, seed);
      // Hooked leaves: edges from nodes still to run, and whether a gradient came this pass.
      Map<Tensor, int[]> hooked = HOOK_COUNT.get() == 0 ? null : hookedLeaves(order);
      for (Node node : order) {
        Tensor g = pending.remove(node);
        if (g == null) {
          if (hooked != null) leavesDone(node, null, hooked);
          continue;
        }
        Tensor[] grads = node.backward.apply(g);
        if (grads.length != node.inputs.length) {
          throw new IllegalStateException(node.op + ": backward returned " + grads.length + " gradients for "
              + node.inputs.length + " inputs");
        }
        for (int i = 0; i < grads.length; i++) {
          Tensor in = node.inputs[i];
          if (grads[i] == null || in == null || !in.requiresGrad()) continue;
          if (!grads[i].shape().equals(in.shape())) {
            throw new IllegalStateException(node.op + ": gradient of input " + i + " has shape " + grads[i].shape()
                + " but the input has " + in.shape());
          }
          Node producer = in.gradFn();
          if (producer == null) {
            if (adoptable(grads, i, seed, mark)) in.accumulateGradAdopting(grads[i]);
            else in.accumulateGrad(grads[i]);
          } else {
            Tensor prev = pending.get(producer);
            pending.put(producer, prev == null ? grads[i] : prev.plus(grads[i]));
          }
        }
        if (hooked != null) leavesDone(node, grads, hooked);
      }
    }
  }

  private static Map<Tensor, int[]> hookedLeaves(List<Node> order) {
    Map<Tensor, int[]> out = new IdentityHashMap<>();
    for (Node n : order) {
      for (Tensor in : n.inputs) {
        if (in == null || in.gradFn() != null || !in.requiresGrad()) continue;
        int[] c = out.get(in);
        if (c == null) {
          List<LeafHook> hooks = HOOKS.get(in);
          if (hooks == null || hooks.isEmpty()) continue;
          out.put(in, c = new int[2]); // {edges left, received}
        }
        c[0]++;
      }
    }
    return out.isEmpty() ? null : out;
  }

  /** After {@code node} ran (grads) or was skipped (null): fires the hooks of leaves it was the last edge of. */
  private static void leavesDone(Node node, Tensor[] grads, Map<Tensor, int[]> hooked) {
    for (int i = 0; i < node.inputs.length; i++) {
      int[] c = hooked.get(node.inputs[i]);
      if (c == null) continue;
      if (grads != null && grads[i] != null) c[1] = 1;
      if (--c[0] == 0) fire(node.inputs[i], c[1] == 1);
    }
  }

  private static void fire(Tensor leaf, boolean received) {
    List<LeafHook> hooks = HOOK_COUNT.get() == 0 ? null : HOOKS.get(leaf);
    if (hooks != null) for (LeafHook h : hooks) h.gradientFinal(leaf, received);
  }

  /**
   * True when a leaf may take grads[i] itself rather than a copy: allocated by this backward pass
   * (not the seed, not a tensor a closure kept from the forward), and not also given to another input.
   */
  private static boolean adoptable(Tensor[] grads, int i, Tensor seed, long mark) {
    Tensor g = grads[i];
    if (g == seed || !g.allocatedAfter(mark)) return false;
    for (int j = 0; j < grads.length; j++) {
      if (j != i && grads[j] == g) return false;
    }
    return true;
  }

  private static List<Node> reachable(Node top) {
    List<Node> out = new ArrayList<>();
    IdentityHashMap<Node, Boolean> seen = new IdentityHashMap<>();
    ArrayDeque<Node> work = new ArrayDeque<>();
    work.push(top);
    seen.put(top, true);
    while (!work.isEmpty()) {
      Node n = work.pop();
      out.add(n);
      for (Tensor in : n.inputs) {
        Node p = in == null ? null : in.gradFn();
        if (p != null && seen.put(p, true) == null) work.push(p);
      }
    }
    return out;
  }
}
