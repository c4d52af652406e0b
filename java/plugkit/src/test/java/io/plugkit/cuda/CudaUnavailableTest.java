package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.plugkit.testing.ChildJvm;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * On a machine without an NVIDIA driver CUDA must report why, and everything must fall back to
 * the CPU. The test JVM is pointed at the emulated device, so the checks run in a child JVM
 * without PLUGKIT_CUDA_LIBS ({@link CudaUnavailableCheck}); skipped where a system libcuda loads.
 */
class CudaUnavailableTest {
  @Test void withoutLibcudaCudaSaysWhyAndTheCpuServes() throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put(LibraryLocator.LIBS_VARIABLE, null);
    String out = ChildJvm.run(null, CudaUnavailableCheck.class, env, 0);
    assumeFalse(out.startsWith("SKIP"), out);
    assertTrue(out.contains("ALL OK"), out);
  }
}
