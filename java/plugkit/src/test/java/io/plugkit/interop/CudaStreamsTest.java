package io.plugkit.interop;

import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.plugkit.DType;
import io.plugkit.Pins;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Linear;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.Arena;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * CudaStreams.use: plugkit's kernels, cuBLAS, cuDNN, copies and allocations on a caller's stream,
 * ordered with the caller's own work there without any synchronize in between. On the emulated
 * device a block used on a stream before its allocation or its writer reached it is a fault, and
 * fresh memory is NaN, so work on the wrong stream shows up.
 */
class CudaStreamsTest {
  private static final Device CUDA = Device.cuda(0);

  @Test void rejectsBadArguments() {
    assertRejects("device", () -> CudaStreams.use(null, 1));
    assertRejects("device", () -> CudaStreams.use(Device.cpu(), 1));
    TestDevices.assumeUsable(CUDA);
    assertRejects("stream", () -> CudaStreams.use(CUDA, 0));
  }

  @Test void scopesNestAndRestore() throws Exception {
    TestDevices.assumeUsable(CUDA);
    CudaLibrary cu = CudaLibrary.instance();
    ForeignMemory.on(CUDA).makeCurrent();
    long s1 = cu.streamCreate();
    long s2 = cu.streamCreate();
    long own = CudaStreams.current(CUDA);
    assertNotEquals(0, own);
    try (CudaStreams.Use a = CudaStreams.use(CUDA, s1)) {
      assertEquals(s1, CudaStreams.current(CUDA));
      try (CudaStreams.Use b = CudaStreams.use(CUDA, s2)) {
        assertEquals(s2, CudaStreams.current(CUDA));
        assertThrows(IllegalStateException.class, a::close, "the outer scope cannot close first");
        assertEquals(s2, CudaStreams.current(CUDA));
      }
      assertEquals(s1, CudaStreams.current(CUDA));
      // another thread is not affected, and cannot close this thread's scope
      AtomicReference<Object> other = new AtomicReference<>();
      Thread t = Thread.ofPlatform().start(() -> {
        other.set(CudaStreams.current(CUDA));
        try {
          a.close();
        } catch (IllegalStateException e) {
          other.set(e);
        }
      });
      t.join();
      assertEquals(IllegalStateException.class, other.get().getClass());
      assertEquals(s1, CudaStreams.current(CUDA));
    }
    assertEquals(own, CudaStreams.current(CUDA));
    // virtual threads run device work on shared lanes: a scope there is refused, clearly
    AtomicReference<Throwable> vt = new AtomicReference<>();
    Thread.ofVirtual().start(() -> {
      try (CudaStreams.Use u = CudaStreams.use(CUDA, s1)) {
        vt.set(null);
      } catch (Throwable e) {
        vt.set(e);
      }
    }).join();
    assertEquals(IllegalStateException.class, vt.get().getClass());
  }

