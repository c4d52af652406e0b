package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

/**
 * Every FFM downcall into libcuda (the CUDA driver API). Entry points come from
 * {@code cuGetProcAddress_v2} asked for the CUDA 12.0 ABI of each function, never from the
 * unversioned exports: {@code cuMemcpyHtoDAsync} exported under that name keeps the CUDA 3.1
 * ABI (32-bit sizes and pointers) and silently corrupts. Where cuGetProcAddress is missing or
 * does not know a symbol, the explicit versioned export ({@code cuMemcpyHtoDAsync_v2}) is used.
 *
 * <p>Handles ({@code CUcontext}, {@code CUstream}, ...) and device pointers travel as
 * {@code long}; host out-parameters as memory segments. Every {@code CUresult} other than
 * {@code CUDA_SUCCESS} becomes a {@link NativeException} with the driver's error name and text.
 */
public final class CudaLibrary {
  public static final List<String> SONAMES = List.of("libcuda.so.1");
  /** The ABI version asked of cuGetProcAddress: CUDA 12.0, whose signatures this class declares. */
  static final int ABI_VERSION = 12000;
  static final int ERROR_OUT_OF_MEMORY = 2;
  static final int ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
  static final int ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
  static final int ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
  static final int ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115;
  private static final int STREAM_NON_BLOCKING = 1;
  private static final int EVENT_DISABLE_TIMING = 2;
  private static final int MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
  private static final Map<String, String> VERSIONED_EXPORTS = Map.of("cuDeviceTotalMem", "cuDeviceTotalMem_v2",
      "cuMemcpyHtoDAsync", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync", "cuMemcpyDtoHAsync_v2",
      "cuMemcpyDtoDAsync", "cuMemcpyDtoDAsync_v2", "cuEventDestroy", "cuEventDestroy_v2");

  private static final Linker LINKER = Linker.nativeLinker();
  private static volatile Object loaded;

  private final LoadedLibrary lib;
  private final MethodHandle getProcAddress;
  private final MethodHandle getErrorName;
  private final MethodHandle getErrorString;
  private final MethodHandle driverGetVersion;
  private final MethodHandle init;
  private final MethodHandle deviceGetCount;
  private final MethodHandle deviceGet;
  private final MethodHandle deviceGetName;
  private final MethodHandle deviceGetAttribute;
  private final MethodHandle deviceTotalMem;
  private final MethodHandle primaryCtxRetain;
  private final MethodHandle ctxSetCurrent;
  private final MethodHandle ctxSynchronize;
  private final MethodHandle streamCreate;
  private final MethodHandle streamDestroy;
  private final MethodHandle streamSynchronize;
  private final MethodHandle streamWaitEvent;
  private final MethodHandle eventCreate;
  private final MethodHandle eventRecord;
  private final MethodHandle eventDestroy;
  private final MethodHandle deviceGetDefaultMemPool;
  private final MethodHandle memPoolSetAttribute;
  private final MethodHandle memPoolTrimTo;
  private final MethodHandle memAllocAsync;
  private final MethodHandle memFreeAsync;
  private final MethodHandle memcpyHtoDAsync;
  private final MethodHandle memcpyDtoHAsync;
  private final MethodHandle memcpyDtoDAsync;
  private final MethodHandle memsetD32Async;
  private final MethodHandle moduleLoadData;
  private final MethodHandle moduleGetFunction;
  private final MethodHandle launchKernel;

