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
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Every FFM downcall into cuDNN 9 (libcudnn.so.9), through its legacy convolution API, which
 * cuDNN 9 still exports from the front library. That front library dlopens its sub-libraries
 * ({@code libcudnn_graph}, {@code libcudnn_cnn}, ...) by soname; where cuDNN lives in a folder
 * off the loader path (a Python wheel), they are loaded here first from libcudnn's own folder,
 * so that the dynamic loader finds them already resident.
 */
public final class Cudnn {
  public static final List<String> SONAMES = List.of("libcudnn.so.9");
  /** In dependency order: each needs only the ones before it. */
  private static final List<String> SUB_LIBRARIES = List.of("libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9",
      "libcudnn_engines_runtime_compiled.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
      "libcudnn_adv.so.9");
  static final int DATA_FLOAT = 0;
  static final int TENSOR_NCHW = 0;
  static final int CROSS_CORRELATION = 1;
  /** cudnnMathType_t. */
  static final int DEFAULT_MATH = 0;
  static final int TENSOR_OP_MATH = 1;
  static final int TENSOR_OP_MATH_ALLOW_CONVERSION = 2;
  static final int FMA_MATH = 3;
  /** The most algorithms any direction has (forward: 8); asking for more is allowed. */
  static final int MAX_ALGORITHMS = 8;

  /**
   * cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t, all three alike:
   * {@code {int algo; int status; float time; size_t memory; int determinism; int mathType; int reserved[3];}}.
   */
  static final MemoryLayout PERF = MemoryLayout.structLayout(JAVA_INT.withName("algo"), JAVA_INT.withName("status"),
      JAVA_FLOAT.withName("time"), MemoryLayout.paddingLayout(4), JAVA_LONG.withName("memory"),
      JAVA_INT.withName("determinism"), JAVA_INT.withName("mathType"), MemoryLayout.sequenceLayout(3, JAVA_INT),
      MemoryLayout.paddingLayout(4));

  /** One result of an algorithm query. */
  record AlgoPerf(int algo, int status, float time, long memory, int determinism, int mathType) {}

  /** Which convolution call an algorithm is for; the name is the cuDNN functions' middle part. */
  enum Direction {
    FORWARD("Forward"), BACKWARD_DATA("BackwardData"), BACKWARD_FILTER("BackwardFilter");

    final String callName;

    Direction(String callName) { this.callName = callName; }
  }

  private static final Linker LINKER = Linker.nativeLinker();

  private final LoadedLibrary lib;
  private final List<String> subLibraries;
  private final long cudartVersion;
  private final MethodHandle create;
  private final MethodHandle setStream;
  private final MethodHandle getVersion;
  private final MethodHandle getErrorString;
  private final MethodHandle getLastErrorString;
  private final MethodHandle createTensor;
  private final MethodHandle setTensor4d;
  private final MethodHandle destroyTensor;
  private final MethodHandle createFilter;
  private final MethodHandle setFilter4d;
  private final MethodHandle destroyFilter;
  private final MethodHandle createConvolution;
  private final MethodHandle setConvolution2d;
  private final MethodHandle setGroupCount;
  private final MethodHandle setMathType;
  private final MethodHandle destroyConvolution;
  private final MethodHandle forwardAlgorithms;
  private final MethodHandle backwardDataAlgorithms;
  private final MethodHandle backwardFilterAlgorithms;
  private final MethodHandle forward;
  private final MethodHandle backwardData;
  private final MethodHandle backwardFilter;

