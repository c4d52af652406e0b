package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA driver against fake CUDA libraries, in a child JVM (libcuda loads once per process):
 * compiles {@code fake/cuda.c}, {@code cublas.c} and {@code cudnn.c} with gcc, puts a stand-in
 * fatbin on the class path and runs {@link FakeCudaCheck}. Skipped where gcc is missing.
 */
class FakeCudaDriverTest {
  private static final String FAKE = "io/plugkit/cuda/fake/";

  @TempDir Path tmp;

  @Test void cudaDriverPlumbingAgainstFakeLibraries() throws Exception {
    assumeTrue(gccWorks(), "gcc not found: the fake CUDA libraries cannot be built");
    Path lib = Files.createDirectories(tmp.resolve("lib"));
    compile("cuda.c", lib.resolve("libcuda.so.1"));
    compile("cublas.c", lib.resolve("libcublas.so.13"));
    compile("cudnn.c", lib.resolve("libcudnn.so.9"));
    Path classes = tmp.resolve("classes");
    Path fatbin = classes.resolve(CudaDriver.FATBIN);
    Files.createDirectories(fatbin.getParent());
    Files.writeString(fatbin, "FAKEFATBIN");

    String javaBinary = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classPath = classes + File.pathSeparator + System.getProperty("java.class.path");
    ProcessBuilder pb = new ProcessBuilder(javaBinary, "--enable-native-access=ALL-UNNAMED", "-cp", classPath,
        FakeCudaCheck.class.getName()).redirectErrorStream(true);
    pb.environment().put(LibraryLocator.LIBS_VARIABLE, lib.toString());
    pb.environment().put("FAKE_LOG", "1");
    pb.environment().remove("PLUGKIT_DEVICE");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out:\n" + out);

    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("ALL OK"), out);
    // cuLaunchKernel got n, then each argument at its size; the grid is capped at 32 blocks per SM (132 SMs).
    assertTrue(out.contains("probe n=1000 ptr=abcdef i32=-5 f32=1.25 i64=1099511627776 grid=4 block=256"), out);
    assertTrue(out.contains("probe n=1099511627776 ptr=1 i32=1 f32=1 i64=1 grid=4224 block=256"), out);
    assertFalse(out.contains("probe n=0 "), "n == 0 must launch nothing");
    // Entry points came from cuGetProcAddress_v2 (the fake logs any name it does not know).
    assertFalse(out.contains("cuGetProcAddress_v2 unknown"), out);
    // Pool: release threshold set (attribute 4); cross-thread use and free waited on events.
    assertTrue(out.contains("cuMemPoolSetAttribute 4 = "), out);
    // Out of memory: every stream waited for, the pool trimmed, the allocation tried again.
    assertTrue(out.contains("cuCtxSynchronize\n[fakecuda] cuMemPoolTrimTo 0"), out);
    assertTrue(out.lines().filter(l -> l.contains("cuStreamWaitEvent")).count() >= 3, out);
    // Streams stay bounded: main, two platform threads, at most 16 lanes for 300 virtual threads.
    long streams = out.lines().filter(l -> l.contains("cuStreamCreate")).count();
    assertTrue(streams <= 19, streams + " streams created");
  }

  private void compile(String source, Path target) throws IOException, InterruptedException {
    Path c = tmp.resolve(source);
    try (InputStream in = getClass().getClassLoader().getResourceAsStream(FAKE + source)) {
      Files.write(c, in.readAllBytes());
    }
    Process p = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O1", "-o", target.toString(), c.toString())
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "gcc " + source + ":\n" + out);
  }

  private static boolean gccWorks() {
    try {
      Process p = new ProcessBuilder(List.of("gcc", "--version")).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor() == 0;
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }
}
