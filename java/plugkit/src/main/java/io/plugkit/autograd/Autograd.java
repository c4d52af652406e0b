package io.plugkit.autograd;

import io.plugkit.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** Records op backwards and runs them in reverse tape order. */
public final class Autograd {
  private Autograd() {}

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
   * into the {@code grad()} of every leaf that requires a gradient. Runs with grad mode off.
   */
  public static void backward(Tensor root, Tensor seed) {
    Node top = root.gradFn();
    if (top == null) {
      if (root.requiresGrad()) root.accumulateGrad(seed);
      return;
    }
    try (var off = GradMode.disable()) {
      long mark = Tensor.allocationMark(); // gradients allocated after it are this pass's own
      List<Node> order = reachable(top);
      order.sort(Comparator.comparingLong((Node n) -> n.seq).reversed());
      Map<Node, Tensor> pending = new IdentityHashMap<>();
      pending.put(top, seed);
      for (Node node : order) {
        Tensor g = pending.remove(node);
        if (g == null) continue;
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
      }
    }
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
