package io.plugkit.cuda;

/**
 * One thread's stream on one device, and that thread's cuBLAS and cuDNN handles (bound to the
 * stream, created on first use). Only its own thread issues work through the handles; other
 * threads only record events on {@link #stream} (see {@link DeviceMemory}). Kept for the life
 * of the driver: a server's thread pool bounds how many there are.
 */
final class ThreadStream {
  final long stream;
  long cublasHandle;
  long cudnnHandle;

  ThreadStream(long stream) { this.stream = stream; }
}
