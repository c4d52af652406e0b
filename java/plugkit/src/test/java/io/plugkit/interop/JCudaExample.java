package io.plugkit.interop;

import static io.plugkit.testing.ChildJvm.check;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocAsync;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Pins;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Drivers;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.testing.ChildJvm;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The JCuda example (run in a child JVM by {@link JCudaInteropTest}): JCuda allocates and fills
 * device memory on its stream, plugkit wraps it without a copy and runs ops on that same stream,
 * and JCuda reads plugkit's result back on it; no synchronize between the two libraries.
 *
 * <p>On a real GPU memory comes from {@code cuMemAlloc}; on the emulated device (which implements
 * only the stream-ordered allocator plugkit uses) from {@code cuMemAllocAsync} on the shared stream.
 */
public final class JCudaExample {
  private JCudaExample() {}

  /** A JCuda handle's raw value: JCuda keeps it in a protected field of every handle and pointer. */
  static long handle(NativePointerObject o) throws ReflectiveOperationException {
    Method m = NativePointerObject.class.getDeclaredMethod("getNativePointer");
    m.setAccessible(true);
    return (long) m.invoke(o);
  }

  public static void main(String[] args) throws Exception {
    Device dev = Device.cuda(0);
    // plugkit first: on the emulated device, JCuda's JNI library then binds to the libcuda.so.1
    // plugkit loaded (same soname), so both talk to one device
    boolean emulated = Drivers.of(dev).describe().contains("emulated");
    JCudaDriver.setExceptionsEnabled(true);
    cuInit(0);
    CUdevice device = new CUdevice();
    cuDeviceGet(device, 0);
    CUcontext context = new CUcontext();
    cuDevicePrimaryCtxRetain(context, device); // plugkit uses the primary context too
    cuCtxSetCurrent(context);
    CUstream stream = new CUstream();
    cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);

    int n = 3 * 5 * 7;
    long bytes = 4L * n;
    CUdeviceptr in = new CUdeviceptr();
    CUdeviceptr out = new CUdeviceptr();
    if (emulated) {
      cuMemAllocAsync(in, bytes, stream);
      cuMemAllocAsync(out, bytes, stream);
    } else {
      cuMemAlloc(in, bytes);
      cuMemAlloc(out, bytes);
    }
    ByteBuffer host = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    FloatBuffer hf = host.asFloatBuffer();
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (i % 11) - 5.5f;
    hf.put(x);
    cuMemcpyHtoDAsync(in, Pointer.to(host), bytes, stream); // not waited for: stream order does it

    AtomicInteger released = new AtomicInteger();
    try (Scope s = Scope.open(); CudaStreams.Use use = CudaStreams.use(dev, handle(stream))) {
      check(CudaStreams.current(dev) == handle(stream), "plugkit's work goes to JCuda's stream");
      Tensor xt = Tensor.wrap(dev, handle(in), new int[] {3, 5, 7}, DType.F32, released::incrementAndGet);
      Tensor yt = Tensor.wrap(dev, handle(out), new int[] {3, 5, 7}, DType.F32, released::incrementAndGet);
      Tensor r = Elementwise.mul(Activations.relu(xt), xt); // relu(x) * x
      try (Pins p = Pins.hold()) {
        r.driver().copy(r.address(), yt.address(), bytes); // into JCuda's buffer, on the shared stream
      }
      check(xt.stream() == handle(stream), "Tensor.stream() exports JCuda's stream inside the scope");
    }
    check(released.get() == 2, "both wrapped buffers released once, and not freed by plugkit: " + released.get());

    ByteBuffer back = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    cuMemcpyDtoHAsync(Pointer.to(back), out, bytes, stream);
    cuStreamSynchronize(stream);
    FloatBuffer bf = back.asFloatBuffer();
    int wrong = 0;
    for (int i = 0; i < n; i++) {
      float want = Math.max(0f, x[i]) * x[i];
      if (bf.get(i) != want) wrong++;
    }
    check(wrong == 0, "JCuda reads relu(x) * x that plugkit computed in its buffer (" + wrong + " of " + n + " wrong)");
    if (emulated) {
      cuMemFreeAsync(in, stream);
      cuMemFreeAsync(out, stream);
      cuStreamSynchronize(stream);
    } else {
      cuMemFree(in);
      cuMemFree(out);
    }
    check(true, (emulated ? "emulated device: " : "real GPU: ") + Drivers.of(dev).describe());
    ChildJvm.exitWithChecks();
  }
}
