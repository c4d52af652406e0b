package io.plugkit.interop;

import io.plugkit.Device;
import io.plugkit.cuda.CudaDriver;
import io.plugkit.driver.Drivers;

/**
 * Runs plugkit's work on a caller's {@code CUstream}, so another CUDA library (JCuda, cuDNN,
 * a framework's kernels) and plugkit share one stream order:
 *
 * <pre>{@code
 * try (CudaStreams.Use s = CudaStreams.use(Device.cuda(0), cuStream)) {
 *   Tensor y = Activations.relu(Tensor.wrap(Device.cuda(0), ptr, dims, DType.F32, () -> {}));
 *   ...   // kernels, cuBLAS, cuDNN, copies and allocations of this thread go to cuStream
 * }       // the thread's previous stream again; it waits for what plugkit put on cuStream
 * }</pre>
 *
 * Scopes nest and close innermost first, on the (platform) thread that opened them. Memory
 * allocated or used inside keeps plugkit's cross-stream ordering (see {@code DeviceMemory}); after
 * the close plugkit records nothing more on the caller's stream, so the caller may destroy it
 * once its own work is done. Blocking copies to the host synchronize the caller's stream.
 */
public final class CudaStreams {
  private CudaStreams() {}

  /** Sends the calling thread's plugkit work on {@code device} to {@code stream} until closed. */
  public static Use use(Device device, long stream) {
    if (device == null) throw new IllegalArgumentException("device: expected a CUDA Device but got null");
    if (!device.isCuda()) throw new IllegalArgumentException("device: expected a CUDA device but got " + device);
    if (stream == 0) {
      throw new IllegalArgumentException("stream: expected a CUstream handle but got 0 (the legacy default stream, "
          + "which plugkit's non-blocking streams do not order with: create a stream)");
    }
    CudaDriver driver = (CudaDriver) Drivers.of(device);
    return new Use(driver.pushStream(stream));
  }

  /** The raw {@code CUstream} this thread's plugkit work on {@code device} goes to now; 0 on the CPU. */
  public static long current(Device device) {
    if (device == null) throw new IllegalArgumentException("device: expected a Device but got null");
    return Drivers.of(device).currentStream();
  }

  /** An open {@link #use} scope. */
  public static final class Use implements AutoCloseable {
    private final Runnable restore;
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Use(Runnable restore) { this.restore = restore; }

    /** Restores the stream current before; throws if another scope opened inside is still open. */
    @Override public void close() {
      if (closed) return;
      if (Thread.currentThread() != thread) {
        throw new IllegalStateException("a CudaStreams scope must be closed on the thread that opened it (" + thread.getName() + ")");
      }
      restore.run();
      closed = true;
    }
  }
}
