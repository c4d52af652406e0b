package io.plugkit.cuda;

/**
 * A stream one thread's work goes to on one device, with that thread's cuBLAS and cuDNN handles
 * (created on first use). Each platform thread has its own stream for the life of the driver: a
 * server's thread pool bounds how many there are. While the thread is inside
 * {@code CudaStreams.use(device, stream)} its work goes to a <em>scoped</em> ThreadStream on the
 * caller's stream instead, which shares the thread's handles: they are re-bound
 * ({@code cublasSetStream}/{@code cudnnSetStream}) when the stream they last ran on differs.
 *
 * <p>Only its own thread issues work through the handles; other threads only wait on
 * {@link #waitStream()} (see {@link DeviceMemory}). When a scope ends, its ThreadStream is
 * <em>retired</em>: the stream that was current before it already waits for everything plugkit
 * enqueued on the caller's stream, so later waits go there instead. That keeps plugkit from
 * recording events on a caller's stream after the scope, when the caller may have destroyed it.
 */
final class ThreadStream {
  /** cuBLAS and cuDNN handles of one thread and the stream each is bound to now. */
  private static final class Handles {
    long cublas;
    long cublasStream;
    long cudnn;
    long cudnnStream;
  }

  final long stream;
  private final Handles handles;
  /** The innermost scope's stream while this thread is in a scope (on the thread's own one only). */
  private ThreadStream scoped;
  /** For a scoped one: what was current before it. */
  private final ThreadStream previous;
  /** Set at the end of a scope: waits on this stream go to that one (which waits for it). */
  private volatile ThreadStream retiredTo;

  ThreadStream(long stream) {
    this.stream = stream;
    this.handles = new Handles();
    this.previous = null;
  }

  private ThreadStream(long stream, ThreadStream own) {
    this.stream = stream;
    this.handles = own.handles;
    this.previous = own.current();
  }

  /** For a scoped one: what was current before it. */
  ThreadStream previous() { return previous; }

  /** Where this thread's work goes now: the innermost scope's stream, or the thread's own. */
  ThreadStream current() { return scoped != null ? scoped : this; }

  /** The stream another stream must wait on to see all plugkit work on this one. */
  long waitStream() {
    ThreadStream t = this;
    for (ThreadStream next = t.retiredTo; next != null; next = t.retiredTo) t = next;
    return t.stream;
  }

  /** Starts a scope on the caller's {@code callerStream} (on the thread's own ThreadStream). */
  ThreadStream push(long callerStream) {
    ThreadStream s = new ThreadStream(callerStream, this);
    scoped = s;
    return s;
  }

  /** Ends scope {@code s}, innermost first; the previous stream must already wait for {@code s}'s work. */
  void pop(ThreadStream s) {
    if (scoped != s) throw new IllegalStateException("CUDA stream scopes must close innermost first");
    s.retiredTo = s.previous;
    scoped = s.previous == this ? null : s.previous;
  }

  /** For a foreign stream about to be destroyed: {@code to} already waits for it, so later waits go there. */
  void retire(ThreadStream to) { retiredTo = to; }

  /** The thread's cuBLAS handle, created or re-bound to this stream. */
  long cublas(Cublas blas, boolean allowTf32) {
    if (handles.cublas == 0) {
      handles.cublas = blas.createHandle(stream, allowTf32);
    } else if (handles.cublasStream != stream) {
      blas.setStream(handles.cublas, stream);
    }
    handles.cublasStream = stream;
    return handles.cublas;
  }

  /** The thread's cuDNN handle, created or re-bound to this stream. */
  long cudnn(Cudnn dnn) {
    if (handles.cudnn == 0) {
      handles.cudnn = dnn.createHandle(stream);
    } else if (handles.cudnnStream != stream) {
      dnn.setStream(handles.cudnn, stream);
    }
    handles.cudnnStream = stream;
    return handles.cudnn;
  }
}
