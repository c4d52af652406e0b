package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * On a machine without an NVIDIA driver CUDA must report why, and everything must fall back to
 * the CPU. The test JVM is pointed at the emulated device, so the checks run in a child JVM
 * without PLUGKIT_CUDA_LIBS ({@link CudaUnavailableCheck}); skipped where a system libcuda loads.
 */
class CudaUnavailableTest {
  @Test void withoutLibcudaCudaSaysWhyAndTheCpuServes() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
        System.getProperty("java.class.path"), CudaUnavailableCheck.class.getName()).redirectErrorStream(true);
    pb.environment().remove(LibraryLocator.LIBS_VARIABLE);
    pb.environment().remove("PLUGKIT_DEVICE");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM timed out:\n" + out);
    assumeFalse(out.startsWith("SKIP"), out);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("ALL OK"), out);
  }
}
