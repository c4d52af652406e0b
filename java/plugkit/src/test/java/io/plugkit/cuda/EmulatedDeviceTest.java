package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.Device;
import io.plugkit.driver.Drivers;
import io.plugkit.testing.ChildJvm;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The emulated CUDA device reports the faults a kernel can have on a GPU, through the real
 * CudaDriver, as errors and never as a hang: each planted-fault kernel runs in a child JVM
 * ({@link EmulatedFaultCheck}), since a fault is sticky for the process as on a GPU.
 */
class EmulatedDeviceTest {
  @BeforeAll static void onTheEmulatedDevice() {
    assumeTrue(Drivers.cudaUsable(), () -> "CUDA skipped: " + Drivers.cudaProblem());
    assumeTrue(Drivers.of(Device.cuda(0)).describe().contains("emulated CUDA device"),
        "planted faults exist only on the emulated device");
  }

  @Test void aCorrectBlockReductionRunsWithoutFault() throws Exception {
    String out = run("none");
    // 96 threads per block, three blocks: each block's sum of 1 over its threads.
    assertTrue(out.contains("NO FAULT; block sums 96.0 96.0 96.0"), out);
  }

  @Test void aBarrierNotEveryThreadReachesIsALaunchFailure() throws Exception {
    String out = run("barrier");
    assertTrue(out.contains("FAULT CUDA driver: cuLaunchKernel") || out.contains("FAULT CUDA driver: cuStreamSynchronize"), out);
    assertTrue(out.contains("CUDA_ERROR_LAUNCH_FAILED (719)"), out);
    assertTrue(out.contains("kernel planted_barrier_divergence <<<1, 64>>>: block (0,0,0): barrier divergence: "
        + "thread (1,0,0) reached __syncthreads at planted_faults.cu:8 after 1 of 64 threads of the block had exited"), out);
    assertTrue(out.contains("LATER CALL FAILED"), "faults are sticky:\n" + out);
  }

  @Test void lanesMeetingAtDifferentShufflesAreALaunchFailure() throws Exception {
    String out = run("warp");
    assertTrue(out.contains("CUDA_ERROR_LAUNCH_FAILED (719)"), out);
    assertTrue(out.contains("warp divergence: lanes of warp 0 meet at different shuffles (planted_faults.cu:16 and "
        + "planted_faults.cu:18)"), out);
  }

  @Test void aThreadOverrunningItsStackIsALaunchFailure() throws Exception {
    String out = run("stack-overflow");
    assertTrue(out.contains("CUDA_ERROR_LAUNCH_FAILED (719)"), out);
    assertTrue(out.contains("kernel planted_stack_overflow <<<1, 2>>>: block (0,0,0): thread (1,0,0) overflowed its 256 KiB stack"),
        out);
  }

  @Test void aWritePastTheEndOfABlockIsAnIllegalAddress() throws Exception {
    String out = run("out-of-bounds");
    assertTrue(out.contains("CUDA_ERROR_ILLEGAL_ADDRESS (700)"), out);
    assertTrue(out.contains("kernel planted_out_of_bounds_write wrote outside the block of parameter 1 (256 bytes at 0x"),
        out);
    assertTrue(out.contains("byte 256 (past its end) was overwritten"), out);
  }

  @Test void aKernelOnFreedMemoryIsAnIllegalAddress() throws Exception {
    String out = run("use-after-free");
    assertTrue(out.contains("CUDA_ERROR_ILLEGAL_ADDRESS (700)"), out);
    assertTrue(out.contains("kernel planted_none_block_sum, parameter 1: 0x"), out);
    assertTrue(out.contains("points into a block that was freed"), out);
  }

  @Test void aStreamUsingABlockBeforeItsAllocatingStreamReachedItIsAnIllegalAddress() throws Exception {
    String out = run("missing-wait");
    assertTrue(out.contains("CUDA_ERROR_ILLEGAL_ADDRESS (700)"), out);
    assertTrue(out.contains("kernel planted_none_block_sum, parameter 1: 0x"), out);
    assertTrue(out.contains("is used before its stream-ordered allocation was reached"), out);
  }

  private static String run(String fault) throws Exception {
    return ChildJvm.run(null, EmulatedFaultCheck.class, Map.of(), 0, fault);
  }
}
