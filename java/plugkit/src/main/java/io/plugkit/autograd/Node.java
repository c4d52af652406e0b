package io.plugkit.autograd;

import io.plugkit.Tensor;
import java.util.concurrent.atomic.AtomicLong;

/** One entry of the tape: an op's inputs and its backward. {@code seq} orders the tape. */
public final class Node {
  private static final AtomicLong SEQ = new AtomicLong();

  final long seq = SEQ.incrementAndGet();
  final String op;
  final Tensor[] inputs;
  final BackwardFn backward;

  Node(String op, Tensor[] inputs, BackwardFn backward) {
    this.op = op;
    this.inputs = inputs;
    this.backward = backward;
  }

  public String op() { return op; }
}
