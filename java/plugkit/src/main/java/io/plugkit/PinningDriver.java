package io.plugkit;

import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The driver tensors hand out: the device's driver, with the pins that {@link Tensor#address()}
 * took on this thread dropped when a call that uses addresses returns ({@link Pins}). One place
 * for every op, instead of a release in each. Allocation and free do not drop pins: an address
 * taken earlier in the same argument list must outlive the allocation of a later argument.
 */
final class PinningDriver implements Driver {
  private static final PinningDriver CPU = new PinningDriver(Drivers.of(Device.cpu()));
  private static final ConcurrentHashMap<Integer, PinningDriver> CUDA = new ConcurrentHashMap<>();

  private final Driver d;

  private PinningDriver(Driver d) { this.d = d; }

  static PinningDriver of(Device device) {
    if (!device.isCuda()) return CPU;
    PinningDriver p = CUDA.get(device.index());
    return p != null ? p : CUDA.computeIfAbsent(device.index(), i -> new PinningDriver(Drivers.of(device)));
  }

  @Override public Device device() { return d.device(); }

  @Override public long allocate(long bytes) { return d.allocate(bytes); }

  @Override public void free(long address, long bytes) { d.free(address, bytes); }

  @Override public void copyFromHost(MemorySegment src, long dst, long bytes) {
    Pins p = Pins.enter();
    try {
      d.copyFromHost(src, dst, bytes);
    } finally {
      p.exit();
    }
  }

  @Override public void copyToHost(long src, MemorySegment dst, long bytes) {
    Pins p = Pins.enter();
    try {
      d.copyToHost(src, dst, bytes);
    } finally {
      p.exit();
    }
  }

  @Override public void copy(long src, long dst, long bytes) {
    Pins p = Pins.enter();
    try {
      d.copy(src, dst, bytes);
    } finally {
      p.exit();
    }
  }

  @Override public void launch(Kernel kernel, long n, Object... args) {
    Pins p = Pins.enter();
    try {
      d.launch(kernel, n, args);
    } finally {
      p.exit();
    }
  }

  @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
      long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch) {
    Pins p = Pins.enter();
    try {
      d.gemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
    } finally {
      p.exit();
    }
  }

  @Override public void conv2dForward(Conv2dGeometry g, long x, long w, long y) {
    Pins p = Pins.enter();
    try {
      d.conv2dForward(g, x, w, y);
    } finally {
      p.exit();
    }
  }

  @Override public void conv2dBackwardData(Conv2dGeometry g, long dy, long w, long dx) {
    Pins p = Pins.enter();
    try {
      d.conv2dBackwardData(g, dy, w, dx);
    } finally {
      p.exit();
    }
  }

  @Override public void conv2dBackwardFilter(Conv2dGeometry g, long x, long dy, long dw) {
    Pins p = Pins.enter();
    try {
      d.conv2dBackwardFilter(g, x, dy, dw);
    } finally {
      p.exit();
    }
  }

  @Override public void synchronize() {
    Pins p = Pins.enter();
    try {
      d.synchronize();
    } finally {
      p.exit();
    }
  }

  @Override public boolean adoptForeign(long address, long bytes) { return d.adoptForeign(address, bytes); }

  @Override public void releaseForeign(long address, long bytes, boolean registered) {
    d.releaseForeign(address, bytes, registered);
  }

  @Override public long currentStream() { return d.currentStream(); }

  @Override public String describe() { return d.describe(); }
}
