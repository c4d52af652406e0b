package io.plugkit.interop;

import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.MemoryStats;
import io.plugkit.Pins;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.cuda.CudaDriver;
import io.plugkit.driver.Drivers;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Linear;
import io.plugkit.ops.Reductions;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Tensor.wrap: plugkit tensors on memory it did not allocate, on both drivers. */
class WrapTest {
  private static float[] ramp(int n, float start) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = start + i * 0.5f;
    return v;
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sharesTheMemoryAndReleasesOnce(Device d) {
    TestDevices.assumeUsable(d);
    ForeignMemory lib = ForeignMemory.on(d);
    float[] x = ramp(15, -3f);
    long ptr = lib.allocate(4L * x.length);
    AtomicInteger released = new AtomicInteger();
    int liveBlocks = d.isCuda() ? ((CudaDriver) Drivers.of(d)).liveBlocks() : 0;
    try (Arena a = Arena.ofConfined()) {
      lib.write(ptr, x, a);
      lib.synchronize(); // the library's write is done before plugkit's stream reads it
      Tensor view;
      try (Scope s = Scope.open()) {
        Tensor t = Tensor.wrap(d, ptr, new int[] {3, 5}, DType.F32, released::incrementAndGet);
        try (Pins p = Pins.hold()) {
          assertEquals(ptr, t.address(), "no copy: element 0 is the caller's pointer");
        }
        assertArrayEquals(x, t.toArray());
        Tensor y = Activations.relu(t);
        float[] want = new float[x.length];
        for (int i = 0; i < x.length; i++) want[i] = Math.max(0, x[i]);
        assertArrayEquals(want, y.toArray());
        t.fill(2.5f); // plugkit writes land in the caller's memory
        t.driver().synchronize();
        for (float v : lib.read(ptr, x.length)) assertEquals(2.5f, v);
        view = s.keep(t.reshape(15)); // a view outlives the wrapping tensor's scope
      }
      assertEquals(0, released.get(), "a live view keeps the memory in use");
      assertFalse(view.isFreed());
      assertEquals(2.5f, view.toArray()[14]);
      view.close();
      assertEquals(1, released.get(), "released once the last view is gone");
      view.close();
      assertEquals(1, released.get(), "exactly once");
      if (d.isCuda()) assertEquals(liveBlocks, ((CudaDriver) Drivers.of(d)).liveBlocks(), "plugkit freed nothing of its own");
      float[] back = lib.read(ptr, x.length);
      assertEquals(2.5f, back[0], "the memory is the caller's, intact, after release");
    } finally {
      lib.free(ptr);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void wrappedLeafInAutograd(Device d) {
    TestDevices.assumeUsable(d);
    ForeignMemory lib = ForeignMemory.on(d);
    float[] x = {1f, -2f, 3f, 0.5f, -0.25f, 4f};
    long ptr = lib.allocate(4L * x.length);
    AtomicInteger released = new AtomicInteger();
    try (Arena a = Arena.ofConfined()) {
      lib.write(ptr, x, a);
      lib.synchronize();
      try (Scope s = Scope.open()) {
        Tensor w = Tensor.wrap(d, ptr, Shape.of(2, 3), DType.F32, released::incrementAndGet).requiresGrad(true);
        Tensor loss = Reductions.sum(Elementwise.mul(w, w)); // d/dw sum(w^2) = 2w
        loss.backward();
        float[] g = w.grad().toArray();
        for (int i = 0; i < x.length; i++) assertEquals(2 * x[i], g[i], 1e-6f, "grad " + i);
        // a matmul through GEMM (cuBLAS on CUDA) reads the wrapped memory too
        Tensor m = Linear.matmul(w, Tensor.ones(d, 3, 1));
        assertArrayEquals(new float[] {2f, 4.25f}, m.toArray(), 1e-6f);
      }
      assertEquals(1, released.get(), "released with its scope (the gradient is plugkit's own memory)");
    } finally {
      lib.free(ptr);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void wrapAndReleaseOnAVirtualThread(Device d) throws Exception {
    TestDevices.assumeUsable(d);
    ForeignMemory lib = ForeignMemory.on(d);
    long ptr = lib.allocate(4L * 9);
    AtomicInteger released = new AtomicInteger();
    float[][] got = new float[1][];
    Throwable[] failure = new Throwable[1];
    try (Arena a = Arena.ofConfined()) {
      lib.write(ptr, new float[] {-1, 2, -3, 4, -5, 6, -7, 8, -9}, a);
      lib.synchronize();
      Thread.ofVirtual().start(() -> { // CUDA work of a virtual thread runs on a lane's stream
        try (Scope s = Scope.open()) {
          got[0] = Activations.relu(Tensor.wrap(d, ptr, new int[] {3, 3}, DType.F32, released::incrementAndGet)).toArray();
        } catch (Throwable t) {
          failure[0] = t;
        }
      }).join();
    } finally {
      lib.free(ptr);
    }
    if (failure[0] != null) throw new AssertionError(failure[0]);
    assertArrayEquals(new float[] {0, 2, 0, 4, 0, 6, 0, 8, 0}, got[0]);
    assertEquals(1, released.get());
  }

  @Test void hostSegmentOverload() {
    AtomicInteger released = new AtomicInteger();
    Arena arena = Arena.ofShared();
    MemorySegment seg = arena.allocate(4 * 7 + 4, 16);
    for (int i = 0; i < 8; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
    try (Scope s = Scope.open()) {
      // a larger segment is fine: the tensor views its first 7 floats
      Tensor t = Tensor.wrap(seg, new int[] {7}, DType.F32, () -> {
        released.incrementAndGet();
        arena.close(); // the usual pattern: the owner frees its memory in onRelease
      });
      assertEquals(Device.cpu(), t.device());
      assertEquals(0L, t.stream(), "the CPU has no stream");
      assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6}, t.toArray());
      t.fill(-1f);
      assertEquals(-1f, seg.getAtIndex(ValueLayout.JAVA_FLOAT, 6));
      assertEquals(7f, seg.getAtIndex(ValueLayout.JAVA_FLOAT, 7), "past the shape: untouched");
    }
    assertEquals(1, released.get());
    assertFalse(arena.scope().isAlive());
  }

  @Test void releaseExactlyOnceUnderConcurrentCloses() throws Exception {
    MemorySegment seg = Arena.global().allocate(64, 64);
    for (int round = 0; round < 50; round++) {
      AtomicInteger released = new AtomicInteger();
      Tensor[] views = new Tensor[4];
      try (Scope s = Scope.open()) {
        Tensor t = Tensor.wrap(seg, new int[] {16}, DType.F32, released::incrementAndGet);
        for (int i = 0; i < views.length; i++) views[i] = t.unscopedView();
      }
      Thread[] threads = new Thread[views.length];
      for (int i = 0; i < views.length; i++) {
        Tensor v = views[i];
        threads[i] = Thread.ofPlatform().start(() -> {
          v.close();
          v.close();
        });
      }
      for (Thread th : threads) th.join();
      assertEquals(1, released.get(), "round " + round);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void rejectsBadArgumentsBeforeAnyNativeCall(Device d) {
    TestDevices.assumeUsable(d);
    AtomicInteger released = new AtomicInteger();
    Runnable r = released::incrementAndGet;
    long live = MemoryStats.liveStorages();
    try (Scope s = Scope.open()) {
      assertRejects("device", () -> Tensor.wrap(null, 64, new int[] {1}, DType.F32, r));
      assertRejects("address", () -> Tensor.wrap(d, 0, new int[] {1}, DType.F32, r));
      assertRejects("shape", () -> Tensor.wrap(d, 64, new int[] {2, -1}, DType.F32, r));
      assertRejects("dims", () -> Tensor.wrap(d, 64, (int[]) null, DType.F32, r));
      assertRejects("shape", () -> Tensor.wrap(d, 64, (Shape) null, DType.F32, r));
      assertRejects("dtype", () -> Tensor.wrap(d, 64, new int[] {1}, null, r));
      assertRejects("onRelease", () -> Tensor.wrap(d, 64, new int[] {1}, DType.F32, null));
      assertRejects("address", () -> Tensor.wrap(d, 66, new int[] {1}, DType.F32, r)); // F32 needs 4-byte alignment
      assertRejects("address", () -> Tensor.wrap(d, 68, new int[] {1}, DType.I64, r)); // I64 needs 8
      assertRejects("address", () -> Tensor.wrap(d, -8, new int[] {4}, DType.F32, r)); // wraps the address space
    }
    try (Arena a = Arena.ofConfined(); Scope s = Scope.open()) {
      MemorySegment small = a.allocate(16, 16);
      assertRejects("host", () -> Tensor.wrap(small, new int[] {5}, DType.F32, r));
      assertRejects("host", () -> Tensor.wrap(MemorySegment.ofArray(new float[4]), new int[] {4}, DType.F32, r));
      assertRejects("host", () -> Tensor.wrap((MemorySegment) null, new int[] {4}, DType.F32, r));
      assertRejects("host", () -> Tensor.wrap(small.asSlice(2), new int[] {1}, DType.F32, r));
      Arena closed = Arena.ofConfined();
      MemorySegment gone = closed.allocate(16);
      closed.close();
      assertRejects("host", () -> Tensor.wrap(gone, new int[] {4}, DType.F32, r));
    }
    assertThrows(IllegalStateException.class,
        () -> Tensor.wrap(Arena.global().allocate(16, 16), new int[] {4}, DType.F32, r), "no Scope open");
    assertEquals(0, released.get(), "a rejected wrap never runs onRelease");
    assertEquals(live, MemoryStats.liveStorages());
  }

  @Test void cudaForeignRangeOverlappingPlugkitMemoryIsRejected() {
    Device d = Device.cuda(0);
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor own = Tensor.zeros(d, 64);
      long p = own.address();
      AtomicInteger released = new AtomicInteger();
      // inside one block plugkit knows: allowed (DLPack hands plugkit's own memory back this way)
      Tensor inner = Tensor.wrap(d, p + 64, new int[] {8}, DType.F32, released::incrementAndGet);
      inner.fill(1f);
      assertEquals(8f, Reductions.sum(own).item());
      inner.close();
      assertEquals(1, released.get());
      // straddling its end: a caller's bug, rejected before it could corrupt the bookkeeping
      assertRejects("address", () -> Tensor.wrap(d, p + 128, new int[] {64}, DType.F32, () -> {}));
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void exportsAddressAndStream(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.zeros(d, 4);
      try (Pins p = Pins.hold()) { // address() pins until the next driver call or the hold's end
        assertTrue(t.address() != 0);
      }
      if (d.isCuda()) {
        assertTrue(t.stream() != 0, "a CUDA thread has a stream");
        assertEquals(CudaStreams.current(d), t.stream());
      } else {
        assertEquals(0L, t.stream());
        assertEquals(0L, CudaStreams.current(d));
      }
      t.close();
      assertThrows(IllegalStateException.class, t::stream);
    }
  }
}
