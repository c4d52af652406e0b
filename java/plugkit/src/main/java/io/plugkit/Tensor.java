package io.plugkit;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.autograd.Autograd;
import io.plugkit.autograd.Node;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A dense, contiguous, row-major tensor on one device. It belongs to the {@link Scope} open when
 * it was made and is freed when that scope closes (or by {@link #close()}). Views made by
 * {@link #reshape} share storage. Ops live in {@code io.plugkit.ops}; this class holds data,
 * creation, copies and the autograd state.
 */
public final class Tensor implements AutoCloseable {
  private static final Kernel FILL = Kernel.of("fill_f32", PTR, F32);
  private static final Kernel AXPY = Kernel.of("axpy_f32", F32, PTR, PTR);
  private static final Kernel ADD = Kernel.of("add_f32", PTR, PTR, PTR);
  private static final java.lang.invoke.VarHandle FREED;

  static {
    try {
      FREED = java.lang.invoke.MethodHandles.lookup().findVarHandle(Tensor.class, "freed", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final Storage storage;
  private final Shape shape;
  private final DType dtype;
  private final Device device;
  private Scope owner;
  /** Set once, by {@link #free()}, possibly on another thread than a reader's. */
  private volatile boolean freed;
  private boolean requiresGrad;
  private Tensor grad;
  private Node gradFn;

  private Tensor(Storage storage, Shape shape, DType dtype, Device device, Scope owner) {
    this.storage = storage;
    this.shape = shape;
    this.dtype = dtype;
    this.device = device;
    this.owner = owner;
    if (owner != null) owner.add(this);
  }

  // ---- creation -------------------------------------------------------------------------

  /** Uninitialised memory of the given shape, in the current scope. */
  public static Tensor empty(Device device, DType dtype, Shape shape) {
    if (device == null) throw new IllegalArgumentException("device: expected a Device but got null");
    if (dtype == null) throw new IllegalArgumentException("dtype: expected a DType but got null");
    if (shape == null) throw new IllegalArgumentException("shape: expected a Shape but got null");
    Scope scope = Scope.current();
    Driver d = PinningDriver.of(device);
    return new Tensor(new Storage(d, shape.numel() * dtype.byteSize()), shape, dtype, device, scope);
  }

  public static Tensor empty(Device device, int... dims) { return empty(device, DType.F32, shapeOf(dims)); }

  /**
   * A tensor on memory plugkit did not allocate, without a copy: {@code address} is a host
   * pointer (CPU) or a CUDA device pointer from any library (a JCuda {@code CUdeviceptr}'s
   * address, cudaMalloc, another framework's tensor) on {@code device}, holding a dense row-major
   * {@code shape} of {@code dtype}. The tensor belongs to the current scope like any other; its
   * views keep the memory in use. When the last of them is freed, plugkit waits until none of its
   * work uses the memory (on CUDA: every stream that touched it, on the host) and then runs
   * {@code onRelease} exactly once, on the thread that dropped the last hold; plugkit never frees
   * the memory itself. On CUDA the memory is ordered on the calling thread's current stream (the
   * caller's, inside {@code CudaStreams.use}). If wrap throws, {@code onRelease} is not run.
   *
   * <p>The caller keeps the memory valid until {@code onRelease} runs, and wraps a pointer once
   * (a second wrap of memory inside one already wrapped is ordered by the first's bookkeeping).
   */
  public static Tensor wrap(Device device, long address, Shape shape, DType dtype, Runnable onRelease) {
    checkWrap(device, address, shape, dtype, onRelease);
    Scope scope = Scope.current();
    Driver d = PinningDriver.of(device);
    return new Tensor(new Storage(d, shape.numel() * dtype.byteSize(), address, onRelease), shape, dtype, device, scope);
  }

  /** {@link #wrap(Device, long, Shape, DType, Runnable)} with the shape as dims. */
  public static Tensor wrap(Device device, long address, int[] dims, DType dtype, Runnable onRelease) {
    return wrap(device, address, shapeOf(dims), dtype, onRelease);
  }

  /**
   * A CPU tensor on the native memory of {@code host} (no copy); the segment must hold at least
   * the shape's bytes and stay alive until {@code onRelease} runs (close its arena there, for one).
   */
  public static Tensor wrap(MemorySegment host, Shape shape, DType dtype, Runnable onRelease) {
    if (host == null) throw new IllegalArgumentException("host: expected a native MemorySegment but got null");
    if (!host.isNative()) {
      throw new IllegalArgumentException("host: expected a native (off-heap) MemorySegment but got a heap segment "
          + "(the garbage collector may move heap memory)");
    }
    if (!host.scope().isAlive()) throw new IllegalArgumentException("host: expected a live segment but its arena is closed");
    if (shape == null) throw new IllegalArgumentException("shape: expected a Shape but got null");
    if (dtype == null) throw new IllegalArgumentException("dtype: expected a DType but got null");
    if (host.address() % dtype.byteSize() != 0) {
      throw new IllegalArgumentException("host: expected an address aligned to " + dtype.byteSize() + " bytes for " + dtype
          + " but got 0x" + Long.toHexString(host.address()));
    }
    long need = shape.numel() * dtype.byteSize();
    if (host.byteSize() < need) {
      throw new IllegalArgumentException("host: expected at least " + need + " bytes for " + shape + " " + dtype
          + " but the segment has " + host.byteSize());
    }
    return wrap(Device.cpu(), host.address(), shape, dtype, onRelease);
  }

  /** {@link #wrap(MemorySegment, Shape, DType, Runnable)} with the shape as dims. */
  public static Tensor wrap(MemorySegment host, int[] dims, DType dtype, Runnable onRelease) {
    return wrap(host, shapeOf(dims), dtype, onRelease);
  }

  private static void checkWrap(Device device, long address, Shape shape, DType dtype, Runnable onRelease) {
    if (device == null) throw new IllegalArgumentException("device: expected a Device but got null");
    if (address == 0) throw new IllegalArgumentException("address: expected a non-null pointer but got 0");
    if (shape == null) throw new IllegalArgumentException("shape: expected a Shape but got null");
    if (dtype == null) throw new IllegalArgumentException("dtype: expected a DType but got null");
    if (onRelease == null) {
      throw new IllegalArgumentException("onRelease: expected a Runnable (() -> {} when there is nothing to do) but got null");
    }
    // Kernels read elements with plain loads of the element's size, which must be aligned on a GPU.
    if (Long.remainderUnsigned(address, dtype.byteSize()) != 0) {
      throw new IllegalArgumentException("address: expected a multiple of " + dtype.byteSize() + " (" + dtype
          + " alignment) but got 0x" + Long.toHexString(address));
    }
    long bytes = shape.numel() * dtype.byteSize();
    if (Long.compareUnsigned(address + bytes, address) < 0) {
      throw new IllegalArgumentException("address: 0x" + Long.toHexString(address) + " + " + bytes + " bytes wraps past the end of the address space");
    }
  }

  /** {@link Shape#of}, with null dims an argument error rather than a NullPointerException. */
  private static Shape shapeOf(int[] dims) {
    if (dims == null) throw new IllegalArgumentException("dims: expected sizes >= 0 but got null");
    return Shape.of(dims);
  }

  public static Tensor full(Device device, float value, int... dims) {
    Tensor t = empty(device, dims);
    t.fill(value);
    return t;
  }

  public static Tensor zeros(Device device, int... dims) { return full(device, 0f, dims); }

  public static Tensor ones(Device device, int... dims) { return full(device, 1f, dims); }

  /** Copies {@code data} (row-major) to a new tensor of the given shape. */
  public static Tensor of(Device device, float[] data, int... dims) {
    Shape s = shapeOf(dims);
    if (data == null) throw new IllegalArgumentException("data: expected an array but got null");
    if (s.numel() != data.length) {
      throw new IllegalArgumentException("data: expected " + s.numel() + " values for shape " + s + " but got " + data.length);
    }
    Tensor t = empty(device, DType.F32, s);
    t.copyFrom(MemorySegment.ofArray(data));
    return t;
  }

  /** An I64 tensor (class labels, indices) holding {@code data}. */
  public static Tensor ofLongs(Device device, long[] data, int... dims) {
    Shape s = shapeOf(dims);
    if (data == null) throw new IllegalArgumentException("data: expected an array but got null");
    if (s.numel() != data.length) {
      throw new IllegalArgumentException("data: expected " + s.numel() + " values for shape " + s + " but got " + data.length);
    }
    Tensor t = empty(device, DType.I64, s);
    t.copyFrom(MemorySegment.ofArray(data));
    return t;
  }

  /** Standard normal values from a seeded generator (the same on every device). */
  public static Tensor randn(Device device, long seed, int... dims) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[Math.toIntExact(shapeOf(dims).numel())];
    for (int i = 0; i < v.length; i++) v[i] = (float) gaussian(r);
    return of(device, v, dims);
  }

  /** Uniform values in [low, high) from a seeded generator. */
  public static Tensor uniform(Device device, long seed, float low, float high, int... dims) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[Math.toIntExact(shapeOf(dims).numel())];
    for (int i = 0; i < v.length; i++) v[i] = low + (float) r.nextDouble() * (high - low);
    return of(device, v, dims);
  }

  private static double gaussian(SplittableRandom r) {
    double u1 = r.nextDouble();
    double u2 = r.nextDouble();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** A new tensor like {@code t} (same device and dtype) with another shape, uninitialised. */
  public static Tensor emptyLike(Tensor t, Shape shape) { return empty(t.device, t.dtype, shape); }

  public static Tensor emptyLike(Tensor t) { return emptyLike(t, t.shape); }

  public static Tensor zerosLike(Tensor t) {
    Tensor z = emptyLike(t);
    z.fill(0f);
    return z;
  }

  // ---- data -----------------------------------------------------------------------------

  public Shape shape() { return shape; }

  public int[] dims() { return shape.dims(); }

  public int dim(int i) { return shape.dim(i); }

  public int rank() { return shape.rank(); }

  public long numel() { return shape.numel(); }

  public DType dtype() { return dtype; }

  public Device device() { return device; }

  public Driver driver() { return storage.driver; }

  public long byteSize() { return numel() * dtype.byteSize(); }

  /**
   * The device address of element 0, pinned: the memory stays allocated, whoever closes the tensor
   * meanwhile, until this thread's current or next driver call returns, or the enclosing
   * {@link Pins#hold()} closes. Throws "was freed" when the tensor was freed before.
   */
  public long address() {
    if (freed || !storage.pin()) {
      Pins.abandon();
      throw freedError();
    }
    Pins.add(storage);
    return storage.address();
  }

  private IllegalStateException freedError() {
    return new IllegalStateException("tensor " + shape + " was freed (its Scope closed or it was closed)");
  }

  /** Throws "was freed" when freed; takes no pin (for checks not followed by a driver call). */
  private void requireLive() {
    if (freed) throw freedError();
  }

  public boolean isFreed() { return freed; }

  /**
   * The raw {@code CUstream} handle (a long) that work on this tensor's device issued by the
   * calling thread is ordered on now: the thread's own stream, or the caller's inside
   * {@code CudaStreams.use}. 0 on the CPU, whose calls complete before they return. To order
   * another library's work after plugkit's, enqueue it on this stream (or wait on an event of it).
   */
  public long stream() {
    requireLive();
    return driver().currentStream();
  }

  /** Fills with {@code value} (F32 only). */
  public Tensor fill(float value) {
    requireF32("fill");
    driver().launch(FILL, numel(), address(), value);
    return this;
  }

  /** Overwrites this tensor's contents from host memory of exactly {@link #byteSize()} bytes. */
  public void copyFrom(MemorySegment host) {
    if (host.byteSize() != byteSize()) {
      throw new IllegalArgumentException("host: expected " + byteSize() + " bytes but got " + host.byteSize());
    }
    if (host.isNative()) {
      driver().copyFromHost(host, address(), byteSize());
    } else {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment tmp = a.allocate(byteSize(), 64);
        tmp.copyFrom(host);
        driver().copyFromHost(tmp, address(), byteSize());
      }
    }
  }

  /** Copies the contents to a Java array (F32 only). */
  public float[] toArray() {
    requireF32("toArray");
    float[] out = new float[Math.toIntExact(numel())];
    if (out.length == 0) return out;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment tmp = a.allocate(byteSize(), 64);
      driver().copyToHost(address(), tmp, byteSize());
      MemorySegment.copy(tmp, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
    }
    return out;
  }

  /** Copies the contents of an I64 tensor to a Java array. */
  public long[] toLongArray() {
    if (dtype != DType.I64) throw new IllegalArgumentException("toLongArray: expected an I64 tensor but got " + dtype);
    long[] out = new long[Math.toIntExact(numel())];
    if (out.length == 0) return out;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment tmp = a.allocate(byteSize(), 64);
      driver().copyToHost(address(), tmp, byteSize());
      MemorySegment.copy(tmp, ValueLayout.JAVA_LONG, 0, out, 0, out.length);
    }
    return out;
  }

  /** Copies the raw bytes to host memory (any dtype). */
  public byte[] toBytes() {
    byte[] out = new byte[Math.toIntExact(byteSize())];
    if (out.length == 0) return out;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment tmp = a.allocate(byteSize(), 64);
      driver().copyToHost(address(), tmp, byteSize());
      MemorySegment.copy(tmp, ValueLayout.JAVA_BYTE, 0, out, 0, out.length);
    }
    return out;
  }

  /** The single value of a one-element tensor. */
  public float item() {
    if (numel() != 1) throw new IllegalArgumentException("item: expected a tensor of 1 element but got shape " + shape);
    return toArray()[0];
  }

  /** A copy on {@code target} (same shape), without gradient history. */
  public Tensor to(Device target) {
    requireLive();
    Tensor out = empty(target, dtype, shape);
    if (numel() == 0) return out;
    if (target.equals(device)) {
      driver().copy(address(), out.address(), byteSize());
    } else {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment tmp = a.allocate(byteSize(), 64);
        driver().copyToHost(address(), tmp, byteSize());
        out.driver().copyFromHost(tmp, out.address(), byteSize());
      }
    }
    return out;
  }

  /** A copy on the same device, without gradient history. */
  public Tensor copy() { return to(device); }

  /**
   * A view of the same storage with another shape of the same element count; one dimension may
   * be -1 (inferred). Records its backward (a reshape back).
   */
  public Tensor reshape(int... dims) {
    if (dims == null) throw new IllegalArgumentException("dims: expected sizes >= 0 (at most one -1) but got null");
    requireLive(); // a view of freed memory would be a use after free
    int[] d = inferDims(dims);
    Scope scope = Scope.current();
    if (!storage.retain()) throw freedError(); // freed meanwhile by another thread
    Tensor view = new Tensor(storage, Shape.of(d), dtype, device, scope);
    Shape original = shape;
    return Autograd.record("reshape", view, g -> new Tensor[] {g.reshape(original.dims())}, this);
  }

  private int[] inferDims(int[] dims) {
    int[] d = dims.clone();
    int infer = -1;
    long known = 1;
    for (int i = 0; i < d.length; i++) {
      if (d[i] == -1 && infer < 0) infer = i;
      else if (d[i] < 0) throw new IllegalArgumentException("dims: expected sizes >= 0 and at most one -1 but got " + Arrays.toString(dims));
      else known *= d[i];
    }
    if (infer >= 0) {
      if (known == 0 || numel() % known != 0) {
        throw new IllegalArgumentException("dims: cannot infer -1 in " + Arrays.toString(dims) + " for " + numel() + " elements");
      }
      d[infer] = Math.toIntExact(numel() / known);
    }
    if (Shape.of(d).numel() != numel()) {
      throw new IllegalArgumentException("dims: expected " + numel() + " elements (shape " + shape + ") but "
          + Arrays.toString(dims) + " has " + Shape.of(d).numel());
    }
    return d;
  }

  /** A view sharing storage, with no gradient history. */
  public Tensor detach() {
    requireLive();
    Scope scope = Scope.current();
    if (!storage.retain()) throw freedError();
    return new Tensor(storage, shape, dtype, device, scope);
  }

  /**
   * A view of the same storage, without gradient history, that belongs to no {@link Scope}: it
   * keeps the memory alive until it is closed, from any thread. For native code that releases the
   * memory later (DLPack export hands one to the consumer, closed by its deleter).
   */
  public Tensor unscopedView() {
    requireLive();
    if (!storage.retain()) throw freedError();
    return new Tensor(storage, shape, dtype, device, null);
  }

  // ---- autograd -------------------------------------------------------------------------

  public boolean requiresGrad() { return requiresGrad; }

  /** Marks a leaf tensor as one whose gradient {@link #backward()} accumulates. */
  public Tensor requiresGrad(boolean on) {
    if (gradFn != null && !on) throw new IllegalStateException("requiresGrad: a non-leaf tensor always requires grad");
    requireF32("requiresGrad");
    requiresGrad = on;
    return this;
  }

  /** The accumulated gradient, or null before any backward reached it. */
  public Tensor grad() { return grad; }

  /** Drops the gradient (PyTorch's {@code grad = None}): frees it; the next backward starts a fresh one. */
  public void clearGrad() {
    if (grad == null) return;
    Scope.move(grad, null); // out of this tensor's scope's list: a training loop would grow it every step
    grad.free();
    grad = null;
  }

  /** Sets the gradient to zero in place (keeps its memory for the next step). */
  public void zeroGrad() {
    if (grad != null) grad.fill(0f);
  }

  public Node gradFn() { return gradFn; }

  /** For op implementations: marks this tensor as produced by {@code node}. */
  public void attachGradFn(Node node) {
    gradFn = node;
    requiresGrad = true;
  }

  /** Back-propagates from a one-element tensor (seed 1). */
  public void backward() {
    if (numel() != 1) {
      throw new IllegalArgumentException("backward: expected a one-element tensor (or pass a gradient) but got shape " + shape);
    }
    backward(full(device, 1f, shape.dims()));
  }

  public void backward(Tensor gradient) {
    if (!requiresGrad) throw new IllegalStateException("backward: this tensor does not require grad");
    if (!gradient.shape.equals(shape)) {
      throw new IllegalArgumentException("gradient: expected shape " + shape + " but got " + gradient.shape);
    }
    Autograd.backward(this, gradient);
  }

  /** Adds {@code g} into this leaf's gradient; the gradient lives in this tensor's scope. */
  public void accumulateGrad(Tensor g) {
    if (grad == null) {
      Tensor fresh = new Tensor(new Storage(driver(), byteSize()), shape, dtype, device, owner);
      driver().copy(g.address(), fresh.address(), byteSize());
      grad = fresh;
    } else {
      driver().launch(AXPY, numel(), 1f, g.address(), grad.address());
    }
  }

  /**
   * For autograd: {@link #accumulateGrad}, except that a leaf without a gradient takes {@code g}
   * itself (moved to this tensor's scope) when no view shares g's storage, as PyTorch's
   * AccumulateGrad steals a gradient nothing else holds. The caller must not use g afterwards.
   */
  public void accumulateGradAdopting(Tensor g) {
    if (grad != null || g.storage.shared() || !g.shape.equals(shape) || g.dtype != dtype || g.freed) {
      accumulateGrad(g);
      return;
    }
    Scope.move(g, owner);
    grad = g;
  }

  /** For autograd: a mark of the allocation order; see {@link #allocatedAfter}. */
  public static long allocationMark() { return Storage.lastSerial(); }

  /** True when this tensor's storage was allocated after {@code mark} (a view of older storage is not). */
  public boolean allocatedAfter(long mark) { return storage.serial > mark; }

  /** {@code this + other} into a new tensor of the same shape, with no gradient history. */
  public Tensor plus(Tensor other) {
    if (!other.shape.equals(shape)) throw new IllegalArgumentException("other: expected shape " + shape + " but got " + other.shape);
    requireF32("plus");
    other.requireF32("plus");
    Tensor out = emptyLike(this);
    driver().launch(ADD, numel(), address(), other.address(), out.address());
    return out;
  }

  // ---- lifetime -------------------------------------------------------------------------

  Scope owner() { return owner; }

  void setOwner(Scope s) { owner = s; }

  /** Frees now (also its gradient). Using the tensor afterwards throws. */
  @Override public void close() { free(); }

  void free() {
    // Any thread may close a tensor; its storage is released once (a CAS: cheaper than a monitor).
    if (freed || !FREED.compareAndSet(this, false, true)) return;
    storage.release(); // the memory itself goes when no other thread's call has it pinned
    if (grad != null) grad.free();
    gradFn = null;
  }

  public void requireF32(String what) {
    if (dtype != DType.F32) throw new IllegalArgumentException(what + ": expected an F32 tensor but got " + dtype);
  }

  @Override public String toString() {
    return "Tensor" + shape + " " + dtype + " on " + device + (requiresGrad ? " (requires grad)" : "");
  }

  // ---- copies to and from a caller's memory (serving) -------------------------------------
  // Each copies straight between the caller's memory and the device; see HostCopies for the one
  // case that stages (Java heap memory on CUDA). Sizes are checked first.

  /** Overwrites this F32 tensor with {@link #numel()} floats of {@code src} starting at {@code offset}. */
  public void copyFrom(float[] src, int offset) {
    requireF32("copyFrom");
    HostCopies.toDevice(this, HostCopies.floats(src, offset, numel(), "src"));
  }

  /**
   * Overwrites this F32 tensor with the next {@link #numel()} floats of {@code src} (heap or
   * direct, native byte order) and advances its position past them, as a relative bulk get does.
   */
  public void copyFrom(java.nio.FloatBuffer src) {
    requireF32("copyFrom");
    HostCopies.toDevice(this, HostCopies.floats(src, numel(), false, "src"));
    src.position(src.position() + (int) numel());
  }

  /** Copies this F32 tensor's {@link #numel()} values into {@code dst} starting at {@code offset}. */
  public void copyTo(float[] dst, int offset) {
    requireF32("copyTo");
    HostCopies.toHost(this, HostCopies.floats(dst, offset, numel(), "dst"));
  }

  /** Writes this F32 tensor's values at {@code dst}'s position (heap or direct, native byte order) and advances it. */
  public void copyTo(java.nio.FloatBuffer dst) {
    requireF32("copyTo");
    HostCopies.toHost(this, HostCopies.floats(dst, numel(), true, "dst"));
    dst.position(dst.position() + (int) numel());
  }

  /** Copies the raw contents (any dtype) into {@code dst}, which must be exactly {@link #byteSize()} bytes. */
  public void copyTo(MemorySegment dst) {
    HostCopies.requireSize(dst, byteSize(), true, "dst");
    HostCopies.toHost(this, dst);
  }
}
