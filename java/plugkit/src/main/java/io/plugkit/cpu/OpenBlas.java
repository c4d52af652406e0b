package io.plugkit.cpu;

import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Every FFM downcall into OpenBLAS. The library comes from Maven Central's
 * org.bytedeco:openblas jar (libopenblas.so.0 with its Fortran runtime), extracted and loaded by
 * path; {@code PLUGKIT_OPENBLAS=/path/to/libopenblas.so.0} picks another build.
 */
public final class OpenBlas {
  private static final String JAR_DIR = "org/bytedeco/openblas/linux-x86_64/";
  // Load order: the dependencies first, so that libopenblas's DT_NEEDED entries resolve by soname.
  private static final String[] JAR_LIBS = {"libgcc_s.so.1", "libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0"};

  private static final Path PATH = locate();
  private static final SymbolLookup LIB = SymbolLookup.libraryLookup(PATH, Arena.global());
  private static final Linker LINKER = Linker.nativeLinker();
  private static final long SGEMM = LIB.find("cblas_sgemm")
      .orElseThrow(() -> new UnsupportedFeatureException("cblas_sgemm missing from " + PATH)).address();
  private static final MethodHandle SET_THREADS = handle("openblas_set_num_threads", FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));

  static {
    // One thread, whatever OPENBLAS_NUM_THREADS says: the OpenMP team is the only pool.
    try {
      SET_THREADS.invokeExact(1);
    } catch (Throwable t) {
      throw HostLibrary.rethrow(t);
    }
  }
  private static final MethodHandle CONFIG = handle("openblas_get_config", FunctionDescriptor.of(ValueLayout.ADDRESS));

  private OpenBlas() {}

  private static Path locate() {
    ThreadPolicy.apply();
    String override = System.getenv("PLUGKIT_OPENBLAS");
    if (override != null && !override.isBlank()) return Path.of(override);
    Path last = null;
    for (String lib : JAR_LIBS) {
      try {
        last = NativeLoader.extract(JAR_DIR + lib);
      } catch (UnsupportedFeatureException e) {
        throw new UnsupportedFeatureException("OpenBLAS: " + lib + " not found in the org.bytedeco:openblas"
            + " linux-x86_64 jar on the classpath; add that jar or set PLUGKIT_OPENBLAS=/path/to/libopenblas.so.0", e);
      }
      if (!lib.equals("libopenblas.so.0")) SymbolLookup.libraryLookup(last, Arena.global());
    }
    return last;
  }

  private static MethodHandle handle(String symbol, FunctionDescriptor fd) {
    return LINKER.downcallHandle(LIB.find(symbol)
        .orElseThrow(() -> new UnsupportedFeatureException(symbol + " missing from " + PATH)), fd);
  }

  /**
   * Row-major C = alpha op(A) op(B) + beta C on host addresses. OpenBLAS itself runs one thread
   * ({@link ThreadPolicy}); the work is split across an OpenMP team of {@code threads}, the same
   * bits at any count.
   */
  public static void sgemm(int threads, boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b,
      int ldb, float beta, long c, int ldc) {
    HostLibrary.sgemm(SGEMM, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  public static String describe() {
    try {
      var cfg = ((java.lang.foreign.MemorySegment) CONFIG.invokeExact()).reinterpret(256).getString(0);
      return "OpenBLAS " + cfg.trim() + " at " + PATH;
    } catch (Throwable t) {
      throw HostLibrary.rethrow(t);
    }
  }
}
