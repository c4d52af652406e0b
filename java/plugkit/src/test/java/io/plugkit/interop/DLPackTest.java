package io.plugkit.interop;

import static io.plugkit.testing.Rejects.assertRejects;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Pins;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** DLPack export and import: round trips, hand-built producer structs with a counting deleter, bad input. */
class DLPackTest {
  /** Calls of the hand-built structs' deleter (a C function pointer to {@link #countingDeleter}). */
  private static final AtomicInteger DELETES = new AtomicInteger();
  private static final MemorySegment COUNTING_DELETER;

  static {
    try {
      COUNTING_DELETER = Linker.nativeLinker().upcallStub(
          MethodHandles.lookup().findStatic(DLPackTest.class, "countingDeleter",
              MethodType.methodType(void.class, MemorySegment.class)),
          FunctionDescriptor.ofVoid(ADDRESS), Arena.global());
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private static void countingDeleter(MemorySegment self) { DELETES.incrementAndGet(); }

  /** The deleter every export carries, read from a fresh export (which is then released). */
  private static final MemorySegment DELETER_OF_EXPORTS;

  static {
    try (Scope s = Scope.open()) {
      MemorySegment m = DLPack.toDLPack(Tensor.zeros(Device.cpu(), 1)).reinterpret(64);
      DELETER_OF_EXPORTS = m.get(ADDRESS, 56);
      DLPack.delete(m);
    }
  }

  private static void callNative(MemorySegment fn, MemorySegment arg) {
    try {
      Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS)).invokeExact(arg);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  @Test void layoutsMatchDlpackH() {
    // dlpack.h on 64-bit: DLTensor 48 bytes, DLManagedTensor 64, DLManagedTensorVersioned 80
    assertEquals(48, DLPack.DL_TENSOR.byteSize());
    assertEquals(64, DLPack.MANAGED.byteSize());
    assertEquals(80, DLPack.VERSIONED.byteSize());
    assertEquals(40, DLPack.DL_TENSOR.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("byte_offset")));
    assertEquals(32, DLPack.VERSIONED.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("dl_tensor")));
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void exportWritesTheContract(Device d) throws InterruptedException {
    TestDevices.assumeUsable(d);
    int exports = DLPack.liveExports();
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.randn(d, 1, 2, 3, 4);
      MemorySegment m = DLPack.toDLPackVersioned(t).reinterpret(80);
      assertEquals(DELETER_OF_EXPORTS, m.get(ADDRESS, 16), "deleter: the one stub of every export");
      assertEquals(1, m.get(JAVA_INT, 0), "major");
      assertEquals(1, m.get(JAVA_INT, 4), "minor");
      assertEquals(0L, m.get(JAVA_LONG, 24), "flags: writable, not copied");
      MemorySegment dl = m.asSlice(32, 48);
      try (Pins p = Pins.hold()) {
        assertEquals(t.address(), dl.get(ADDRESS, 0).address(), "data: no copy");
      }
      assertEquals(d.isCuda() ? 2 : 1, dl.get(JAVA_INT, 8), "device_type");
      assertEquals(0, dl.get(JAVA_INT, 12), "device_id");
      assertEquals(3, dl.get(JAVA_INT, 16), "ndim");
      assertEquals(2, dl.get(JAVA_BYTE, 20), "code kDLFloat");
      assertEquals(32, dl.get(JAVA_BYTE, 21), "bits");
      assertEquals(1, dl.get(JAVA_SHORT, 22), "lanes");
      assertArrayEquals(new long[] {2, 3, 4}, dl.get(ADDRESS, 24).reinterpret(24).toArray(JAVA_LONG));
      assertArrayEquals(new long[] {12, 4, 1}, dl.get(ADDRESS, 32).reinterpret(24).toArray(JAVA_LONG));
      assertEquals(0L, dl.get(JAVA_LONG, 40), "byte_offset");
      assertEquals(exports + 1, DLPack.liveExports());
      DLPack.deleteVersioned(m); // a consumer done with it
      assertEquals(exports, DLPack.liveExports());
      // A buggy consumer's second call through the function pointer it already read: ignored. (The
      // struct itself is freed by the first call, so reading self->deleter again is the consumer's
      // use-after-free; DLPack.deleteVersioned(m) here would read freed memory.)
      long ignored = DLPack.ignoredDeletes();
      callNative(DELETER_OF_EXPORTS, m);
      assertEquals(ignored + 1, DLPack.ignoredDeletes());
      MemorySegment other = DLPack.toDLPack(t);
      Thread.ofPlatform().start(() -> DLPack.delete(other)).join(); // a consumer's deleter on another thread
      assertEquals(exports, DLPack.liveExports());
      MemorySegment legacy = DLPack.toDLPack(Tensor.ofLongs(d, new long[] {7, -8}, 2)).reinterpret(64);
      assertEquals(0, legacy.get(JAVA_BYTE, 20), "code kDLInt");
      assertEquals(64, legacy.get(JAVA_BYTE, 21), "bits");
      DLPack.delete(legacy);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void roundTripSharesMemoryAndOutlivesTheExporter(Device d) {
    TestDevices.assumeUsable(d);
    int exports = DLPack.liveExports();
    for (boolean versioned : new boolean[] {false, true}) {
      Tensor imported;
      try (Scope outer = Scope.open()) {
        Tensor t = Tensor.of(d, new float[] {1, -2, 3, -4, 5, -6}, 2, 3);
        MemorySegment m = versioned ? DLPack.toDLPackVersioned(t) : DLPack.toDLPack(t);
        try (Scope inner = Scope.open()) {
          imported = inner.keep(versioned ? DLPack.fromDLPackVersioned(m) : DLPack.fromDLPack(m));
        }
        assertArrayEquals(new int[] {2, 3}, imported.dims());
        assertEquals(d, imported.device());
        imported.fill(0.5f); // the same memory
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, t.toArray());
        t.close();
        assertEquals(exports + 1, DLPack.liveExports(), "the export holds the storage");
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, Activations.relu(imported).toArray());
      }
      imported.close(); // outermost keep: the caller closes it; its release calls our deleter
      assertEquals(exports, DLPack.liveExports(), versioned ? "versioned" : "legacy");
    }
  }

