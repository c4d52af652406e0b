package io.plugkit.cpu;

import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every FFM downcall into libplugkit_host (the CPU target of the kernels plus the host
 * runtime). Pointers are passed as JAVA_LONG: on x86-64 SysV a pointer and a long travel in the
 * same integer register, so the address reaches the C pointer parameter unchanged.
 */
public final class HostLibrary {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final SymbolLookup LIB = load();
  private static final MethodHandle ALLOC = handle("pk_alloc", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
  private static final MethodHandle FREE = handle("pk_free", FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG));
  private static final MethodHandle CACHE_SET_LIMIT = handle("pk_host_cache_set_limit",
      FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG));
  private static final MethodHandle CACHE_BYTES = handle("pk_host_cache_bytes", FunctionDescriptor.of(ValueLayout.JAVA_LONG));
  // Critical (no thread-state transitions): it runs before every kernel launch and returns at once.
  private static final MethodHandle USE_THREADS = LINKER.downcallHandle(LIB.find("pk_use_threads").orElseThrow(
      () -> new UnsupportedFeatureException("symbol pk_use_threads missing from libplugkit_host.so")),
      FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT), Linker.Option.critical(false));
  private static final MethodHandle SGEMM = handle("pk_sgemm", FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_FLOAT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_FLOAT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
  private static final MethodHandle CONV_TAPS = handle("pk_conv_taps", FunctionDescriptor.of(ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
      ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
  private static final MethodHandle CONV_TAPS_WEIGHT_GRAD = handle("pk_conv_taps_weight_grad", FunctionDescriptor.of(
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
  private static final MethodHandle CONV_TAPS_BACKWARD = handle("pk_conv_taps_backward", FunctionDescriptor.of(
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
      ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
      ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
  private static final boolean CONV_TAPS_SUPPORTED = convTapsSupportedNatively();
  private static final ConcurrentHashMap<String, MethodHandle> KERNELS = new ConcurrentHashMap<>();

  private HostLibrary() {}

  private static SymbolLookup load() {
    String override = System.getProperty("plugkit.host.library");
    var path = override != null ? java.nio.file.Path.of(override)
        : NativeLoader.extract(NativeLoader.NATIVE_RESOURCES + "libplugkit_host.so");
    return SymbolLookup.libraryLookup(path, Arena.global());
  }

  private static MethodHandle handle(String symbol, FunctionDescriptor fd) {
    var address = LIB.find(symbol)
        .orElseThrow(() -> new UnsupportedFeatureException("symbol " + symbol + " missing from libplugkit_host.so"));
    return LINKER.downcallHandle(address, fd);
  }

  public static long alloc(long bytes) {
    try {
      return (long) ALLOC.invokeExact(bytes);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public static void free(long address) {
    try {
      FREE.invokeExact(address);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Sets the most bytes of freed large blocks kept for reuse (0: none) and frees the cached ones. */
  public static void setCacheLimit(long bytes) {
    try {
      CACHE_SET_LIMIT.invokeExact(bytes);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public static long cachedBytes() {
    try {
      return (long) CACHE_BYTES.invokeExact();
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * Row-major GEMM cut into blocks that depend on the shape only, run across {@code threads}, each
   * block one single-threaded call of {@code cblasSgemm} (the address of OpenBLAS's cblas_sgemm).
   */
  public static void sgemm(long cblasSgemm, int threads, boolean transA, boolean transB, int m, int n, int k, float alpha, long a,
      int lda, long b, int ldb, float beta, long c, int ldc) {
    try {
      SGEMM.invokeExact(cblasSgemm, threads, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private static boolean convTapsSupportedNatively() {
    try {
      return (int) handle("pk_conv_taps_supported", FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact() != 0;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** True when this CPU runs {@link #convTaps} (AVX-512 and FMA). */
  public static boolean convTapsSupported() { return CONV_TAPS_SUPPORTED; }

  /**
   * Convolution as shifted taps (native/pk_conv_taps.cpp): out += every tap's product, on
   * {@code threads}. Tap t: weight address {@code tapW[t]} and 8 ints at {@code tapInfo[8t]}: input
   * channel offset and count, output channel offset and count, row and column offset of the input
   * sample, the weight's stride between output channels and between input channels. The caller
   * has checked every address and range; this CPU must pass {@link #convTapsSupported}. bias: the
   * address of outC floats added to every output, or 0.
   */
  public static void convTaps(int threads, int batch, long in, int inH, int inW, long inImage, long out, int outC,
      int outH, int outW, long outImage, int strideH, int strideW, long[] tapW, int[] tapInfo, long bias) {
    withTaps("pk_conv_taps", tapW, null, tapInfo, (w, unused, info) -> (int) CONV_TAPS.invokeExact(threads, batch, in,
        inH, inW, inImage, out, outC, outH, outW, outImage, strideH, strideW, tapW.length, w, info, bias));
  }

  /**
   * The weight gradient of {@link #convTaps}'s tap list (native/pk_conv_taps.cpp): tap t's gradient
   * at {@code tapW[t]}, laid out as its weight, is written (not added): the sum over the batch of
   * gy's valid pixels times x's. Same checks and CPU requirement as {@link #convTaps}.
   */
  public static void convTapsWeightGrad(int threads, int batch, long in, int inC, int inH, int inW, long inImage, long gy,
      int outC, int outH, int outW, long outImage, int strideH, int strideW, long[] tapW, int[] tapInfo) {
    withTaps("pk_conv_taps_weight_grad", tapW, null, tapInfo, (w, unused, info) -> (int) CONV_TAPS_WEIGHT_GRAD.invokeExact(
        threads, batch, in, inC, inH, inW, inImage, gy, outC, outH, outW, outImage, strideH, strideW, tapW.length, w, info));
  }

  /**
   * Both gradients of a stride-1 {@link #convTaps} tap list in one call (native/pk_conv_taps.cpp):
   * dx (added to, unless 0) as {@link #convTaps} over the transposed taps, and tap t's weight
   * gradient written at {@code gradW[t]} (unless gradW is null) as {@link #convTapsWeightGrad}. On
   * two threads the two run side by side, one thread each. Same checks and CPU requirement.
   */
  public static void convTapsBackward(int threads, int batch, long x, int inC, int inH, int inW, long inImage, long gy,
      int outC, int outH, int outW, long outImage, long[] tapW, long[] gradW, int[] tapInfo, long dx) {
    if (gradW != null && gradW.length != tapW.length) {
      throw new IllegalArgumentException("gradW: expected " + tapW.length + " addresses (one per tap) but got " + gradW.length);
    }
    withTaps("pk_conv_taps_backward", tapW, gradW, tapInfo, (w, g, info) -> (int) CONV_TAPS_BACKWARD.invokeExact(threads,
        batch, x, inC, inH, inW, inImage, gy, outC, outH, outW, outImage, tapW.length, w, g, info, dx));
  }

  /** A pk_conv_taps entry point, given the native copies of tapW, gradW (0 when none) and tapInfo; returns its code. */
  private interface TapsCall {
    int run(long tapW, long gradW, long tapInfo) throws Throwable;
  }

  private static void withTaps(String symbol, long[] tapW, long[] gradW, int[] tapInfo, TapsCall call) {
    if (tapInfo.length != 8 * tapW.length) {
      throw new IllegalArgumentException("tapInfo: expected 8 ints per tap (" + 8 * tapW.length + ") but got " + tapInfo.length);
    }
    int rc;
    try (Arena arena = Arena.ofConfined()) {
      rc = call.run(arena.allocateFrom(ValueLayout.JAVA_LONG, tapW).address(),
          gradW == null ? 0 : arena.allocateFrom(ValueLayout.JAVA_LONG, gradW).address(),
          arena.allocateFrom(ValueLayout.JAVA_INT, tapInfo).address());
    } catch (Throwable t) {
      throw rethrow(t);
    }
    if (rc != 0) throw new IllegalStateException(symbol + " failed (" + (rc == 1 ? "no AVX-512" : "out of memory") + ")");
  }

  /** True when the library exports this kernel (used by the signature test). */
  public static boolean hasSymbol(String name) { return LIB.find(name).isPresent(); }

  /**
   * Calls the host variant of {@code kernel} with n first, then {@code args}, its parallel loops
   * on {@code threads}. OpenMP's thread count belongs to the OS thread, so it is set on this one
   * right before the call; nothing between the two calls blocks, so a virtual thread stays on its
   * carrier.
   */
  public static void launch(int threads, Kernel kernel, long n, Object[] args) {
    MethodHandle h = KERNELS.get(kernel.name());
    if (h == null) h = KERNELS.computeIfAbsent(kernel.name(), name -> invoker(handle(name, descriptor(kernel)), kernel));
    try {
      USE_THREADS.invokeExact(threads);
      h.invokeExact(n, args);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * The downcall as {@code (long n, Object[] args)void}: unboxes each argument in place and
   * spreads the array, built once per kernel. {@code invokeWithArguments}, which it replaces,
   * re-derived that adaptation on every call (about 400 ns of a 1-element launch). The caller has
   * checked the arguments ({@code KernelArgs.validate}), so the casts cannot fail.
   */
  private static MethodHandle invoker(MethodHandle downcall, Kernel kernel) {
    int k = kernel.params().size();
    Class<?>[] boxed = new Class<?>[k + 1];
    boxed[0] = long.class;
    java.util.Arrays.fill(boxed, 1, k + 1, Object.class);
    return downcall.asType(java.lang.invoke.MethodType.methodType(void.class, boxed)).asSpreader(Object[].class, k);
  }

  private static FunctionDescriptor descriptor(Kernel kernel) {
    MemoryLayout[] layouts = new MemoryLayout[kernel.params().size() + 1];
    layouts[0] = ValueLayout.JAVA_LONG;
    for (int i = 0; i < kernel.params().size(); i++) {
      ArgKind k = kernel.params().get(i);
      layouts[i + 1] = switch (k) {
        case PTR, I64 -> ValueLayout.JAVA_LONG;
        case I32 -> ValueLayout.JAVA_INT;
        case F32 -> ValueLayout.JAVA_FLOAT;
      };
    }
    return FunctionDescriptor.ofVoid(layouts);
  }

  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) return r;
    if (t instanceof Error e) throw e;
    return new IllegalStateException(t);
  }
}
