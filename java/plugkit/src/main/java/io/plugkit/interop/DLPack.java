package io.plugkit.interop;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Pins;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * DLPack exchange through FFM, without copies: {@code DLManagedTensor} (the legacy struct) and
 * {@code DLManagedTensorVersioned} (DLPack 1.x, with version and flags).
 *
 * <p>Export ({@link #toDLPack}, {@link #toDLPackVersioned}): a struct in native memory whose
 * {@code data} is the tensor's memory, with explicit compact row-major strides. It holds its own
 * reference to the storage (an unscoped view), so the exporter's scope may close first; its
 * deleter, an FFM upcall stub, drops that reference and frees the struct, on any thread. The
 * consumer must call the deleter exactly once. The first call frees the struct, so the consumer
 * must not read it again (not even {@code self->deleter}); a second call through a function
 * pointer read before the first is ignored, as is any pointer that is not a live export. Before
 * it returns, the calling thread's CUDA stream is synchronized, so a consumer on any stream sees
 * the values.
 *
 * <p>Import ({@link #fromDLPack}, {@link #fromDLPackVersioned}): a tensor on the producer's memory
 * ({@link Tensor#wrap}), whose release calls the producer's deleter exactly once. Accepted: device
 * kDLCPU (1) or kDLCUDA (2); dtypes float32, float16, bfloat16, int64 with one lane;
 * {@code byte_offset}; strides NULL (compact row-major) or explicitly compact (any stride for a
 * dimension of size 1, as PyTorch writes them). Non-compact strides are rejected, not copied:
 * plugkit tensors are dense, and a silent copy would break the sharing the caller asked for. A
 * versioned tensor flagged read-only is the one import that copies (plugkit tensors are writable):
 * its deleter is called once the copy is complete. An empty tensor with a NULL data pointer
 * becomes an empty plugkit tensor and its deleter is called at once. When an import throws, the
 * struct stays the caller's (its deleter is not called), except for a versioned struct of a major
 * version other than 1, where DLPack requires the consumer to call the deleter: it is called.
 */
public final class DLPack {
  /** The DLPack version {@link #toDLPackVersioned} writes. */
  public static final int MAJOR_VERSION = 1;
  public static final int MINOR_VERSION = 1;
  public static final long FLAG_READ_ONLY = 1L;
  public static final long FLAG_IS_COPIED = 1L << 1;
  public static final int DEVICE_CPU = 1;
  public static final int DEVICE_CUDA = 2;
  private static final int CODE_INT = 0;
  private static final int CODE_FLOAT = 2;
  private static final int CODE_BFLOAT = 4;

  /** dlpack.h's DLTensor on a 64-bit platform (FFM checks natural alignment of every field). */
  public static final StructLayout DL_TENSOR = MemoryLayout.structLayout(
      ADDRESS.withName("data"),
      JAVA_INT.withName("device_type"), JAVA_INT.withName("device_id"),
      JAVA_INT.withName("ndim"),
      JAVA_BYTE.withName("code"), JAVA_BYTE.withName("bits"), JAVA_SHORT.withName("lanes"),
      ADDRESS.withName("shape"), ADDRESS.withName("strides"),
      JAVA_LONG.withName("byte_offset"));
  public static final StructLayout MANAGED = MemoryLayout.structLayout(
      DL_TENSOR.withName("dl_tensor"), ADDRESS.withName("manager_ctx"), ADDRESS.withName("deleter"));
  public static final StructLayout VERSIONED = MemoryLayout.structLayout(
      JAVA_INT.withName("major"), JAVA_INT.withName("minor"),
      ADDRESS.withName("manager_ctx"), ADDRESS.withName("deleter"),
      JAVA_LONG.withName("flags"),
      DL_TENSOR.withName("dl_tensor"));

  private static final long DATA = off(DL_TENSOR, "data");
  private static final long DEVICE_TYPE = off(DL_TENSOR, "device_type");
  private static final long DEVICE_ID = off(DL_TENSOR, "device_id");
  private static final long NDIM = off(DL_TENSOR, "ndim");
  private static final long CODE = off(DL_TENSOR, "code");
  private static final long BITS = off(DL_TENSOR, "bits");
  private static final long LANES = off(DL_TENSOR, "lanes");
  private static final long SHAPE = off(DL_TENSOR, "shape");
  private static final long STRIDES = off(DL_TENSOR, "strides");
  private static final long BYTE_OFFSET = off(DL_TENSOR, "byte_offset");
  private static final long M_TENSOR = off(MANAGED, "dl_tensor");
  private static final long M_CTX = off(MANAGED, "manager_ctx");
  private static final long M_DELETER = off(MANAGED, "deleter");
  private static final long V_MAJOR = off(VERSIONED, "major");
  private static final long V_MINOR = off(VERSIONED, "minor");
  private static final long V_CTX = off(VERSIONED, "manager_ctx");
  private static final long V_DELETER = off(VERSIONED, "deleter");
  private static final long V_FLAGS = off(VERSIONED, "flags");
  private static final long V_TENSOR = off(VERSIONED, "dl_tensor");

  private static final Linker LINKER = Linker.nativeLinker();
  /** Calls a producer's {@code void deleter(self*)}. */
  private static final MethodHandle CALL_DELETER = LINKER.downcallHandle(FunctionDescriptor.ofVoid(ADDRESS));
  /** Our exports: struct address -> what it keeps alive. */
  private static final ConcurrentHashMap<Long, Export> EXPORTS = new ConcurrentHashMap<>();
  private static final AtomicLong IGNORED_DELETES = new AtomicLong();
  /** Both structs' deleter: one stub, for the process's life. */
  private static final MemorySegment DELETER_STUB;

  static {
    try {
      MethodHandle target = MethodHandles.lookup().findStatic(DLPack.class, "deleter",
          MethodType.methodType(void.class, MemorySegment.class));
      DELETER_STUB = LINKER.upcallStub(target, FunctionDescriptor.ofVoid(ADDRESS), Arena.global());
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private record Export(Tensor view, Arena arena) {}

  private DLPack() {}

  private static long off(StructLayout layout, String field) {
    return layout.byteOffset(PathElement.groupElement(field));
  }

  // ---- export -------------------------------------------------------------------------------

  /** A {@code DLManagedTensor*} viewing {@code t}'s memory; the consumer calls its deleter once. */
  public static MemorySegment toDLPack(Tensor t) { return export(t, false); }

  /** A {@code DLManagedTensorVersioned*} (version 1.1, flags 0: writable, not copied) viewing {@code t}'s memory. */
  public static MemorySegment toDLPackVersioned(Tensor t) { return export(t, true); }

  private static MemorySegment export(Tensor t, boolean versioned) {
    if (t == null) throw new IllegalArgumentException("t: expected a Tensor but got null");
    if (t.isFreed()) throw new IllegalArgumentException("t: expected a live tensor but " + t.shape() + " was freed");
    int[] dims = t.dims();
    Arena arena = Arena.ofShared();
    Tensor view = null;
    try {
      long structBytes = versioned ? VERSIONED.byteSize() : MANAGED.byteSize();
      MemorySegment s = arena.allocate(structBytes + 16L * dims.length, 8);
      MemorySegment shape = s.asSlice(structBytes, 8L * dims.length);
      MemorySegment strides = s.asSlice(structBytes + 8L * dims.length, 8L * dims.length);
      long stride = 1;
      for (int i = dims.length - 1; i >= 0; i--) {
        shape.setAtIndex(JAVA_LONG, i, dims[i]);
        strides.setAtIndex(JAVA_LONG, i, stride);
        stride *= dims[i];
      }
      view = t.unscopedView();
      long data;
      try (Pins p = Pins.hold()) {
        data = view.address();
        view.driver().synchronize(); // the values are complete for a consumer on any stream
      }
      long tensorAt = versioned ? V_TENSOR : M_TENSOR;
      MemorySegment dl = s.asSlice(tensorAt, DL_TENSOR.byteSize());
      dl.set(ADDRESS, DATA, MemorySegment.ofAddress(data));
      dl.set(JAVA_INT, DEVICE_TYPE, t.device().isCuda() ? DEVICE_CUDA : DEVICE_CPU);
      dl.set(JAVA_INT, DEVICE_ID, t.device().index());
      dl.set(JAVA_INT, NDIM, dims.length);
      int[] type = dlType(t.dtype());
      dl.set(JAVA_BYTE, CODE, (byte) type[0]);
      dl.set(JAVA_BYTE, BITS, (byte) type[1]);
      dl.set(JAVA_SHORT, LANES, (short) 1);
      dl.set(ADDRESS, SHAPE, shape);
      dl.set(ADDRESS, STRIDES, strides);
      dl.set(JAVA_LONG, BYTE_OFFSET, 0L);
      if (versioned) {
        s.set(JAVA_INT, V_MAJOR, MAJOR_VERSION);
        s.set(JAVA_INT, V_MINOR, MINOR_VERSION);
        s.set(ADDRESS, V_CTX, MemorySegment.NULL);
        s.set(ADDRESS, V_DELETER, DELETER_STUB);
        s.set(JAVA_LONG, V_FLAGS, 0L);
      } else {
        s.set(ADDRESS, M_CTX, MemorySegment.NULL);
        s.set(ADDRESS, M_DELETER, DELETER_STUB);
      }
      EXPORTS.put(s.address(), new Export(view, arena));
      return MemorySegment.ofAddress(s.address()).reinterpret(structBytes);
    } catch (RuntimeException | Error e) {
      if (view != null) view.close();
      arena.close();
      throw e;
    }
  }

  private static int[] dlType(DType d) {
    return switch (d) {
      case F32 -> new int[] {CODE_FLOAT, 32};
      case F16 -> new int[] {CODE_FLOAT, 16};
      case BF16 -> new int[] {CODE_BFLOAT, 16};
      case I64 -> new int[] {CODE_INT, 64};
    };
  }

  /** The upcall: never lets an exception reach native code (that would end the JVM). */
  private static void deleter(MemorySegment self) {
    try {
      Export e = EXPORTS.remove(self.address());
      if (e == null) {
        IGNORED_DELETES.incrementAndGet(); // a second call, or a pointer that is not ours
        return;
      }
      try {
        e.view().close();
      } finally {
        e.arena().close();
      }
    } catch (Throwable t) {
      IGNORED_DELETES.incrementAndGet();
    }
  }

  /** Exports whose deleter has not run yet (tests, leak checks). */
  public static int liveExports() { return EXPORTS.size(); }

  /** Deleter calls that found nothing to release (second calls, foreign pointers). */
  public static long ignoredDeletes() { return IGNORED_DELETES.get(); }

  /**
   * Calls the deleter of a {@code DLManagedTensor*} (as a consumer that will not import it does).
   * It reads the deleter from the struct, so the struct must not have been deleted already.
   */
  public static void delete(MemorySegment managed) {
    MemorySegment m = struct(managed, MANAGED.byteSize(), "managed");
    callDeleter(m.get(ADDRESS, M_DELETER), m);
  }

  /** Calls the deleter of a {@code DLManagedTensorVersioned*}. */
  public static void deleteVersioned(MemorySegment managed) {
    MemorySegment m = struct(managed, VERSIONED.byteSize(), "managed");
    callDeleter(m.get(ADDRESS, V_DELETER), m);
  }

  private static void callDeleter(MemorySegment fn, MemorySegment self) {
    if (fn.equals(MemorySegment.NULL)) return; // DLPack allows a NULL deleter: nothing to release
    try {
      CALL_DELETER.invokeExact(fn, self);
    } catch (Throwable t) {
      throw new IllegalStateException("DLPack deleter failed", t);
    }
  }

  // ---- import -------------------------------------------------------------------------------

  /** A tensor on the memory of a {@code DLManagedTensor*}; releasing it calls the producer's deleter once. */
  public static Tensor fromDLPack(MemorySegment managed) {
    MemorySegment m = struct(managed, MANAGED.byteSize(), "managed");
    return importTensor(m, m.asSlice(M_TENSOR, DL_TENSOR.byteSize()), m.get(ADDRESS, M_DELETER), false);
  }

  /** A tensor on the memory of a {@code DLManagedTensorVersioned*} (major version 1). */
  public static Tensor fromDLPackVersioned(MemorySegment managed) {
    MemorySegment m = struct(managed, VERSIONED.byteSize(), "managed");
    int major = m.get(JAVA_INT, V_MAJOR);
    MemorySegment deleter = m.get(ADDRESS, V_DELETER);
    if (major != MAJOR_VERSION) {
      callDeleter(deleter, m); // DLPack: a consumer that cannot read this major must call the deleter
      throw new IllegalArgumentException("managed: expected DLPack major version " + MAJOR_VERSION + " but got " + major
          + "." + m.get(JAVA_INT, V_MINOR) + " (its deleter was called, as DLPack requires)");
    }
    boolean readOnly = (m.get(JAVA_LONG, V_FLAGS) & FLAG_READ_ONLY) != 0;
    return importTensor(m, m.asSlice(V_TENSOR, DL_TENSOR.byteSize()), deleter, readOnly);
  }

  private static MemorySegment struct(MemorySegment p, long bytes, String name) {
    if (p == null || p.equals(MemorySegment.NULL) || p.address() == 0) {
      throw new IllegalArgumentException(name + ": expected a pointer to a DLPack struct but got NULL");
    }
    if (!p.isNative()) throw new IllegalArgumentException(name + ": expected native memory but got a heap segment");
    return p.byteSize() >= bytes ? p : MemorySegment.ofAddress(p.address()).reinterpret(bytes);
  }

  private static Tensor importTensor(MemorySegment self, MemorySegment dl, MemorySegment deleter, boolean readOnly) {
    int deviceType = dl.get(JAVA_INT, DEVICE_TYPE);
    int deviceId = dl.get(JAVA_INT, DEVICE_ID);
    Device device = switch (deviceType) {
      case DEVICE_CPU -> Device.cpu();
      case DEVICE_CUDA -> {
        if (deviceId < 0) throw new IllegalArgumentException("device_id: expected >= 0 for kDLCUDA but got " + deviceId);
        yield Device.cuda(deviceId);
      }
      default -> throw new IllegalArgumentException("device_type: expected kDLCPU (1) or kDLCUDA (2) but got " + deviceType);
    };
    DType dtype = dtypeOf(dl.get(JAVA_BYTE, CODE) & 0xff, dl.get(JAVA_BYTE, BITS) & 0xff, dl.get(JAVA_SHORT, LANES) & 0xffff);
    int ndim = dl.get(JAVA_INT, NDIM);
    if (ndim < 0 || ndim > 64) throw new IllegalArgumentException("ndim: expected 0 to 64 but got " + ndim);
    MemorySegment shapePtr = dl.get(ADDRESS, SHAPE);
    if (ndim > 0 && shapePtr.address() == 0) {
      throw new IllegalArgumentException("shape: expected " + ndim + " sizes but got NULL");
    }
    long[] sizes = ndim == 0 ? new long[0] : shapePtr.reinterpret(8L * ndim).toArray(JAVA_LONG);
    int[] dims = new int[ndim];
    for (int i = 0; i < ndim; i++) {
      if (sizes[i] < 0 || sizes[i] > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("shape: expected sizes from 0 to " + Integer.MAX_VALUE + " but got " + Arrays.toString(sizes));
      }
      dims[i] = (int) sizes[i];
    }
    Shape shape = Shape.of(dims);
    MemorySegment stridesPtr = dl.get(ADDRESS, STRIDES);
    if (stridesPtr.address() != 0 && ndim > 0) requireCompact(sizes, stridesPtr.reinterpret(8L * ndim).toArray(JAVA_LONG));
    long data = dl.get(ADDRESS, DATA).address();
    long byteOffset = dl.get(JAVA_LONG, BYTE_OFFSET);
    if (byteOffset < 0) throw new IllegalArgumentException("byte_offset: expected < 2^63 but got " + Long.toUnsignedString(byteOffset));
    if (data == 0 && shape.numel() == 0) { // nothing to share: an empty tensor of our own
      Tensor t = Tensor.empty(device, dtype, shape);
      callDeleter(deleter, self);
      return t;
    }
    if (data == 0) throw new IllegalArgumentException("data: expected a pointer for " + shape.numel() + " elements but got NULL");
    Runnable release = new Runnable() {
      @Override public void run() { callDeleter(deleter, self); }
    };
    if (!readOnly) return Tensor.wrap(device, data + byteOffset, shape, dtype, release);
    // Read-only: plugkit's tensors are writable, so copy, and let the producer go once the copy is done.
    Tensor copy;
    try (Tensor producer = Tensor.wrap(device, data + byteOffset, shape, dtype, () -> {})) {
      copy = producer.copy();
      copy.driver().synchronize();
    }
    callDeleter(deleter, self);
    return copy;
  }

  private static DType dtypeOf(int code, int bits, int lanes) {
    if (lanes == 1) {
      if (code == CODE_FLOAT && bits == 32) return DType.F32;
      if (code == CODE_FLOAT && bits == 16) return DType.F16;
      if (code == CODE_BFLOAT && bits == 16) return DType.BF16;
      if (code == CODE_INT && bits == 64) return DType.I64;
    }
    throw new IllegalArgumentException("dtype: expected float32, float16, bfloat16 or int64 with 1 lane (code/bits/lanes "
        + "2/32/1, 2/16/1, 4/16/1, 0/64/1) but got code " + code + ", bits " + bits + ", lanes " + lanes);
  }

  /** Compact row-major in elements; a dimension of size 1 may have any stride, an empty tensor any strides. */
  private static void requireCompact(long[] sizes, long[] strides) {
    long numel = 1;
    for (long s : sizes) numel *= s;
    if (numel == 0) return;
    long expected = 1;
    for (int i = sizes.length - 1; i >= 0; i--) {
      if (sizes[i] != 1 && strides[i] != expected) {
        long[] want = new long[sizes.length];
        long e = 1;
        for (int j = sizes.length - 1; j >= 0; j--) {
          want[j] = e;
          e *= sizes[j];
        }
        throw new IllegalArgumentException("strides: expected compact row-major strides " + Arrays.toString(want)
            + " for shape " + Arrays.toString(sizes) + " but got " + Arrays.toString(strides)
            + " (plugkit imports dense tensors without a copy: make it contiguous first)");
      }
      expected *= sizes[i];
    }
  }
}