  /** A producer's struct built by hand: data at {@code data} with a byte offset, optional strides. */
  private static MemorySegment producerStruct(Arena a, boolean versioned, Device d, long data, long byteOffset,
      long[] shape, long[] strides, int code, int bits, int lanes, long flags) {
    MemorySegment m = a.allocate(versioned ? 80 : 64, 8);
    MemorySegment dl = m.asSlice(versioned ? 32 : 0, 48);
    dl.set(ADDRESS, 0, MemorySegment.ofAddress(data));
    dl.set(JAVA_INT, 8, d.isCuda() ? 2 : 1);
    dl.set(JAVA_INT, 12, d.index());
    dl.set(JAVA_INT, 16, shape.length);
    dl.set(JAVA_BYTE, 20, (byte) code);
    dl.set(JAVA_BYTE, 21, (byte) bits);
    dl.set(JAVA_SHORT, 22, (short) lanes);
    dl.set(ADDRESS, 24, a.allocateFrom(JAVA_LONG, shape));
    dl.set(ADDRESS, 32, strides == null ? MemorySegment.NULL : a.allocateFrom(JAVA_LONG, strides));
    dl.set(JAVA_LONG, 40, byteOffset);
    if (versioned) {
      m.set(JAVA_INT, 0, 1);
      m.set(JAVA_INT, 4, 0);
      m.set(ADDRESS, 16, COUNTING_DELETER);
      m.set(JAVA_LONG, 24, flags);
    } else {
      m.set(ADDRESS, 56, COUNTING_DELETER);
    }
    return m;
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void importsAProducersStructAndCallsItsDeleterOnce(Device d) {
    TestDevices.assumeUsable(d);
    ForeignMemory lib = ForeignMemory.on(d);
    float[] values = new float[2 + 12];
    for (int i = 0; i < values.length; i++) values[i] = i - 5;
    long ptr = lib.allocate(4L * values.length);
    try (Arena a = Arena.ofConfined()) {
      lib.write(ptr, values, a);
      lib.synchronize();
      long[][] stridesCases = {null, {4, 1}, {4, 1, 99}}; // NULL, explicit compact, any stride on a size-1 dim
      long[][] shapes = {{3, 4}, {3, 4}, {3, 4, 1}};
      for (int c = 0; c < shapes.length; c++) {
        for (boolean versioned : new boolean[] {false, true}) {
          int before = DELETES.get();
          // byte_offset 8: the tensor starts at the third float
          MemorySegment m = producerStruct(a, versioned, d, ptr, 8, shapes[c], stridesCases[c], 2, 32, 1, 0);
          try (Scope s = Scope.open()) {
            Tensor t = versioned ? DLPack.fromDLPackVersioned(m) : DLPack.fromDLPack(m);
            assertEquals(shapes[c].length, t.rank());
            float[] got = t.toArray();
            for (int i = 0; i < 12; i++) assertEquals(values[2 + i], got[i], "value " + i);
            Tensor view = t.reshape(12);
            t.close();
            assertEquals(before, DELETES.get(), "a view keeps it");
            assertEquals(values[13], view.toArray()[11]);
          }
          assertEquals(before + 1, DELETES.get(), "the deleter ran exactly once (case " + c + ", versioned " + versioned + ")");
        }
      }
    } finally {
      lib.free(ptr);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void readOnlyIsCopiedAndEmptyNeedsNoData(Device d) {
    TestDevices.assumeUsable(d);
    ForeignMemory lib = ForeignMemory.on(d);
    long ptr = lib.allocate(16);
    try (Arena a = Arena.ofConfined(); Scope s = Scope.open()) {
      lib.write(ptr, new float[] {1, 2, 3, 4}, a);
      lib.synchronize();
      int before = DELETES.get();
      Tensor t = DLPack.fromDLPackVersioned(
          producerStruct(a, true, d, ptr, 0, new long[] {4}, null, 2, 32, 1, DLPack.FLAG_READ_ONLY));
      assertEquals(before + 1, DELETES.get(), "read-only: copied, and the producer released at once");
      t.fill(9f); // writes the copy only
      assertArrayEquals(new float[] {1, 2, 3, 4}, lib.read(ptr, 4));
      Tensor empty = DLPack.fromDLPack(producerStruct(a, false, d, 0, 0, new long[] {0, 3}, null, 2, 32, 1, 0));
      assertArrayEquals(new int[] {0, 3}, empty.dims());
      assertEquals(before + 2, DELETES.get(), "nothing to share: released at once");
    } finally {
      lib.free(ptr);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void rejectsWhatItCannotShare(Device d) {
    TestDevices.assumeUsable(d);
    int before = DELETES.get();
    long ptr = 4096; // never read: every case is rejected before the data is touched
    try (Arena a = Arena.ofConfined(); Scope s = Scope.open()) {
      long[] shape = {3, 4};
      assertRejects("dtype", () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 0, shape, null, 2, 64, 1, 0)));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 0, shape, null, 2, 32, 4, 0)));
      assertTrue(e.getMessage().contains("code 2, bits 32, lanes 4"), e.getMessage());
      assertRejects("dtype", () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 0, shape, null, 1, 8, 1, 0)));
      IllegalArgumentException st = assertThrows(IllegalArgumentException.class,
          () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 0, shape, new long[] {1, 3}, 2, 32, 1, 0)));
      assertTrue(st.getMessage().startsWith("strides: expected compact row-major strides [4, 1] for shape [3, 4] but got [1, 3]"),
          st.getMessage());
      assertRejects("data", () -> DLPack.fromDLPack(producerStruct(a, false, d, 0, 0, shape, null, 2, 32, 1, 0)));
      assertRejects("shape", () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 0, new long[] {-1, 4}, null, 2, 32, 1, 0)));
      assertRejects("address", () -> DLPack.fromDLPack(producerStruct(a, false, d, ptr, 2, shape, null, 2, 32, 1, 0)));
      MemorySegment vulkan = producerStruct(a, false, d, ptr, 0, shape, null, 2, 32, 1, 0);
      vulkan.set(JAVA_INT, 8, 7);
      assertRejects("device_type", () -> DLPack.fromDLPack(vulkan));
      MemorySegment badNdim = producerStruct(a, false, d, ptr, 0, shape, null, 2, 32, 1, 0);
      badNdim.set(JAVA_INT, 16, -1);
      assertRejects("ndim", () -> DLPack.fromDLPack(badNdim));
      assertRejects("managed", () -> DLPack.fromDLPack(MemorySegment.NULL));
      assertRejects("managed", () -> DLPack.fromDLPack(null));
      assertRejects("t", () -> DLPack.toDLPack(null));
      assertEquals(before, DELETES.get(), "a rejected import leaves the struct (and its deleter) to the caller");
      MemorySegment future = producerStruct(a, true, d, ptr, 0, shape, null, 2, 32, 1, 0);
      future.set(JAVA_INT, 0, 2);
      assertRejects("managed", () -> DLPack.fromDLPackVersioned(future));
      assertEquals(before + 1, DELETES.get(), "another major version: DLPack requires the consumer to call the deleter");
    }
  }
}
