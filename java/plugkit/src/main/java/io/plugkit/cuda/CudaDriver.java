package io.plugkit.cuda;

import io.plugkit.Device;
import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.KernelArgs;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The CUDA target: plugkit's kernels (the fatbin, or compiled by NVRTC where the driver cannot
 * use it: see {@link KernelModule}), cuBLAS for GEMM and cuDNN for convolution, all through FFM.
 * One instance per device, shared by every thread.
 *
 * <p>Threads. Every platform thread that calls in gets the device's primary context made current
 * (again whenever its previous call went to another device's driver), its own stream and (on first use) its own cuBLAS and cuDNN handles bound to that stream; all
 * its work is ordered on that stream, so threads never serialize on each other. These are kept
 * for the driver's life, so use a bounded thread pool for device work. A virtual thread's calls
 * run on one of a few lane threads instead (see {@link VirtualThreadLanes}), chosen by its id,
 * so its work stays in order and the number of streams stays bounded. {@link #synchronize()}
 * waits for the calling thread's stream; {@link #copyToHost} and {@link #copyFromHost} return
 * once the host buffer has been read or written. How memory is shared and freed across threads
 * is {@link DeviceMemory}'s rule: a block first used by another thread's stream waits for its
 * producer, and a free waits for every stream that used the block. The kernel module is loaded
 * once per device. Inside {@code CudaStreams.use} a platform thread's work goes to a caller's
 * stream instead ({@link #pushStream}); memory plugkit did not allocate is ordered like its own
 * ({@link #adoptForeign}).
 *
 * <p>Environment: {@code PLUGKIT_CUDA_LIBS} (extra library folders, see {@link LibraryLocator}),
 * {@code PLUGKIT_KERNEL_CACHE} (where NVRTC's images are kept, see {@link KernelCache}),
 * {@code PLUGKIT_CUDA_TF32=1} (let cuBLAS and cuDNN use TF32 tensor cores for FP32: faster, about
 * 1e-3 relative error), {@code PLUGKIT_CUDA_POOL_KEEP_MB} (memory the pool keeps cached across
 * synchronizations; default half the device), {@code PLUGKIT_CUDNN_WORKSPACE_MB} (largest
 * convolution workspace; default 256).
 */
public final class CudaDriver implements Driver {
  /** Blocks per SM at most: enough to fill every SM many times over for grid-stride loops. */
  private static final int BLOCKS_PER_SM = 32;
  private static final long MIB = 1L << 20;
  private static final long DEFAULT_WORKSPACE_MB = 256;
  /** The context each thread has current (0: none yet); one slot per thread for all devices. */
  private static final ThreadLocal<long[]> CURRENT_CONTEXT = ThreadLocal.withInitial(() -> new long[1]);

  private final CudaLibrary cu;
  private final Device device;
  private final long context;
  private final String name;
  private final int computeMajor;
  private final int computeMinor;
  private final int multiprocessors;
  private final long totalMemory;
  private final int driverVersion;
  private final KernelModule kernels;
  private final DeviceMemory memory;
  private final boolean allowTf32;
  private final ThreadLocal<ThreadStream> streams;
  private final VirtualThreadLanes lanes;
  private final LibraryLocator locator = LibraryLocator.system();
  /** Streams of other libraries (NCCL's) that use this driver's blocks, as users in {@link DeviceMemory}. */
  private final java.util.concurrent.ConcurrentHashMap<Long, ThreadStream> foreignStreams =
      new java.util.concurrent.ConcurrentHashMap<>();
  private volatile Object cublas;
  private volatile Object convolutions;

  private CudaDriver(CudaLibrary cu, int index) {
    this.cu = cu;
    this.device = Device.cuda(index);
    cu.init();
    int count = cu.deviceCount();
    if (index >= count) {
      throw new UnsupportedFeatureException("CUDA device " + index + " does not exist (this machine has " + count + ")");
    }
    int dev = cu.device(index);
    this.name = cu.deviceName(dev);
    this.computeMajor = cu.attribute(CudaLibrary.ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    this.computeMinor = cu.attribute(CudaLibrary.ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    this.multiprocessors = cu.attribute(CudaLibrary.ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    this.totalMemory = cu.totalMemory(dev);
    this.driverVersion = cu.driverVersion();
    if (cu.attribute(CudaLibrary.ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev) == 0) {
      throw new UnsupportedFeatureException("CUDA device " + index + " (" + name + ") has no stream-ordered memory pools");
    }
    this.context = cu.primaryContextRetain(dev);
    this.memory = new DeviceMemory(cu, cu.defaultMemoryPool(dev), poolKeepBytes(totalMemory));
    // Set right before the load, with no blocking call between: a virtual thread could change carriers.
    cu.setCurrentContext(context);
    // A platform thread's record of its current context must follow (it may use another device next).
    if (!Thread.currentThread().isVirtual()) CURRENT_CONTEXT.get()[0] = context;
    this.kernels = KernelModule.load(cu, locator, KernelCache.forEnvironment(System.getenv(),
        Path.of(System.getProperty("user.home"))), driverVersion, computeMajor * 10 + computeMinor);
    this.allowTf32 = "1".equals(System.getenv("PLUGKIT_CUDA_TF32"));
    this.streams = ThreadLocal.withInitial(() -> new ThreadStream(cu.streamCreate()));
    this.lanes = new VirtualThreadLanes("plugkit-cuda" + index, VirtualThreadLanes.defaultCount());
  }

  /**
   * Opens CUDA device {@code index}: libcuda, the device, its primary context and memory pool,
   * and the kernel module. cuBLAS and cuDNN load on first use, so a machine without them can
   * still run the custom kernels. Throws {@link UnsupportedFeatureException} naming what is
   * missing, or {@link NativeException} when the driver refuses.
   */
  public static Driver open(int index) { return new CudaDriver(CudaLibrary.instance(), index); }

  private static long poolKeepBytes(long totalMemory) {
    String env = System.getenv("PLUGKIT_CUDA_POOL_KEEP_MB");
    return env == null || env.isBlank() ? totalMemory / 2 : positiveMegabytes("PLUGKIT_CUDA_POOL_KEEP_MB", env) * MIB;
  }

  private static long workspaceLimit() {
    String env = System.getenv("PLUGKIT_CUDNN_WORKSPACE_MB");
    return (env == null || env.isBlank() ? DEFAULT_WORKSPACE_MB : positiveMegabytes("PLUGKIT_CUDNN_WORKSPACE_MB", env)) * MIB;
  }

  private static long positiveMegabytes(String variable, String value) {
    try {
      long v = Long.parseLong(value.trim());
      if (v >= 0) return v;
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw new IllegalArgumentException(variable + ": expected a whole number of MiB >= 0 but got " + value);
  }

  private void makeCurrent() {
    long[] current = CURRENT_CONTEXT.get();
    if (current[0] != context) {
      cu.setCurrentContext(context);
      current[0] = context;
    }
  }

  /** The calling thread's stream (its scoped caller's stream, if any), with this device's context current. */
  private ThreadStream stream() {
    makeCurrent();
    return streams.get().current();
  }

  /** The raw {@code CUstream} the calling thread's work on this device goes to now. */
  @Override public long currentStream() {
    if (Thread.currentThread().isVirtual()) return lanes.call(this::currentStream);
    return stream().stream;
  }

  /**
   * Sends the calling (platform) thread's work on this device to the caller's {@code CUstream}
   * until the returned action runs, which makes the stream current before ({@code CudaStreams.use})
   * wait for it and restores it. The action must run on this thread, innermost scope first.
   */
  public Runnable pushStream(long callerStream) {
    if (Thread.currentThread().isVirtual()) {
      throw new IllegalStateException("CudaStreams.use: a virtual thread's device work runs on shared lane threads; "
          + "use a platform thread to run plugkit on a caller's stream");
    }
    makeCurrent();
    ThreadStream own = streams.get();
    ThreadStream scoped = own.push(callerStream);
    return () -> {
      if (own.current() != scoped) throw new IllegalStateException("CUDA stream scopes must close innermost first");
      makeCurrent();
      try {
        // The stream current before waits for the scope's work, so waits on the retired scope can go there.
        cu.streamWaitForStream(scoped.previous().stream, scoped.stream);
      } finally {
        own.pop(scoped);
      }
    };
  }

  @Override public boolean adoptForeign(long address, long bytes) {
    if (Thread.currentThread().isVirtual()) return lanes.call(() -> adoptForeign(address, bytes));
    return memory.adoptForeign(address, bytes, stream());
  }

  @Override public void releaseForeign(long address, long bytes, boolean registered) {
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> releaseForeign(address, bytes, registered));
      return;
    }
    memory.releaseForeign(address, registered, stream());
  }

  @Override public Device device() { return device; }

  /**
   * For a library with streams of its own on this device (NCCL): orders {@code foreign} after the
   * calling thread's work so far and after earlier work on the blocks holding {@code addresses}
   * (as {@link DeviceMemory} orders a thread's first use), and makes those blocks' frees wait for
   * {@code foreign} too. Returns the calling thread's stream; this device's context is current.
   */
  public long orderForeignStream(long foreign, long... addresses) {
    requirePlatformThread();
    ThreadStream ts = stream();
    ThreadStream f = foreignStreams.computeIfAbsent(foreign, ThreadStream::new);
    for (long a : addresses) memory.touch(a, f);
    cu.streamWaitForStream(foreign, ts.stream);
    return ts.stream;
  }

  /**
   * Ends what {@link #orderForeignStream} keeps for {@code foreign}, before its owner destroys it:
   * the calling thread's stream waits for it, and later waits for the blocks it used go there.
   */
  public void releaseForeignStream(long foreign) {
    requirePlatformThread();
    ThreadStream ts = stream();
    cu.streamWaitForStream(ts.stream, foreign);
    ThreadStream f = foreignStreams.remove(foreign);
    if (f != null) f.retire(ts);
  }

  /** The calling platform thread's stream on this device, with this device's context current. */
  public long threadStream() {
    requirePlatformThread();
    return stream().stream;
  }

  /** Makes this device's primary context current on the calling platform thread (for libraries that use it). */
  public void makeContextCurrent() {
    requirePlatformThread();
    makeCurrent();
  }

  private static void requirePlatformThread() {
    if (Thread.currentThread().isVirtual()) {
      throw new IllegalStateException("CUDA streams of other libraries (NCCL) need a platform thread, not a virtual one");
    }
  }

  @Override public long allocate(long bytes) {
    if (Thread.currentThread().isVirtual()) return lanes.call(() -> allocate(bytes));
    if (bytes < 0) throw new IllegalArgumentException("bytes: expected >= 0 but got " + bytes);
    return memory.allocate(Math.max(bytes, 1), stream());
  }

  @Override public void free(long address, long bytes) {
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> free(address, bytes));
      return;
    }
    memory.free(address, stream());
  }

  @Override public void copyFromHost(MemorySegment src, long dst, long bytes) {
    requireHostRange("src", src, bytes);
    if (Thread.currentThread().isVirtual()) {
      MemorySegment shared = forLane(src);
      lanes.run(() -> copyFromHost(shared, dst, bytes));
      return;
    }
    if (bytes == 0) return;
    ThreadStream ts = stream();
    memory.touch(dst, ts);
    cu.memcpyHtoDAsync(dst, src, bytes, ts.stream);
    cu.streamSynchronize(ts.stream);
  }

  @Override public void copyToHost(long src, MemorySegment dst, long bytes) {
    requireHostRange("dst", dst, bytes);
    if (Thread.currentThread().isVirtual()) {
      MemorySegment shared = forLane(dst);
      lanes.run(() -> copyToHost(src, shared, bytes));
      return;
    }
    if (bytes == 0) return;
    ThreadStream ts = stream();
    memory.touch(src, ts);
    cu.memcpyDtoHAsync(dst, src, bytes, ts.stream);
    cu.streamSynchronize(ts.stream);
  }

  /**
   * The same host memory, usable from the lane thread: a confined arena's segment may only be
   * passed to native code by its owner. The caller waits for the lane, so the memory outlives the use.
   */
  private static MemorySegment forLane(MemorySegment host) {
    return MemorySegment.ofAddress(host.address()).reinterpret(host.byteSize());
  }

  private static void requireHostRange(String what, MemorySegment host, long bytes) {
    if (!host.isNative()) throw new IllegalArgumentException(what + ": expected native (off-heap) memory but got a heap segment");
    if (bytes < 0 || bytes > host.byteSize()) {
      throw new IllegalArgumentException(what + ": expected at least " + bytes + " bytes but got " + host.byteSize());
    }
  }

  @Override public void copy(long src, long dst, long bytes) {
    if (bytes == 0) return;
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> copy(src, dst, bytes));
      return;
    }
    ThreadStream ts = stream();
    memory.touch(src, ts);
    memory.touch(dst, ts);
    cu.memcpyDtoDAsync(dst, src, bytes, ts.stream);
  }

  @Override public void launch(Kernel kernel, long n, Object... args) {
    KernelArgs.validate(kernel, n, args);
    if (n == 0) return;
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> launch(kernel, n, args));
      return;
    }
    ThreadStream ts = stream();
    for (int i = 0; i < args.length; i++) {
      if (kernel.params().get(i) == ArgKind.PTR) memory.touch((Long) args[i], ts);
    }
    long function = kernels.function(kernel.name());
    int block = LaunchParams.blockSize(kernel);
    int grid = LaunchParams.gridSize(kernel, n, BLOCKS_PER_SM * multiprocessors);
    try (Arena a = Arena.ofConfined()) {
      // cuLaunchKernel copies the argument values before it returns, so the arena may close after it.
      cu.launchKernel(function, grid, block, ts.stream, LaunchParams.pack(kernel, n, args, a), kernel.name());
    }
  }

  @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
      long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC, int batch) {
    if (m < 0 || n < 0 || k < 0 || batch < 0) {
      throw new IllegalArgumentException("gemm: expected m, n, k, batch >= 0 but got " + m + ", " + n + ", " + k + ", " + batch);
    }
    if (m == 0 || n == 0 || batch == 0) return;
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> gemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch));
      return;
    }
    ThreadStream ts = stream();
    Cublas blas = cublas();
    memory.touch(a, ts);
    memory.touch(b, ts);
    memory.touch(c, ts);
    blas.sgemmStridedBatched(ts.cublas(blas, allowTf32),
        GemmMapping.fromRowMajor(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC,
            batch));
  }

  @Override public void conv2dForward(Conv2dGeometry g, long x, long w, long y) {
    if (g.n() == 0) return; // cuDNN rejects zero-sized descriptors; there is nothing to compute
    convolve(Cudnn.Direction.FORWARD, g, x, w, y);
  }

  @Override public void conv2dBackwardData(Conv2dGeometry g, long dy, long w, long dx) {
    if (g.n() == 0) return;
    convolve(Cudnn.Direction.BACKWARD_DATA, g, w, dy, dx);
  }

  @Override public void conv2dBackwardFilter(Conv2dGeometry g, long x, long dy, long dw) {
    if (g.n() == 0) {
      if (Thread.currentThread().isVirtual()) {
        lanes.run(() -> conv2dBackwardFilter(g, x, dy, dw));
        return;
      }
      // An empty batch contributes nothing: the filter gradient is zero (as on the CPU).
      ThreadStream ts = stream();
      memory.touch(dw, ts);
      long words = (long) g.outChannels() * g.inChannelsPerGroup() * g.kernelH() * g.kernelW();
      if (words > 0) cu.memsetD32Async(dw, 0, words, ts.stream);
      return;
    }
    convolve(Cudnn.Direction.BACKWARD_FILTER, g, x, dy, dw);
  }

  private void convolve(Cudnn.Direction direction, Conv2dGeometry g, long first, long second, long out) {
    if (Thread.currentThread().isVirtual()) {
      lanes.run(() -> convolve(direction, g, first, second, out));
      return;
    }
    ThreadStream ts = stream();
    CudnnConvolutions convs = convolutions();
    memory.touch(first, ts);
    memory.touch(second, ts);
    memory.touch(out, ts);
    convs.run(direction, g, ts.cudnn(convs.cudnn()), ts, memory, first, second, out);
  }

  @Override public void synchronize() {
    if (Thread.currentThread().isVirtual()) {
      lanes.run(this::synchronize);
      return;
    }
    cu.streamSynchronize(stream().stream);
  }

  private Cublas cublas() {
    Object state = cublas;
    if (state == null) {
      synchronized (this) {
        state = cublas;
        if (state == null) cublas = state = loadOrReason(() -> Cublas.load(locator, driverVersion));
      }
    }
    if (state instanceof String reason) throw new UnsupportedFeatureException(reason);
    return (Cublas) state;
  }

  private CudnnConvolutions convolutions() {
    Object state = convolutions;
    if (state == null) {
      synchronized (this) {
        state = convolutions;
        if (state == null) {
          // cuDNN's engines may use cuBLASLt: have it resident (from its own folder) before cuDNN looks for it.
          loadOrReason(this::cublas);
          convolutions = state = loadOrReason(
              () -> new CudnnConvolutions(Cudnn.load(locator, driverVersion), workspaceLimit(), allowTf32));
        }
      }
    }
    if (state instanceof String reason) throw new UnsupportedFeatureException(reason);
    return (CudnnConvolutions) state;
  }

  /** The loaded library, or why it did not load (kept, so that every later call says the same). */
  private static Object loadOrReason(Supplier<Object> load) {
    try {
      return load.get();
    } catch (UnsupportedFeatureException e) {
      return e.getMessage().substring("unsupported: ".length());
    }
  }

  /** Tensor-storage blocks this driver allocated and has not freed (workspaces included while in use). */
  public int liveBlocks() { return memory.liveBlocks(); }

  @Override public String describe() {
    if (Thread.currentThread().isVirtual()) return lanes.call(this::describe);
    StringBuilder sb = new StringBuilder();
    sb.append("CUDA driver: ").append(device).append(' ').append(name).append(" (compute capability ")
        .append(computeMajor).append('.').append(computeMinor).append(", ").append(multiprocessors).append(" SMs, ")
        .append(totalMemory / MIB).append(" MiB); NVIDIA driver supports CUDA ").append(driverVersion / 1000).append('.')
        .append(driverVersion % 1000 / 10).append(", libcuda at ").append(cu.location());
    sb.append("; kernels: ").append(kernels.description());
    sb.append("; TF32 ").append(allowTf32 ? "allowed" : "off");
    try {
      ThreadStream ts = stream();
      Cublas blas = cublas();
      sb.append("; cuBLAS ").append(dotted(blas.version(ts.cublas(blas, allowTf32)))).append(" at ").append(blas.location());
    } catch (UnsupportedFeatureException | NativeException e) {
      sb.append("; cuBLAS: ").append(e.getMessage());
    }
    try {
      Cudnn dnn = convolutions().cudnn();
      sb.append("; cuDNN ").append(dotted(dnn.version()));
      if (dnn.cudartVersion() > 0) sb.append(" for ").append(CudaMajor.dotted((int) dnn.cudartVersion()));
      sb.append(" at ").append(dnn.location());
      if (!dnn.subLibraries().isEmpty()) sb.append(" with ").append(String.join(", ", dnn.subLibraries()));
    } catch (UnsupportedFeatureException | NativeException e) {
      sb.append("; cuDNN: ").append(e.getMessage());
    }
    return sb.toString();
  }

  /** cuBLAS and cuDNN (9+) versions: major * 10000 + minor * 100 + patch. */
  static String dotted(long version) {
    return (version / 10000) + "." + (version % 10000 / 100) + "." + (version % 100);
  }
}
