package io.plugkit.dist;

import io.plugkit.Device;
import io.plugkit.Tensor;

/**
 * One rank's handle on a group of ranks that exchange tensors (NCCL on CUDA devices). Every rank
 * must issue the same collectives, on tensors of the same shape and dtype, in the same order.
 *
 * <p>A collective is ordered after the calling thread's earlier work on its tensors and returns
 * at once with a {@link Work}; the caller must {@link Work#await} it before using the result.
 */
public interface Communicator extends AutoCloseable {
  enum ReduceOp { SUM, PROD, MAX, MIN, AVG }

  int rank();

  int size();

  /** The device this rank's tensors live on. */
  Device device();

  /** Reduces {@code t} over all ranks, in place. */
  Work allReduce(Tensor t, ReduceOp op);

  /** Copies root's {@code t} into every rank's {@code t}. */
  Work broadcast(Tensor t, int root);

  /** Writes every rank's {@code in} into {@code out} (shape [size, ...in]) in rank order. */
  Work allGather(Tensor in, Tensor out);

  @Override void close();

  /** A collective in flight. */
  interface Work {
    /** Orders the calling thread's later work on the result after the collective (may block). */
    void await();
  }
}
