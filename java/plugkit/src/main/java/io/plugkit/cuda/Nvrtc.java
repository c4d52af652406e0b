package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Every FFM downcall into NVRTC (libnvrtc), the CUDA run-time compiler: it turns the kernel
 * sources into a CUBIN for the device when the driver cannot use the fatbin (see
 * {@link KernelModule}). A failed compilation becomes a {@link NativeException} carrying the
 * compiler's log.
 */
public final class Nvrtc {
  /** nvrtcResult NVRTC_ERROR_COMPILATION: the log says why. */
  static final int ERROR_COMPILATION = 6;

  private static final Linker LINKER = Linker.nativeLinker();

  /** What a compilation produced: a CUBIN (or PTX), and the compiler's log (warnings). */
  record Output(byte[] image, String log) {}

  private final LoadedLibrary lib;
  private final MethodHandle version;
  private final MethodHandle getErrorString;
  private final MethodHandle createProgram;
  private final MethodHandle compileProgram;
  private final MethodHandle getProgramLogSize;
  private final MethodHandle getProgramLog;
  private final MethodHandle getCubinSize;
  private final MethodHandle getCubin;
  private final MethodHandle getPtxSize;
  private final MethodHandle getPtx;
  private final MethodHandle destroyProgram;
  private final MethodHandle getNumSupportedArchs;
  private final MethodHandle getSupportedArchs;