  private CudaLibrary(LoadedLibrary lib) {
    this.lib = lib;
    getProcAddress = lib.lookup().find("cuGetProcAddress_v2")
        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS)))
        .orElse(null);
    driverGetVersion = LINKER.downcallHandle(lib.require("cuDriverGetVersion"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
    getErrorName = bind("cuGetErrorName", JAVA_INT, ADDRESS);
    getErrorString = bind("cuGetErrorString", JAVA_INT, ADDRESS);
    init = bind("cuInit", JAVA_INT);
    deviceGetCount = bind("cuDeviceGetCount", ADDRESS);
    deviceGet = bind("cuDeviceGet", ADDRESS, JAVA_INT);
    deviceGetName = bind("cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
    deviceGetAttribute = bind("cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
    deviceTotalMem = bind("cuDeviceTotalMem", ADDRESS, JAVA_INT);
    primaryCtxRetain = bind("cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
    ctxSetCurrent = bind("cuCtxSetCurrent", JAVA_LONG);
    ctxSynchronize = bind("cuCtxSynchronize");
    streamCreate = bind("cuStreamCreate", ADDRESS, JAVA_INT);
    streamDestroy = bind("cuStreamDestroy", JAVA_LONG);
    streamSynchronize = bind("cuStreamSynchronize", JAVA_LONG);
    streamWaitEvent = bind("cuStreamWaitEvent", JAVA_LONG, JAVA_LONG, JAVA_INT);
    eventCreate = bind("cuEventCreate", ADDRESS, JAVA_INT);
    eventRecord = bind("cuEventRecord", JAVA_LONG, JAVA_LONG);
    eventDestroy = bind("cuEventDestroy", JAVA_LONG);
    deviceGetDefaultMemPool = bind("cuDeviceGetDefaultMemPool", ADDRESS, JAVA_INT);
    memPoolSetAttribute = bind("cuMemPoolSetAttribute", JAVA_LONG, JAVA_INT, ADDRESS);
    memPoolTrimTo = bind("cuMemPoolTrimTo", JAVA_LONG, JAVA_LONG);
    memAllocAsync = bind("cuMemAllocAsync", ADDRESS, JAVA_LONG, JAVA_LONG);
    memFreeAsync = bind("cuMemFreeAsync", JAVA_LONG, JAVA_LONG);
    memcpyHtoDAsync = bind("cuMemcpyHtoDAsync", JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG);
    memcpyDtoHAsync = bind("cuMemcpyDtoHAsync", ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    memcpyDtoDAsync = bind("cuMemcpyDtoDAsync", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    memsetD32Async = bind("cuMemsetD32Async", JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG);
    moduleLoadData = bind("cuModuleLoadData", ADDRESS, ADDRESS);
    moduleGetFunction = bind("cuModuleGetFunction", ADDRESS, JAVA_LONG, ADDRESS);
    launchKernel = bind("cuLaunchKernel", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
        JAVA_LONG, ADDRESS, ADDRESS);
  }

  /**
   * The process's libcuda, loaded once. Throws {@link UnsupportedFeatureException} (every time,
   * with the same reason) when no libcuda.so.1 loads or one of its entry points is missing.
   */
  public static CudaLibrary instance() {
    Object state = loaded;
    if (state == null) {
      synchronized (CudaLibrary.class) {
        state = loaded;
        if (state == null) {
          try {
            LibraryLocator locator = LibraryLocator.system();
            state = new CudaLibrary(LoadedLibrary.load("CUDA driver (libcuda)",
                locator.candidates(SONAMES), locator.describeSearch()));
          } catch (UnsupportedFeatureException e) {
            state = e.getMessage().substring("unsupported: ".length());
          }
          loaded = state;
        }
      }
    }
    if (state instanceof String reason) throw new UnsupportedFeatureException(reason);
    return (CudaLibrary) state;
  }

  public String location() { return lib.location(); }

  private MethodHandle bind(String name, java.lang.foreign.MemoryLayout... args) {
    return LINKER.downcallHandle(entryPoint(name), FunctionDescriptor.of(JAVA_INT, args));
  }

  private MemorySegment entryPoint(String name) {
    String status = "cuGetProcAddress_v2 missing (driver older than CUDA 12)";
    if (getProcAddress != null) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment pfn = a.allocate(ADDRESS);
        MemorySegment found = a.allocate(JAVA_INT);
        int rc = (int) getProcAddress.invokeExact(a.allocateFrom(name), pfn, ABI_VERSION, 0L, found);
        MemorySegment fn = pfn.get(ADDRESS, 0);
        if (rc == 0 && found.get(JAVA_INT, 0) == 0 && !fn.equals(MemorySegment.NULL)) return fn;
        status = "cuGetProcAddress_v2 gave CUresult " + rc + ", query result " + found.get(JAVA_INT, 0);
      } catch (Throwable t) {
        throw rethrow(t);
      }
    }
    String export = VERSIONED_EXPORTS.getOrDefault(name, name);
    String why = status;
    return lib.lookup().find(export).orElseThrow(() -> new UnsupportedFeatureException(
        "CUDA driver: entry point " + name + " not found in " + lib.location() + " (" + why + "; no export " + export + ")"));
  }

  /** Throws a {@link NativeException} for any {@code CUresult} but success. */
  void check(int rc, String call) {
    if (rc != 0) throw new NativeException("CUDA driver", call, rc, errorText(getErrorName, rc, "CUDA_ERROR_" + rc),
        errorText(getErrorString, rc, ""));
  }

  private static String errorText(MethodHandle h, int rc, String fallback) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      int status = (int) h.invokeExact(rc, out);
      MemorySegment text = out.get(ADDRESS, 0);
      return status != 0 || text.equals(MemorySegment.NULL) ? fallback : text.reinterpret(1024).getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code cuDriverGetVersion}: 13000 for CUDA 13.0. */
  public int driverVersion() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) driverGetVersion.invokeExact(out), "cuDriverGetVersion");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void init() {
    try {
      check((int) init.invokeExact(0), "cuInit");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public int deviceCount() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) deviceGetCount.invokeExact(out), "cuDeviceGetCount");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The {@code CUdevice} of an ordinal. */
  public int device(int ordinal) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) deviceGet.invokeExact(out, ordinal), "cuDeviceGet");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public String deviceName(int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(256);
      check((int) deviceGetName.invokeExact(out, 256, device), "cuDeviceGetName");
      return out.getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public int attribute(int attribute, int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) deviceGetAttribute.invokeExact(out, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public long totalMemory(int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) deviceTotalMem.invokeExact(out, device), "cuDeviceTotalMem");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Retains the device's primary context (the one the CUDA runtime and PyTorch share). */
  public long primaryContextRetain(int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) primaryCtxRetain.invokeExact(out, device), "cuDevicePrimaryCtxRetain");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void setCurrentContext(long context) {
    try {
      check((int) ctxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Waits for all work of the current context, on every stream. */
  public void contextSynchronize() {
    try {
      check((int) ctxSynchronize.invokeExact(), "cuCtxSynchronize");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A stream that does not synchronize with the legacy default stream. */
  public long streamCreate() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) streamCreate.invokeExact(out, STREAM_NON_BLOCKING), "cuStreamCreate");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Returns at once; work already on the stream still runs. */
  public void streamDestroy(long stream) {
    try {
      check((int) streamDestroy.invokeExact(stream), "cuStreamDestroy");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void streamSynchronize(long stream) {
    try {
      check((int) streamSynchronize.invokeExact(stream), "cuStreamSynchronize");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Makes {@code waiter} wait for all work enqueued on {@code producer} so far. */
  public void streamWaitForStream(long waiter, long producer) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) eventCreate.invokeExact(out, EVENT_DISABLE_TIMING), "cuEventCreate");
      long event = out.get(JAVA_LONG, 0);
      try {
        check((int) eventRecord.invokeExact(event, producer), "cuEventRecord");
        check((int) streamWaitEvent.invokeExact(waiter, event, 0), "cuStreamWaitEvent");
      } finally {
        // Destroying a recorded event is allowed: the driver frees it once it completes.
        check((int) eventDestroy.invokeExact(event), "cuEventDestroy");
      }
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A new event without timing, for ordering streams. */
  public long eventCreate() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) eventCreate.invokeExact(out, EVENT_DISABLE_TIMING), "cuEventCreate");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Records the work enqueued on {@code stream} so far. */
  public void eventRecord(long event, long stream) {
    try {
      check((int) eventRecord.invokeExact(event, stream), "cuEventRecord");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Makes {@code stream}'s later work wait for the work {@code event} recorded. */
  public void streamWaitEvent(long stream, long event) {
    try {
      check((int) streamWaitEvent.invokeExact(stream, event, 0), "cuStreamWaitEvent");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Destroying a recorded event is allowed: the driver frees it once it completes. */
  public void eventDestroy(long event) {
    try {
      check((int) eventDestroy.invokeExact(event), "cuEventDestroy");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public long defaultMemoryPool(int device) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) deviceGetDefaultMemPool.invokeExact(out, device), "cuDeviceGetDefaultMemPool");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Bytes the pool keeps cached across synchronizations; above it, freed memory goes back to the OS. */
  public void setPoolReleaseThreshold(long pool, long bytes) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment value = a.allocateFrom(JAVA_LONG, bytes);
      check((int) memPoolSetAttribute.invokeExact(pool, MEMPOOL_ATTR_RELEASE_THRESHOLD, value), "cuMemPoolSetAttribute");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void poolTrimTo(long pool, long keepBytes) {
    try {
      check((int) memPoolTrimTo.invokeExact(pool, keepBytes), "cuMemPoolTrimTo");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public long memAllocAsync(long bytes, long stream) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) memAllocAsync.invokeExact(out, bytes, stream), "cuMemAllocAsync(" + bytes + " bytes)");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void memFreeAsync(long pointer, long stream) {
    try {
      check((int) memFreeAsync.invokeExact(pointer, stream), "cuMemFreeAsync");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
    try {
      check((int) memcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync_v2");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream) {
    try {
      check((int) memcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync_v2");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void memcpyDtoDAsync(long dst, long src, long bytes, long stream) {
    try {
      check((int) memcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync_v2");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Sets {@code count} 32-bit words at {@code dst} to {@code value}. */
  public void memsetD32Async(long dst, int value, long count, long stream) {
    try {
      check((int) memsetD32Async.invokeExact(dst, value, count, stream), "cuMemsetD32Async");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Loads a fatbin/cubin/PTX image into the current context. */
  public long moduleLoadData(MemorySegment image) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) moduleLoadData.invokeExact(out, image), "cuModuleLoadData");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public long moduleGetFunction(long module, String name) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) moduleGetFunction.invokeExact(out, module, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A 1-D launch: {@code params} is the {@code void*[]} of argument pointers. */
  public void launchKernel(long function, int grid, int block, long stream, MemorySegment params, String name) {
    try {
      check((int) launchKernel.invokeExact(function, grid, 1, 1, block, 1, 1, 0, stream, params, MemorySegment.NULL),
          "cuLaunchKernel(" + name + ")");
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) return r;
    if (t instanceof Error e) throw e;
    return new IllegalStateException(t);
  }
}
