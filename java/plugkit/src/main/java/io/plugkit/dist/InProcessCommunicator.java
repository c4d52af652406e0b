package io.plugkit.dist;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Tensor;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Communicator} for ranks that are threads of one process: the CPU data-parallel backend,
 * and the stand-in for NCCL in tests. Tensors may live on any device (CUDA ones go through host
 * copies). Every collective is blocking: it returns when all ranks have called it and this rank's
 * result is written, so {@link Work#await()} does nothing.
 *
 * <p>Reductions run on the host in rank order 0, 1, ..., size-1 (F32 summed in double), the same
 * on every rank, so all ranks get the same bits whatever the thread timing.
 *
 * <p>Failure: a rank that waits longer than the group's timeout for the others, calls a different
 * collective than they do (kind, shape, dtype, op or root), or closes its communicator while the
 * others still call collectives, breaks the group: every rank's pending and later collective throws
 * an {@link IllegalStateException} saying which rank and which collective. Close each rank's
 * communicator when the rank ends, normally or not ({@link RankThreads} does), so that a rank that
 * died ends the others' waits at once rather than at the timeout.
 */
public final class InProcessCommunicator implements Communicator {
  /** How long a collective waits for the other ranks by default. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

  private final ThreadGroupExchange group;
  private final int rank;
  private final Device device;
  private long calls; // collectives this rank has entered; ranks agree on it when their programs match
  private volatile boolean closed;

  private InProcessCommunicator(ThreadGroupExchange group, int rank, Device device) {
    this.group = group;
    this.rank = rank;
    this.device = device;
  }

  /** {@code size} ranks whose tensors are on {@code device}, with {@link #DEFAULT_TIMEOUT}. */
  public static List<InProcessCommunicator> group(int size, Device device) {
    if (size < 1) throw new IllegalArgumentException("size: expected >= 1 rank but got " + size);
    if (device == null) throw new IllegalArgumentException("device: expected a Device but got null");
    return group(java.util.Collections.nCopies(size, device), DEFAULT_TIMEOUT);
  }

  /** One rank per entry of {@code devices} (rank i's tensors on devices[i]); collectives wait at most {@code timeout}. */
  public static List<InProcessCommunicator> group(List<Device> devices, Duration timeout) {
    if (devices == null || devices.isEmpty()) {
      throw new IllegalArgumentException("devices: expected one device per rank but got " + (devices == null ? "null" : "none"));
    }
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout: expected a positive duration but got " + timeout);
    }
    for (int i = 0; i < devices.size(); i++) {
      if (devices.get(i) == null) throw new IllegalArgumentException("devices: expected a Device for rank " + i + " but got null");
    }
    ThreadGroupExchange g = new ThreadGroupExchange(devices.size(), timeout);
    List<InProcessCommunicator> out = new ArrayList<>();
    for (int i = 0; i < devices.size(); i++) out.add(new InProcessCommunicator(g, i, devices.get(i)));
    return List.copyOf(out);
  }

  @Override public int rank() { return rank; }

  @Override public int size() { return group.size; }

  @Override public Device device() { return device; }

  @Override public Work allReduce(Tensor t, ReduceOp op) {
    check(t, "t");
    if (op == null) throw new IllegalArgumentException("op: expected a ReduceOp but got null");
    if (t.dtype() != DType.F32 && t.dtype() != DType.I64) {
      throw new IllegalArgumentException("t: expected an F32 or I64 tensor for allReduce but got " + t.dtype());
    }
    if (op == ReduceOp.AVG && t.dtype() != DType.F32) {
      throw new IllegalArgumentException("op: AVG expects an F32 tensor but got " + t.dtype());
    }
    Object mine = t.dtype() == DType.F32 ? t.toArray() : t.toLongArray();
    Object[] all = exchange(new ThreadGroupExchange.Call("allReduce", t.dtype(), t.shape(), op, -1), mine);
    if (t.numel() == 0) return DONE;
    if (t.dtype() == DType.F32) t.copyFrom(HostReduce.f32(all, op), 0);
    else t.copyFrom(MemorySegment.ofArray(HostReduce.i64(all, op)));
    return DONE;
  }

  @Override public Work broadcast(Tensor t, int root) {
    check(t, "t");
    if (root < 0 || root >= size()) throw new IllegalArgumentException("root: expected a rank in [0, " + size() + ") but got " + root);
    byte[] mine = rank == root ? t.toBytes() : null; // only the root's bytes travel
    Object[] all = exchange(new ThreadGroupExchange.Call("broadcast", t.dtype(), t.shape(), null, root), mine);
    if (rank != root && t.numel() > 0) t.copyFrom(MemorySegment.ofArray((byte[]) all[root]));
    return DONE;
  }

  @Override public Work allGather(Tensor in, Tensor out) {
    check(in, "in");
    check(out, "out");
    int[] want = new int[in.rank() + 1];
    want[0] = size();
    System.arraycopy(in.dims(), 0, want, 1, in.rank());
    if (!out.shape().equals(io.plugkit.Shape.of(want))) {
      throw new IllegalArgumentException("out: expected shape " + io.plugkit.Shape.of(want) + " ([size, ...in]) but got " + out.shape());
    }
    if (out.dtype() != in.dtype()) throw new IllegalArgumentException("out: expected dtype " + in.dtype() + " (in's) but got " + out.dtype());
    Object[] all = exchange(new ThreadGroupExchange.Call("allGather", in.dtype(), in.shape(), null, -1), in.toBytes());
    if (out.numel() == 0) return DONE;
    int part = Math.toIntExact(in.byteSize());
    byte[] joined = new byte[Math.toIntExact(out.byteSize())];
    for (int r = 0; r < all.length; r++) System.arraycopy((byte[]) all[r], 0, joined, r * part, part);
    out.copyFrom(MemorySegment.ofArray(joined));
    return DONE;
  }

  /** Leaves the group; a rank still waiting for this one, or calling a collective later, gets an exception. */
  @Override public void close() {
    if (closed) return;
    closed = true;
    group.leave(rank);
  }

  private Object[] exchange(ThreadGroupExchange.Call call, Object payload) {
    if (closed) throw new IllegalStateException("rank " + rank + ": this communicator is closed");
    return group.exchange(rank, calls++, call, payload);
  }

  private void check(Tensor t, String name) {
    if (t == null) throw new IllegalArgumentException(name + ": expected a tensor but got null");
    if (t.isFreed()) throw new IllegalArgumentException(name + ": expected a live tensor but it was freed");
    if (!t.device().equals(device)) {
      throw new IllegalArgumentException(name + ": expected a tensor on " + device + " (rank " + rank + "'s device) but got one on " + t.device());
    }
  }

  private static final Work DONE = () -> {};
}
