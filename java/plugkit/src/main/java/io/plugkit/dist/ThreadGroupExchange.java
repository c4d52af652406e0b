package io.plugkit.dist;

import io.plugkit.DType;
import io.plugkit.Shape;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The meeting point of {@link InProcessCommunicator}'s ranks: each collective, every rank puts its
 * call and host payload in a slot and waits until all ranks have; then each reads every rank's
 * payload. Slots alternate between two sets by collective number: a rank can only start
 * collective k+2 (reusing k's set) after every rank has entered k+1, so after all finished reading k.
 */
final class ThreadGroupExchange {
  /** What a rank asked for; ranks must agree on all of it. */
  record Call(String kind, DType dtype, Shape shape, Communicator.ReduceOp op, int root) {
    @Override public String toString() {
      return kind + "(" + dtype + " " + shape + (op != null ? ", " + op : "") + (root >= 0 ? ", root " + root : "") + ")";
    }
  }

  final int size;
  private final long timeoutNanos;
  private final Duration timeout;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition allArrived = lock.newCondition();
  private final Call[][] calls;
  private final Object[][] payloads;
  private final long[] entered; // per rank: collectives entered (the next one's number)
  private int arrived;
  private long generation;
  private String failure; // set once: the group is broken

  ThreadGroupExchange(int size, Duration timeout) {
    this.size = size;
    this.timeout = timeout;
    this.timeoutNanos = timeout.toNanos();
    this.calls = new Call[2][size];
    this.payloads = new Object[2][size];
    this.entered = new long[size];
  }

  /** Collective number {@code seq} of {@code rank}: returns every rank's payload, by rank, once all agree. */
  Object[] exchange(int rank, long seq, Call call, Object payload) {
    int slot = (int) (seq & 1);
    lock.lock();
    try {
      if (failure != null) throw broken(rank, seq, call);
      calls[slot][rank] = call;
      payloads[slot][rank] = payload;
      entered[rank] = seq + 1;
      if (++arrived == size) {
        arrived = 0;
        generation++;
        allArrived.signalAll();
      } else {
        long gen = generation;
        long nanos = timeoutNanos;
        // The generation first: a wait that completed stays complete even if the group breaks after.
        while (generation == gen) {
          if (failure != null) throw broken(rank, seq, call);
          if (nanos <= 0) {
            failure = "rank " + rank + " waited " + timeout.toMillis() / 1000.0 + " s in collective #" + seq + " " + call
                + " for rank(s) " + missing(seq) + " that did not reach it";
            allArrived.signalAll();
            throw new IllegalStateException(failure);
          }
          try {
            nanos = allArrived.awaitNanos(nanos);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = "rank " + rank + " was interrupted in collective #" + seq + " " + call;
            allArrived.signalAll();
            throw new IllegalStateException(failure, e);
          }
        }
      }
      Call first = calls[slot][0];
      for (int r = 1; r < size; r++) {
        if (!calls[slot][r].equals(first)) {
          // Every rank sees the same slots, so every rank throws this same message.
          String m = "collective #" + seq + " differs across ranks: rank 0 called " + first + ", rank " + r + " called "
              + calls[slot][r] + " (every rank must issue the same collectives in the same order)";
          if (failure == null) failure = m;
          throw new IllegalStateException(m);
        }
      }
      return payloads[slot].clone();
    } finally {
      lock.unlock();
    }
  }

  /** Rank {@code rank} closed its communicator: whoever waits for it, now or later, fails. */
  void leave(int rank) {
    lock.lock();
    try {
      if (failure == null) failure = "rank " + rank + " closed its communicator (left the group) after " + entered[rank] + " collective(s)";
      allArrived.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private IllegalStateException broken(int rank, long seq, Call call) {
    return new IllegalStateException("rank " + rank + ": collective #" + seq + " " + call + " cannot complete: " + failure);
  }

  private List<Integer> missing(long seq) {
    List<Integer> out = new ArrayList<>();
    for (int r = 0; r < size; r++) if (entered[r] <= seq) out.add(r);
    return out;
  }
}