  private Nvrtc(LoadedLibrary lib) {
    this.lib = lib;
    version = bind("nvrtcVersion", ADDRESS, ADDRESS);
    getErrorString = LINKER.downcallHandle(lib.require("nvrtcGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
    createProgram = bind("nvrtcCreateProgram", ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    compileProgram = bind("nvrtcCompileProgram", JAVA_LONG, JAVA_INT, ADDRESS);
    getProgramLogSize = bind("nvrtcGetProgramLogSize", JAVA_LONG, ADDRESS);
    getProgramLog = bind("nvrtcGetProgramLog", JAVA_LONG, ADDRESS);
    getCubinSize = bind("nvrtcGetCUBINSize", JAVA_LONG, ADDRESS);
    getCubin = bind("nvrtcGetCUBIN", JAVA_LONG, ADDRESS);
    getPtxSize = bind("nvrtcGetPTXSize", JAVA_LONG, ADDRESS);
    getPtx = bind("nvrtcGetPTX", JAVA_LONG, ADDRESS);
    destroyProgram = bind("nvrtcDestroyProgram", ADDRESS);
    // Since NVRTC 11.2; without them the device's own arch is simply tried.
    getNumSupportedArchs = optional("nvrtcGetNumSupportedArchs", ADDRESS);
    getSupportedArchs = optional("nvrtcGetSupportedArchs", ADDRESS);
  }

  /**
   * NVRTC's sonames for a driver reporting {@code driverVersion} (0: unknown, all known), best
   * first: its own CUDA major, then older ones; never a newer one, whose output the driver could not load.
   */
  public static List<String> sonames(int driverVersion) { return CudaMajor.sonames("libnvrtc.so.", driverVersion); }

  /** Loads the NVRTC this driver can use, or throws {@link UnsupportedFeatureException} saying where it looked. */
  static Nvrtc load(LibraryLocator locator, int driverVersion) {
    return load(locator.candidates(sonames(driverVersion)), locator.describeSearch());
  }

  /** Loads the first candidate that loads; {@code searched} says where they came from, for the error. */
  static Nvrtc load(List<LibraryLocator.Candidate> candidates, String searched) {
    return new Nvrtc(LoadedLibrary.load("NVRTC", candidates, searched, Nvrtc::preloadBuiltins));
  }

  /**
   * libnvrtc dlopens libnvrtc-builtins.so.MAJOR.MINOR by soname at its first compilation, which
   * fails where the pair sits off the loader path (a Python wheel): load it from the same folder first.
   */
  private static void preloadBuiltins(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      files.filter(f -> f.getFileName().toString().matches("libnvrtc-builtins\\.so\\.\\d+\\.\\d+")).forEach(f ->
          LoadedLibrary.tryLoad("NVRTC builtins", List.of(new LibraryLocator.Candidate(f.getFileName().toString(), f))));
    } catch (IOException e) {
      // an unreadable folder: NVRTC reports the missing builtins itself when it compiles
    }
  }

  String location() { return lib.location(); }

  private MethodHandle bind(String symbol, MemoryLayout... args) {
    return LINKER.downcallHandle(lib.require(symbol), FunctionDescriptor.of(JAVA_INT, args));
  }

  private MethodHandle optional(String symbol, MemoryLayout... args) {
    return lib.lookup().find(symbol).map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, args))).orElse(null);
  }

  private void check(int rc, String call, String log) {
    if (rc != 0) throw new NativeException("NVRTC", call, rc, errorName(rc), log);
  }

  private String errorName(int rc) {
    try {
      MemorySegment s = (MemorySegment) getErrorString.invokeExact(rc);
      return s.equals(MemorySegment.NULL) ? "NVRTC_ERROR_" + rc : s.reinterpret(1024).getString(0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** "13.0". */
  String version() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment major = a.allocate(JAVA_INT);
      MemorySegment minor = a.allocate(JAVA_INT);
      check((int) version.invokeExact(major, minor), "nvrtcVersion", "");
      return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** The SM versions this NVRTC can emit code for (90 for sm_90); empty when it cannot say. */
  List<Integer> supportedArchs() {
    if (getNumSupportedArchs == null || getSupportedArchs == null) return List.of();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment count = a.allocate(JAVA_INT);
      check((int) getNumSupportedArchs.invokeExact(count), "nvrtcGetNumSupportedArchs", "");
      int n = count.get(JAVA_INT, 0);
      MemorySegment archs = a.allocate(JAVA_INT, Math.max(n, 1));
      check((int) getSupportedArchs.invokeExact(archs), "nvrtcGetSupportedArchs", "");
      List<Integer> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) out.add(archs.getAtIndex(JAVA_INT, i));
      return out;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /**
   * Compiles one program. {@code headers} maps include names ({@code "plugkit/portable.cuh"}) to
   * their text; {@code cubin} asks for the CUBIN (options must name an {@code sm_XY}), else PTX.
   * A compilation error throws a {@link NativeException} whose message is the log.
   */
  Output compile(String source, String name, Map<String, String> headers, List<String> options, boolean cubin) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment texts = a.allocate(ADDRESS, Math.max(headers.size(), 1));
      MemorySegment names = a.allocate(ADDRESS, Math.max(headers.size(), 1));
      int i = 0;
      for (Map.Entry<String, String> h : headers.entrySet()) {
        texts.setAtIndex(ADDRESS, i, a.allocateFrom(h.getValue()));
        names.setAtIndex(ADDRESS, i, a.allocateFrom(h.getKey()));
        i++;
      }
      MemorySegment opts = a.allocate(ADDRESS, Math.max(options.size(), 1));
      for (int j = 0; j < options.size(); j++) opts.setAtIndex(ADDRESS, j, a.allocateFrom(options.get(j)));
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) createProgram.invokeExact(out, a.allocateFrom(source), a.allocateFrom(name), headers.size(), texts, names),
          "nvrtcCreateProgram", "");
      long program = out.get(JAVA_LONG, 0);
      try {
        int rc = (int) compileProgram.invokeExact(program, options.size(), opts);
        String log = log(program, a);
        check(rc, "nvrtcCompileProgram", log.isBlank() ? "options " + options : log.strip());
        return new Output(cubin ? image(program, getCubinSize, getCubin, "nvrtcGetCUBIN", a)
            : image(program, getPtxSize, getPtx, "nvrtcGetPTX", a), log.strip());
      } finally {
        check((int) destroyProgram.invokeExact(out), "nvrtcDestroyProgram", "");
      }
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  private String log(long program, Arena a) throws Throwable {
    MemorySegment size = a.allocate(JAVA_LONG);
    check((int) getProgramLogSize.invokeExact(program, size), "nvrtcGetProgramLogSize", "");
    long n = size.get(JAVA_LONG, 0);
    if (n <= 1) return "";
    MemorySegment text = a.allocate(n);
    check((int) getProgramLog.invokeExact(program, text), "nvrtcGetProgramLog", "");
    return text.getString(0);
  }

  private byte[] image(long program, MethodHandle sizeOf, MethodHandle get, String call, Arena a) throws Throwable {
    MemorySegment size = a.allocate(JAVA_LONG);
    check((int) sizeOf.invokeExact(program, size), call + "Size", "");
    long n = size.get(JAVA_LONG, 0);
    if (n <= 0 || n > Integer.MAX_VALUE) throw new IllegalStateException("NVRTC: " + call + "Size gave " + n + " bytes");
    MemorySegment bytes = a.allocate(n);
    check((int) get.invokeExact(program, bytes), call, "");
    return bytes.toArray(JAVA_BYTE);
  }
}