  @Test void pluginWorkIsOrderedWithTheCallersWork() {
    TestDevices.assumeUsable(CUDA);
    ForeignMemory lib = ForeignMemory.on(CUDA);
    // big enough that plugkit's stream is still busy when the library's read is enqueued: on the
    // wrong stream that read would see the NaN of fresh memory
    float[] x = new float[16 * 48 * 48];
    for (int i = 0; i < x.length; i++) x[i] = (i % 7) - 3f;
    long in = lib.allocate(4L * x.length);
    long out = lib.allocate(4L * 16 * 46 * 46);
    try (Arena a = Arena.ofConfined(); Scope s = Scope.open()) {
      // reference results on plugkit's own stream, from a plugkit copy of the input
      Tensor xRef = Tensor.of(CUDA, x, 1, 16, 48, 48);
      Tensor w = Tensor.uniform(CUDA, 3, -0.5f, 0.5f, 16, 16, 3, 3);
      Tensor wl = Tensor.uniform(CUDA, 4, -1f, 1f, 2304, 2);
      float[] convRef = Activations.relu(Conv.conv2d(xRef, w, null)).toArray();
      float[] gemmRef = Linear.matmul(xRef.reshape(16, 2304), wl).toArray();

      lib.write(in, x, a); // enqueued on the library's stream, not waited for
      float[] conv;
      float[] gemm;
      try (CudaStreams.Use use = CudaStreams.use(CUDA, lib.stream)) {
        Tensor xs = Tensor.wrap(CUDA, in, new int[] {1, 16, 48, 48}, DType.F32, () -> {});
        Tensor y = Activations.relu(Conv.conv2d(xs, w, null)); // cuDNN + a kernel on the caller's stream
        try (Pins p = Pins.hold()) {
          // the library reads plugkit's fresh output on its stream at once: allocated, computed and
          // read in one stream order (on another stream the emulator faults: use before allocation)
          assertArrayEquals(convRef, lib.read(y.address(), convRef.length), 1e-5f);
        }
        Tensor ys = Tensor.wrap(CUDA, out, new int[] {1, 16, 46, 46}, DType.F32, () -> {});
        ys.driver().copy(y.address(), ys.address(), y.byteSize()); // a device copy on it too
        Tensor g = Linear.matmul(xs.reshape(16, 2304), wl); // cuBLAS, re-bound to the caller's stream
        gemm = g.toArray();
        ys.close();
        xs.close();
      }
      conv = lib.read(out, convRef.length); // the library's read after plugkit's work, same stream: no sync
      assertArrayEquals(convRef, conv, 1e-5f);
      assertArrayEquals(gemmRef, gemm, 1e-4f);
      // after the scope: the thread's own stream again, and cuBLAS handed back to it
      assertArrayEquals(gemmRef, Linear.matmul(xRef.reshape(16, 2304), wl).toArray(), 1e-4f);
    } finally {
      lib.free(in);
      lib.free(out);
    }
  }

  @Test void wrappedMemoryWrittenOnTheCallersStreamIsOrderedForOtherThreads() throws Exception {
    TestDevices.assumeUsable(CUDA);
    ForeignMemory lib = ForeignMemory.on(CUDA);
    int n = 1 << 18;
    long ptr = lib.allocate(4L * n); // fresh emulated memory reads as NaN until written
    lib.synchronize();
    float[] sum = new float[1];
    try (Scope s = Scope.open()) {
      Tensor t;
      try (CudaStreams.Use use = CudaStreams.use(CUDA, lib.stream)) {
        t = Tensor.wrap(CUDA, ptr, new int[] {n}, DType.F32, () -> {}); // owned by the caller's stream
        for (int i = 0; i < 40; i++) t.fill(i); // a queue of work on the caller's stream, not waited for
        t.fill(0.5f);
      }
      Thread reader = Thread.ofPlatform().start(() -> { // its own stream must wait for the caller's
        try (Scope r = Scope.open()) {
          sum[0] = io.plugkit.ops.Reductions.sum(t).item();
        }
      });
      reader.join();
    } finally {
      lib.free(ptr);
    }
    assertEquals(n * 0.5f, sum[0]);
  }

  @Test void memoryAllocatedInsideIsSafeOutside() {
    TestDevices.assumeUsable(CUDA);
    ForeignMemory lib = ForeignMemory.on(CUDA);
    try (Scope s = Scope.open()) {
      Tensor made;
      try (CudaStreams.Use use = CudaStreams.use(CUDA, lib.stream)) {
        made = Tensor.full(CUDA, 3f, 1000); // allocated and filled on the caller's stream
      }
      // read and freed from the thread's own stream, and from another thread's: each waits for the retired scope
      assertEquals(3000f, io.plugkit.ops.Reductions.sum(made).item());
      float[] seen = new float[1];
      Thread t = Thread.ofPlatform().start(() -> seen[0] = made.toArray()[999]);
      try {
        t.join();
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
      assertEquals(3f, seen[0]);
    }
  }
}
