package io.plugkit.interop;

import io.plugkit.Device;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.driver.Drivers;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Stands in for another CUDA library in tests: its own stream and its own allocations, made
 * through libcuda directly (plugkit's DeviceMemory never sees them), as JCuda or cuDNN would.
 * On the CPU, memory from a confined-free shared arena. Values move with stream-ordered copies
 * on the library's stream.
 */
final class ForeignMemory {
  private final Device device;
  private final CudaLibrary cu;
  private final long context;
  final long stream;

  private static final java.util.concurrent.ConcurrentHashMap<Device, ForeignMemory> SHARED =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** One per device for the test JVM: each emulated stream is a worker thread. */
  static ForeignMemory on(Device device) { return SHARED.computeIfAbsent(device, ForeignMemory::new); }

  /** Makes the library's context current on this thread (as the library itself would before each call). */
  void makeCurrent() {
    if (device.isCuda()) cu.setCurrentContext(context);
  }

  private ForeignMemory(Device device) {
    this.device = device;
    if (device.isCuda()) {
      Drivers.of(device); // cuInit and the primary context exist
      cu = CudaLibrary.instance();
      context = cu.primaryContextRetain(cu.device(device.index()));
      cu.setCurrentContext(context);
      stream = cu.streamCreate();
    } else {
      cu = null;
      context = 0;
      stream = 0;
    }
  }

  /** A device block of {@code bytes} (ordered on this library's stream), or native host memory. */
  long allocate(long bytes) {
    if (!device.isCuda()) return Arena.global().allocate(bytes, 64).address(); // leaked on purpose: tiny, tests only
    cu.setCurrentContext(context);
    return cu.memAllocAsync(bytes, stream);
  }

  void free(long address) {
    if (!device.isCuda()) return;
    cu.setCurrentContext(context);
    cu.memFreeAsync(address, stream);
    cu.streamSynchronize(stream);
  }

  /** Writes {@code values} at {@code address}, asynchronously on this library's stream on CUDA (no synchronize). */
  void write(long address, float[] values, Arena keepAlive) {
    MemorySegment src = keepAlive.allocate(4L * values.length, 64);
    MemorySegment.copy(values, 0, src, ValueLayout.JAVA_FLOAT, 0, values.length);
    if (!device.isCuda()) {
      MemorySegment.ofAddress(address).reinterpret(src.byteSize()).copyFrom(src);
      return;
    }
    cu.setCurrentContext(context);
    cu.memcpyHtoDAsync(address, src, src.byteSize(), stream);
  }

  /** Reads {@code n} floats at {@code address} on this library's stream, then synchronizes it. */
  float[] read(long address, int n) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment dst = a.allocate(4L * Math.max(n, 1), 64);
      if (!device.isCuda()) {
        dst.copyFrom(MemorySegment.ofAddress(address).reinterpret(4L * n));
      } else {
        cu.setCurrentContext(context);
        cu.memcpyDtoHAsync(dst, address, 4L * n, stream);
        cu.streamSynchronize(stream);
      }
      return dst.asSlice(0, 4L * n).toArray(ValueLayout.JAVA_FLOAT);
    }
  }

  void synchronize() {
    if (!device.isCuda()) return;
    cu.setCurrentContext(context);
    cu.streamSynchronize(stream);
  }
}
