package io.plugkit.cuda;

import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Device;
import io.plugkit.cpu.NativeLoader;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.NativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Launches one planted-fault kernel of the emulated device ({@code native/emulated-cuda/
 * planted_faults.cu}) through the real CudaDriver and prints what the driver reported, then
 * whether a later call still fails (faults are sticky, as on a GPU). Run in its own JVM by
 * {@link EmulatedDeviceTest}: a fault ends the device for the process.
 */
public final class EmulatedFaultCheck {
  private EmulatedFaultCheck() {}

  public static void main(String[] args) {
    Driver cuda = Drivers.of(Device.cuda(0));
    long block = cuda.allocate(4L * 64);
    try {
      switch (args[0]) {
        case "none" -> cuda.launch(Kernel.withBlock("planted_none_block_sum", 96, PTR), 3, block);
        // One block: blocks run in parallel and odd ones in reverse thread order, so with more the
        // first fault reported (and its wording) would depend on scheduling.
        case "barrier" -> cuda.launch(Kernel.withBlock("planted_barrier_divergence", 64, PTR), 1, block);
        case "warp" -> cuda.launch(Kernel.withBlock("planted_warp_divergence", 32, PTR), 1, block);
        case "stack-overflow" -> cuda.launch(Kernel.withBlock("planted_stack_overflow", 2, PTR), 1, block);
        case "out-of-bounds" -> cuda.launch(Kernel.of("planted_out_of_bounds_write", PTR), 64, block);
        case "use-after-free" -> {
          long freed = cuda.allocate(4L * 64);
          cuda.free(freed, 4L * 64);
          cuda.synchronize();
          cuda.launch(Kernel.withBlock("planted_none_block_sum", 32, PTR), 1, freed);
        }
        case "missing-wait" -> missingWait();
        default -> throw new IllegalArgumentException("fault: unknown " + args[0]);
      }
      cuda.synchronize();
      System.out.println("NO FAULT; block sums " + firstValues(cuda, block));
    } catch (NativeException e) {
      System.out.println("FAULT " + e.getMessage());
      try {
        cuda.synchronize();
        System.out.println("LATER CALL SUCCEEDED");
      } catch (NativeException later) {
        System.out.println("LATER CALL FAILED " + later.getMessage());
      }
    }
  }

  /**
   * Below the driver (whose DeviceMemory would make stream B wait): a block allocated on stream
   * A behind a kernel that holds A is used at once on stream B, before A reaches the allocation.
   */
  private static void missingWait() {
    CudaLibrary cu = CudaLibrary.instance();
    cu.setCurrentContext(cu.primaryContextRetain(cu.device(0)));
    long a = cu.streamCreate();
    long b = cu.streamCreate();
    try (Arena arena = Arena.ofConfined()) {
      byte[] image = NativeLoader.readResource(KernelModule.FATBIN);
      MemorySegment copy = arena.allocate(image.length, 16);
      MemorySegment.copy(image, 0, copy, ValueLayout.JAVA_BYTE, 0, image.length);
      long module = cu.moduleLoadData(copy);
      long flag = cu.memAllocAsync(4, a);
      cu.memsetD32Async(flag, 0, 1, a);
      cu.streamSynchronize(a);
      // A is held until the flag is set, which never happens before B's use: no timing involved.
      Kernel hold = Kernel.of("planted_hold", PTR);
      cu.launchKernel(cu.moduleGetFunction(module, hold.name()), 1, 32, a,
          LaunchParams.pack(hold, 100_000, new Object[] {flag}, arena), hold.name());
      long fresh = cu.memAllocAsync(256, a);
      Kernel sum = Kernel.withBlock("planted_none_block_sum", 32, PTR);
      cu.launchKernel(cu.moduleGetFunction(module, sum.name()), 1, 32, b,
          LaunchParams.pack(sum, 1, new Object[] {fresh}, arena), sum.name());
      cu.streamSynchronize(b);
    }
  }

  private static String firstValues(Driver cuda, long block) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment host = a.allocate(12);
      cuda.copyToHost(block, host, 12);
      return host.get(ValueLayout.JAVA_FLOAT, 0) + " " + host.get(ValueLayout.JAVA_FLOAT, 4) + " "
          + host.get(ValueLayout.JAVA_FLOAT, 8);
    }
  }
}
