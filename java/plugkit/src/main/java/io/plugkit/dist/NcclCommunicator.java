package io.plugkit.dist;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Pins;
import io.plugkit.Tensor;
import io.plugkit.cuda.CudaDriver;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A {@link Communicator} over NCCL: one rank on one CUDA device. Make them with
 * {@link #initAll(Device...)} (one process, a thread per device: each communicator is then used
 * from its own thread) or {@link #init(int, int, Device, Rendezvous)} (a process per device).
 *
 * <p>Ordering. A collective runs on a stream the communicator owns: it is enqueued after the
 * calling thread's work so far on its stream (an event), and after earlier work on its tensors
 * on other threads' streams; the tensors' frees wait for it. {@link Work#await()} makes the
 * calling thread's stream wait for the collective (an event, no host wait), so work issued
 * between the collective and the await (the rest of a backward) overlaps with it.
 *
 * <p>Errors. Arguments are checked here (IllegalArgumentException naming the argument); NCCL's
 * errors arrive as {@link io.plugkit.driver.NativeException} with ncclGetErrorString's text.
 * Errors met after a collective was enqueued (a peer that issued a different collective, or left)
 * are NCCL's async errors: they are thrown by the next collective or await of this communicator,
 * and {@link #close()} then aborts the communicator instead of destroying it.
 */
public final class NcclCommunicator implements Communicator {
  private final Nccl nccl;
  private final CudaLibrary cu;
  private final CudaDriver driver;
  private final long comm;
  private final int rank;
  private final int size;
  private final Device device;
  /** The communicator's own stream, on its device. */
  private final long stream;
  private boolean closed;

  private NcclCommunicator(Nccl nccl, CudaDriver driver, long comm, int rank, int size) {
    this.nccl = nccl;
    this.cu = CudaLibrary.instance();
    this.driver = driver;
    this.comm = comm;
    this.rank = rank;
    this.size = size;
    this.device = driver.device();
    driver.makeContextCurrent();
    this.stream = cu.streamCreate();
  }

  /**
   * One communicator per device, rank i on {@code devices[i]}, all in this process
   * ({@code ncclCommInitAll}). Use each from its own platform thread.
   */
  public static List<NcclCommunicator> initAll(Device... devices) {
    if (devices == null || devices.length == 0) {
      throw new IllegalArgumentException("devices: expected at least one CUDA device but got none");
    }
    Set<Device> seen = new HashSet<>();
    int[] ordinals = new int[devices.length];
    for (int i = 0; i < devices.length; i++) {
      requireCuda("devices", devices[i]);
      if (!seen.add(devices[i])) {
        throw new IllegalArgumentException("devices: expected distinct devices but got " + devices[i] + " twice in "
            + Arrays.toString(devices));
      }
      ordinals[i] = devices[i].index();
    }
    List<CudaDriver> drivers = new ArrayList<>();
    for (Device d : devices) drivers.add(cudaDriver(d));
    Nccl nccl = Nccl.instance();
    long[] comms = nccl.commInitAll(ordinals);
    List<NcclCommunicator> out = new ArrayList<>();
    for (int i = 0; i < devices.length; i++) out.add(new NcclCommunicator(nccl, drivers.get(i), comms[i], i, devices.length));
    return List.copyOf(out);
  }

  /**
   * Rank {@code rank} of {@code size}, on {@code device}, one per process (or thread): rank 0
   * makes the NCCL id and {@code rendezvous} shares it; blocks until every rank joined.
   */
  public static NcclCommunicator init(int rank, int size, Device device, Rendezvous rendezvous) {
    if (size < 1) throw new IllegalArgumentException("size: expected >= 1 but got " + size);
    if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank: expected 0 to " + (size - 1) + " but got " + rank);
    requireCuda("device", device);
    if (rendezvous == null) throw new IllegalArgumentException("rendezvous: expected a Rendezvous but got null");
    CudaDriver driver = cudaDriver(device);
    Nccl nccl = Nccl.instance();
    byte[] id = rendezvous.share(rank, size, nccl::uniqueId);
    if (id == null || id.length != Nccl.UNIQUE_ID_BYTES) {
      throw new IllegalArgumentException("rendezvous: expected it to give " + Nccl.UNIQUE_ID_BYTES + " bytes but it gave "
          + (id == null ? "null" : id.length + " bytes"));
    }
    driver.makeContextCurrent(); // ncclCommInitRank uses the calling thread's current device
    long comm = nccl.commInitRank(size, id, rank);
    return new NcclCommunicator(nccl, driver, comm, rank, size);
  }

  private static void requireCuda(String name, Device d) {
    if (d == null || !d.isCuda()) throw new IllegalArgumentException(name + ": expected a CUDA device but got " + d);
  }

  private static CudaDriver cudaDriver(Device d) {
    Driver driver = Drivers.of(d);
    if (driver instanceof CudaDriver c) return c;
    throw new IllegalStateException("the driver of " + d + " is not the CUDA driver: " + driver.getClass().getName());
  }

  @Override public int rank() { return rank; }

  @Override public int size() { return size; }

  @Override public Device device() { return device; }

  /** The NCCL communicator handle ({@code ncclComm_t}). */
  public long handle() { return comm; }

  @Override public synchronized Work allReduce(Tensor t, ReduceOp op) {
    requireTensor("t", t);
    requireReducible("t", t);
    if (op == null) throw new IllegalArgumentException("op: expected a ReduceOp but got null");
    requireOpen();
    if (t.numel() == 0) return Work0.DONE;
    return enqueue(t, t, (src, dst) -> nccl.allReduce(src, dst, t.numel(), type(t), op.ordinal(), comm, stream));
  }

  @Override public synchronized Work broadcast(Tensor t, int root) {
    requireTensor("t", t);
    if (root < 0 || root >= size) throw new IllegalArgumentException("root: expected 0 to " + (size - 1) + " but got " + root);
    requireOpen();
    if (t.numel() == 0) return Work0.DONE;
    return enqueue(t, t, (src, dst) -> nccl.broadcast(src, dst, t.byteSize(), Nccl.UINT8, root, comm, stream));
  }

  @Override public synchronized Work allGather(Tensor in, Tensor out) {
    requireTensor("in", in);
    requireTensor("out", out);
    requireStacked("out", out, "in", in);
    requireOpen();
    if (in.numel() == 0) return Work0.DONE;
    return enqueue(in, out, (src, dst) -> nccl.allGather(src, dst, in.byteSize(), Nccl.UINT8, comm, stream));
  }

  /**
   * Reduces {@code in} (shape [size, ...out]) over all ranks and writes slice {@code rank} of the
   * result into {@code out} ({@code ncclReduceScatter}); not part of {@link Communicator}.
   */
  public synchronized Work reduceScatter(Tensor in, Tensor out, ReduceOp op) {
    requireTensor("in", in);
    requireTensor("out", out);
    requireReducible("in", in);
    requireStacked("in", in, "out", out);
    if (op == null) throw new IllegalArgumentException("op: expected a ReduceOp but got null");
    requireOpen();
    if (out.numel() == 0) return Work0.DONE;
    return enqueue(in, out, (src, dst) -> nccl.reduceScatter(src, dst, out.numel(), type(in), op.ordinal(), comm, stream));
  }

  private static void requireReducible(String name, Tensor t) {
    if (t.dtype() != DType.F32 && t.dtype() != DType.I64) {
      throw new IllegalArgumentException(name + ": expected dtype F32 or I64 but got " + t.dtype());
    }
  }

  /** {@code stacked} must be {@code size} copies of {@code slice}'s shape and dtype: [size, ...slice]. */
  private void requireStacked(String name, Tensor stacked, String sliceName, Tensor slice) {
    if (stacked.dtype() != slice.dtype()) {
      throw new IllegalArgumentException(name + ": expected dtype " + slice.dtype() + " (as " + sliceName + ") but got "
          + stacked.dtype());
    }
    int[] expected = new int[slice.rank() + 1];
    expected[0] = size;
    System.arraycopy(slice.dims(), 0, expected, 1, slice.rank());
    if (!Arrays.equals(stacked.dims(), expected)) {
      throw new IllegalArgumentException(name + ": expected shape " + Arrays.toString(expected) + " ([size, ..." + sliceName
          + "]) but got " + Arrays.toString(stacked.dims()));
    }
  }

  private void requireTensor(String name, Tensor t) {
    if (t == null) throw new IllegalArgumentException(name + ": expected a tensor but got null");
    if (!t.device().equals(device)) {
      throw new IllegalArgumentException(name + ": expected a tensor on " + device + " (rank " + rank + "'s device) but got one on "
          + t.device());
    }
    if (t.isFreed()) throw new IllegalArgumentException(name + ": expected a live tensor but it was freed");
  }

  private void requireOpen() {
    if (closed) throw new IllegalStateException("communicator (rank " + rank + " of " + size + ") is closed");
    nccl.checkAsyncError(comm);
  }

  /** One collective from in's memory to out's (the same tensor for an in-place one). */
  private interface Collective {
    void run(long src, long dst);
  }

  /**
   * Enqueues c on the communicator's stream, ordered after the calling thread's work and the
   * tensors' earlier work, both pinned meanwhile; returns it as a Work.
   */
  private Work enqueue(Tensor in, Tensor out, Collective c) {
    try (Pins p = Pins.hold()) {
      long src = in.address();
      long dst = out.address();
      driver.orderForeignStream(stream, in == out ? new long[] {src} : new long[] {src, dst});
      c.run(src, dst);
      return after();
    }
  }

  private static int type(Tensor t) { return t.dtype() == DType.F32 ? Nccl.FLOAT32 : Nccl.INT64; }

  /** The collective just enqueued, as an event on the communicator's stream. */
  private Work after() {
    long event = cu.eventCreate();
    cu.eventRecord(event, stream);
    return new Enqueued(event);
  }

  /** A collective with nothing to do (no elements). */
  private enum Work0 implements Work {
    DONE;

    @Override public void await() {}
  }

  private final class Enqueued implements Work {
    private long event;

    Enqueued(long event) { this.event = event; }

    @Override public void await() {
      synchronized (NcclCommunicator.this) {
        long callerStream = driver.threadStream();
        if (event != 0) {
          cu.streamWaitEvent(callerStream, event);
          cu.eventDestroy(event); // the wait keeps what it needs
          event = 0;
        } else {
          // Awaited before (perhaps by another thread): wait for everything the communicator ran so far.
          cu.streamWaitForStream(callerStream, stream);
        }
        if (!closed) nccl.checkAsyncError(comm);
      }
    }
  }

  /**
   * Destroys the communicator once its collectives ran ({@code ncclCommDestroy}), or aborts it
   * ({@code ncclCommAbort}) when it has an async error, whose peers may never answer; then its
   * stream, after the calling thread's stream has been ordered after it.
   */
  @Override public synchronized void close() {
    if (closed) return;
    closed = true;
    driver.makeContextCurrent();
    try {
      if (nccl.commAsyncError(comm) != 0) nccl.commAbort(comm);
      else nccl.commDestroy(comm);
    } finally {
      driver.releaseForeignStream(stream);
      cu.streamDestroy(stream);
    }
  }

  /** For tests: the communicator's own stream. */
  long stream() { return stream; }

  @Override public String toString() {
    return "NcclCommunicator(rank " + rank + " of " + size + " on " + device + ", NCCL at " + nccl.location() + ")";
  }
}
