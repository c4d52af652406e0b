package io.plugkit.dist;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;

/** Wraps any Communicator and records each collective, with a probe's value at the call (e.g. gradients final so far). */
final class RecordingCommunicator implements Communicator {
  record Call(String kind, ReduceOp op, long numel, int probe) {}

  private final Communicator inner;
  private final List<Call> calls = new ArrayList<>();
  private IntSupplier probe = () -> -1;

  RecordingCommunicator(Communicator inner) { this.inner = inner; }

  void probe(IntSupplier p) { probe = p; }

  List<Call> calls() { return calls; }

  List<Call> calls(ReduceOp op) { return calls.stream().filter(c -> c.op == op).toList(); }

  @Override public int rank() { return inner.rank(); }

  @Override public int size() { return inner.size(); }

  @Override public Device device() { return inner.device(); }

  @Override public Work allReduce(Tensor t, ReduceOp op) {
    calls.add(new Call("allReduce", op, t.numel(), probe.getAsInt()));
    return inner.allReduce(t, op);
  }

  @Override public Work broadcast(Tensor t, int root) {
    calls.add(new Call("broadcast", null, t.numel(), probe.getAsInt()));
    return inner.broadcast(t, root);
  }

  @Override public Work allGather(Tensor in, Tensor out) {
    calls.add(new Call("allGather", null, in.numel(), probe.getAsInt()));
    return inner.allGather(in, out);
  }

  @Override public void close() { inner.close(); }
}
