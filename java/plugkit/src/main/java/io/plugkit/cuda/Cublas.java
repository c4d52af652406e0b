package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;

/**
 * Every FFM downcall into cuBLAS (v2 API, of a CUDA major the driver runs), bound by symbol: no header
 * is needed at build time. libcublasLt from the same folder is loaded first so that libcublas's
 * dependency resolves even where the folder is not on the loader path (Python wheels).
 */
public final class Cublas {
  /** cublasOperation_t. */
  static final int OP_N = 0;
  static final int OP_T = 1;
  /** cublasMath_t CUBLAS_TF32_TENSOR_OP_MATH: FP32 GEMM may round inputs to TF32 on tensor cores. */
  private static final int TF32_TENSOR_OP_MATH = 3;

  private static final Linker LINKER = Linker.nativeLinker();

  private final LoadedLibrary lib;
  private final MethodHandle create;
  private final MethodHandle setStream;
  private final MethodHandle setMathMode;
  private final MethodHandle getVersion;
  private final MethodHandle sgemmStridedBatched;
  private final MethodHandle statusName;
  private final MethodHandle statusString;

  private Cublas(LoadedLibrary lib) {
    this.lib = lib;
    create = bind("cublasCreate_v2", ADDRESS);
    setStream = bind("cublasSetStream_v2", JAVA_LONG, JAVA_LONG);
    setMathMode = bind("cublasSetMathMode", JAVA_LONG, JAVA_INT);
    getVersion = bind("cublasGetVersion_v2", JAVA_LONG, ADDRESS);
    sgemmStridedBatched = bind("cublasSgemmStridedBatched", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
        ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG,
        JAVA_INT);
    // Both appeared in cuBLAS 11.4; older builds report the bare status number.
    statusName = lib.lookup().find("cublasGetStatusName")
        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS, JAVA_INT))).orElse(null);
    statusString = lib.lookup().find("cublasGetStatusString")
        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS, JAVA_INT))).orElse(null);
  }

  /**
   * cuBLAS's sonames for a driver reporting {@code driverVersion} (0: unknown, all known), best
   * first: {@code libcublas.so.13} only for a 13.x driver, then older majors, which it also runs.
   */
  public static List<String> sonames(int driverVersion) { return CudaMajor.sonames("libcublas.so.", driverVersion); }

  /** cuBLASLt's sonames, as {@link #sonames}. */
  public static List<String> ltSonames(int driverVersion) { return CudaMajor.sonames("libcublasLt.so.", driverVersion); }

  /**
   * Loads the cuBLAS this driver runs through the locator, or throws
   * {@link UnsupportedFeatureException} saying where it looked and which majors the driver allows.
   */
  static Cublas load(LibraryLocator locator, int driverVersion) {
    try {
      return new Cublas(LoadedLibrary.load("cuBLAS", locator.candidates(sonames(driverVersion)), locator.describeSearch(),
          dir -> preloadLt(dir, driverVersion)));
    } catch (UnsupportedFeatureException e) {
      throw new UnsupportedFeatureException(e.getMessage().substring("unsupported: ".length()) + " (the NVIDIA driver"
          + " supports " + CudaMajor.dotted(driverVersion) + ": a newer cuBLAS major would not run on it)", e);
    }
  }

  /** Loads libcublasLt from {@code dir} when it is there: libcublas needs it at load time. */
  private static void preloadLt(Path dir, int driverVersion) {
    LoadedLibrary.tryLoad("cuBLASLt", new LibraryLocator(List.of(dir), List.of()).candidates(ltSonames(driverVersion))
        .stream().filter(c -> !c.bySoname()).toList());
  }

  public String location() { return lib.location(); }

  private MethodHandle bind(String symbol, java.lang.foreign.MemoryLayout... args) {
    return LINKER.downcallHandle(lib.require(symbol), FunctionDescriptor.of(JAVA_INT, args));
  }

  private void check(int status, String call) {
    if (status != 0) throw new NativeException("cuBLAS", call, status, text(statusName, status, "CUBLAS_STATUS_" + status),
        text(statusString, status, ""));
  }

  private static String text(MethodHandle h, int status, String fallback) {
    if (h == null) return fallback;
    try {
      MemorySegment s = (MemorySegment) h.invokeExact(status);
      return s.equals(MemorySegment.NULL) ? fallback : s.reinterpret(1024).getString(0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** A new handle bound to {@code stream}; TF32 tensor-core math only when asked for. */
  long createHandle(long stream, boolean allowTf32) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) create.invokeExact(out), "cublasCreate_v2");
      long handle = out.get(JAVA_LONG, 0);
      check((int) setStream.invokeExact(handle, stream), "cublasSetStream_v2");
      if (allowTf32) check((int) setMathMode.invokeExact(handle, TF32_TENSOR_OP_MATH), "cublasSetMathMode");
      return handle;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** Binds {@code handle}'s later calls to {@code stream}. */
  void setStream(long handle, long stream) {
    try {
      check((int) setStream.invokeExact(handle, stream), "cublasSetStream_v2");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** e.g. 130100 for 13.1.0. */
  int version(long handle) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) getVersion.invokeExact(handle, out), "cublasGetVersion_v2");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** Column-major strided batched SGEMM, alpha and beta read from host memory. */
  void sgemmStridedBatched(long handle, GemmMapping.ColumnMajor g) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment alpha = a.allocateFrom(JAVA_FLOAT, g.alpha());
      MemorySegment beta = a.allocateFrom(JAVA_FLOAT, g.beta());
      check((int) sgemmStridedBatched.invokeExact(handle, g.transA() ? OP_T : OP_N, g.transB() ? OP_T : OP_N, g.m(), g.n(),
          g.k(), alpha, g.a(), g.lda(), g.strideA(), g.b(), g.ldb(), g.strideB(), beta, g.c(), g.ldc(), g.strideC(),
          g.batch()), "cublasSgemmStridedBatched");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }
}