  private Cudnn(LoadedLibrary lib, List<String> subLibraries, long cudartVersion) {
    this.lib = lib;
    this.subLibraries = List.copyOf(subLibraries);
    this.cudartVersion = cudartVersion;
    create = bind("cudnnCreate", ADDRESS);
    setStream = bind("cudnnSetStream", JAVA_LONG, JAVA_LONG);
    getVersion = LINKER.downcallHandle(lib.require("cudnnGetVersion"), FunctionDescriptor.of(JAVA_LONG));
    getErrorString = LINKER.downcallHandle(lib.require("cudnnGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
    // cuDNN 9 keeps a thread-local text of the last error that says which argument was wrong.
    getLastErrorString = lib.lookup().find("cudnnGetLastErrorString")
        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG))).orElse(null);
    createTensor = bind("cudnnCreateTensorDescriptor", ADDRESS);
    setTensor4d = bind("cudnnSetTensor4dDescriptor", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    destroyTensor = bind("cudnnDestroyTensorDescriptor", JAVA_LONG);
    createFilter = bind("cudnnCreateFilterDescriptor", ADDRESS);
    setFilter4d = bind("cudnnSetFilter4dDescriptor", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    destroyFilter = bind("cudnnDestroyFilterDescriptor", JAVA_LONG);
    createConvolution = bind("cudnnCreateConvolutionDescriptor", ADDRESS);
    setConvolution2d = bind("cudnnSetConvolution2dDescriptor", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
        JAVA_INT, JAVA_INT, JAVA_INT);
    setGroupCount = bind("cudnnSetConvolutionGroupCount", JAVA_LONG, JAVA_INT);
    setMathType = bind("cudnnSetConvolutionMathType", JAVA_LONG, JAVA_INT);
    destroyConvolution = bind("cudnnDestroyConvolutionDescriptor", JAVA_LONG);
    forwardAlgorithms = bind("cudnnGetConvolutionForwardAlgorithm_v7", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
        JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS);
    backwardDataAlgorithms = bind("cudnnGetConvolutionBackwardDataAlgorithm_v7", JAVA_LONG, JAVA_LONG, JAVA_LONG,
        JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS);
    backwardFilterAlgorithms = bind("cudnnGetConvolutionBackwardFilterAlgorithm_v7", JAVA_LONG, JAVA_LONG, JAVA_LONG,
        JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS);
    // (handle, alpha*, desc, ptr, desc, ptr, convDesc, algo, workspace, workspaceBytes, beta*, desc, ptr)
    MemoryLayout[] run = {JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG,
        JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG};
    forward = bind("cudnnConvolutionForward", run);
    backwardData = bind("cudnnConvolutionBackwardData", run);
    backwardFilter = bind("cudnnConvolutionBackwardFilter", run);
  }

  /**
   * Loads cuDNN 9 through the locator, or throws {@link UnsupportedFeatureException} saying where
   * it looked, or that it was built for a CUDA major newer than the driver runs
   * ({@code cudnnGetCudartVersion}; its first call would fail deep inside). cuDNN dlopens NVRTC
   * (runtime-compiled engines) and cuBLASLt of its own CUDA major by soname, which fails where they
   * sit in a wheel folder off the loader path: they are loaded here first when they can be found.
   */
  static Cudnn load(LibraryLocator locator, int driverVersion) {
    List<String> subLibraries = new ArrayList<>();
    LoadedLibrary lib = LoadedLibrary.load("cuDNN", locator.candidates(SONAMES), locator.describeSearch(),
        dir -> preloadSubLibraries(dir, subLibraries));
    long cudart = lib.lookup().find("cudnnGetCudartVersion")
        .map(a -> call(LINKER.downcallHandle(a, FunctionDescriptor.of(JAVA_LONG)))).orElse(0L);
    if (cudart / 1000 > driverVersion / 1000) {
      throw new UnsupportedFeatureException("cuDNN at " + lib.location() + " was built for " + CudaMajor.dotted((int) cudart)
          + " (cudnnGetCudartVersion " + cudart + ") but the NVIDIA driver supports " + CudaMajor.dotted(driverVersion)
          + ": install the cuDNN 9 for CUDA " + driverVersion / 1000 + " (e.g. Python's nvidia-cudnn-cu" + driverVersion / 1000
          + ") or a newer driver");
    }
    int major = cudart > 0 ? (int) (cudart / 1000) : driverVersion / 1000;
    for (String dependency : List.of("libnvrtc.so." + major, "libcublasLt.so." + major)) {
      locator.files(List.of(dependency)).stream().findFirst().ifPresent(file -> LoadedLibrary.tryLoad(dependency,
          List.of(new LibraryLocator.Candidate(dependency, file))));
    }
    return new Cudnn(lib, subLibraries, cudart);
  }

  private static long call(MethodHandle sizeTNoArgs) {
    try {
      return (long) sizeTNoArgs.invokeExact();
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** Loads the sub-libraries found in {@code dir}, recording which loaded. */
  private static void preloadSubLibraries(Path dir, List<String> loaded) {
    loaded.clear();
    for (String name : SUB_LIBRARIES) {
      Path file = dir.resolve(name);
      // One that fails shows up as CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED when cuDNN needs it; describe() lists what loaded.
      if (Files.exists(file) && LoadedLibrary.tryLoad("cuDNN " + name, List.of(new LibraryLocator.Candidate(name, file)))
          .isPresent()) {
        loaded.add(name);
      }
    }
  }

  public String location() { return lib.location(); }

  /** The CUDA version cuDNN was built for (13000 for 13.0), or 0 when it does not say. */
  long cudartVersion() { return cudartVersion; }

  /** The sub-libraries loaded here from libcudnn's folder (empty when the system loader found cuDNN). */
  public List<String> subLibraries() { return subLibraries; }

  private MethodHandle bind(String symbol, MemoryLayout... args) {
    return LINKER.downcallHandle(lib.require(symbol), FunctionDescriptor.of(JAVA_INT, args));
  }

  private void check(int status, String call) {
    if (status != 0) throw new NativeException("cuDNN", call, status, errorName(status), lastError());
  }

  private String lastError() {
    if (getLastErrorString == null) return "";
    try (Arena a = Arena.ofConfined()) {
      MemorySegment text = a.allocate(1024);
      getLastErrorString.invokeExact(text, 1024L);
      return text.getString(0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  private String errorName(int status) {
    try {
      MemorySegment s = (MemorySegment) getErrorString.invokeExact(status);
      return s.equals(MemorySegment.NULL) ? "CUDNN_STATUS_" + status : s.reinterpret(1024).getString(0);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** e.g. 91000 for 9.10.0. */
  long version() {
    try {
      return (long) getVersion.invokeExact();
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  long createHandle(long stream) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) create.invokeExact(out), "cudnnCreate");
      long handle = out.get(JAVA_LONG, 0);
      check((int) setStream.invokeExact(handle, stream), "cudnnSetStream");
      return handle;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** Binds {@code handle}'s later calls to {@code stream}. */
  void setStream(long handle, long stream) {
    try {
      check((int) setStream.invokeExact(handle, stream), "cudnnSetStream");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** An NCHW float tensor descriptor. */
  long tensor(int n, int c, int h, int w) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) createTensor.invokeExact(out), "cudnnCreateTensorDescriptor");
      long desc = out.get(JAVA_LONG, 0);
      try {
        check((int) setTensor4d.invokeExact(desc, TENSOR_NCHW, DATA_FLOAT, n, c, h, w), "cudnnSetTensor4dDescriptor");
      } catch (RuntimeException e) {
        destroyTensor(desc);
        throw e;
      }
      return desc;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  void destroyTensor(long desc) {
    try {
      check((int) destroyTensor.invokeExact(desc), "cudnnDestroyTensorDescriptor");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** A KCRS float filter descriptor ({@code [outChannels, inChannels/groups, kernelH, kernelW]}). */
  long filter(int k, int c, int h, int w) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) createFilter.invokeExact(out), "cudnnCreateFilterDescriptor");
      long desc = out.get(JAVA_LONG, 0);
      try {
        check((int) setFilter4d.invokeExact(desc, DATA_FLOAT, TENSOR_NCHW, k, c, h, w), "cudnnSetFilter4dDescriptor");
      } catch (RuntimeException e) {
        destroyFilter(desc);
        throw e;
      }
      return desc;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  void destroyFilter(long desc) {
    try {
      check((int) destroyFilter.invokeExact(desc), "cudnnDestroyFilterDescriptor");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** A float cross-correlation (what deep learning calls convolution) descriptor. */
  long convolution(int padH, int padW, int strideH, int strideW, int dilationH, int dilationW, int groups, int mathType) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) createConvolution.invokeExact(out), "cudnnCreateConvolutionDescriptor");
      long desc = out.get(JAVA_LONG, 0);
      try {
        check((int) setConvolution2d.invokeExact(desc, padH, padW, strideH, strideW, dilationH, dilationW,
            CROSS_CORRELATION, DATA_FLOAT), "cudnnSetConvolution2dDescriptor");
        check((int) setGroupCount.invokeExact(desc, groups), "cudnnSetConvolutionGroupCount");
        setMathType(desc, mathType);
      } catch (RuntimeException e) {
        destroyConvolution(desc);
        throw e;
      }
      return desc;
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  void setMathType(long convolution, int mathType) {
    try {
      check((int) setMathType.invokeExact(convolution, mathType), "cudnnSetConvolutionMathType");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  void destroyConvolution(long desc) {
    try {
      check((int) destroyConvolution.invokeExact(desc), "cudnnDestroyConvolutionDescriptor");
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /**
   * The heuristic's ranked algorithms ({@code _v7} query: no trial runs) for a direction. The
   * descriptors are, by direction: FORWARD (x, w, y), BACKWARD_DATA (w, dy, dx), BACKWARD_FILTER
   * (x, dy, dw), as in the cuDNN call; {@code conv} is the convolution descriptor.
   */
  List<AlgoPerf> algorithms(Direction direction, long handle, long first, long second, long conv, long third) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment count = a.allocate(JAVA_INT);
      MemorySegment perf = a.allocate(PERF, MAX_ALGORITHMS);
      int status = switch (direction) {
        case FORWARD -> (int) forwardAlgorithms.invokeExact(handle, first, second, conv, third, MAX_ALGORITHMS, count, perf);
        case BACKWARD_DATA ->
            (int) backwardDataAlgorithms.invokeExact(handle, first, second, conv, third, MAX_ALGORITHMS, count, perf);
        case BACKWARD_FILTER ->
            (int) backwardFilterAlgorithms.invokeExact(handle, first, second, conv, third, MAX_ALGORITHMS, count, perf);
      };
      check(status, "cudnnGetConvolution" + direction.callName + "Algorithm_v7");
      return readPerf(perf, Math.min(count.get(JAVA_INT, 0), MAX_ALGORITHMS));
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }

  /** Decodes {@code count} perf structs (see {@link #PERF}). */
  static List<AlgoPerf> readPerf(MemorySegment perf, int count) {
    List<AlgoPerf> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      MemorySegment p = perf.asSlice(i * PERF.byteSize(), PERF.byteSize());
      out.add(new AlgoPerf(p.get(JAVA_INT, 0), p.get(JAVA_INT, 4), p.get(JAVA_FLOAT, 8), p.get(JAVA_LONG, 16),
          p.get(JAVA_INT, 24), p.get(JAVA_INT, 28)));
    }
    return out;
  }

  /**
   * Runs one convolution call with alpha = 1, beta = 0. Operands in the cuDNN call's order:
   * FORWARD (x, w, y), BACKWARD_DATA (w, dy, dx), BACKWARD_FILTER (x, dy, dw).
   */
  void run(Direction direction, long handle, long firstDesc, long first, long secondDesc, long second, long conv, int algo,
      long workspace, long workspaceBytes, long outDesc, long out) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment alpha = a.allocateFrom(JAVA_FLOAT, 1f);
      MemorySegment beta = a.allocateFrom(JAVA_FLOAT, 0f);
      MethodHandle h = switch (direction) {
        case FORWARD -> forward;
        case BACKWARD_DATA -> backwardData;
        case BACKWARD_FILTER -> backwardFilter;
      };
      check((int) h.invokeExact(handle, alpha, firstDesc, first, secondDesc, second, conv, algo, workspace,
          workspaceBytes, beta, outDesc, out), "cudnnConvolution" + direction.callName);
    } catch (Throwable t) {
      throw CudaLibrary.rethrow(t);
    }
  }
}
