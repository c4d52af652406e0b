package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA driver against fake CUDA libraries, in a child JVM (libcuda loads once per process):
 * compiles {@code fake/cuda.c}, {@code cublas.c} and {@code cudnn.c} with gcc, puts a stand-in
 * fatbin on the class path and runs {@link FakeCudaCheck}. Skipped where gcc is missing. The
 * NVRTC fallback has its own child JVMs: {@link KernelFallbackTest}.
 */
class FakeCudaDriverTest {
  @TempDir Path tmp;

  @Test void cudaDriverPlumbingAgainstFakeLibraries() throws Exception {
    assumeTrue(FakeCuda.gccWorks(), "gcc not found: the fake CUDA libraries cannot be built");
    Path lib = Files.createDirectories(tmp.resolve("lib"));
    FakeCuda.compile(tmp, "cuda.c", lib.resolve("libcuda.so.1"));
    FakeCuda.compile(tmp, "cublas.c", lib.resolve("libcublas.so.13"));
    FakeCuda.compile(tmp, "cudnn.c", lib.resolve("libcudnn.so.9"));
    String out = ChildJvm.run(FakeCuda.fatbinClasses(tmp), FakeCudaCheck.class, Map.of(LibraryLocator.LIBS_VARIABLE,
        lib.toString(), "FAKE_LOG", "1", KernelCache.VARIABLE, tmp.resolve("kernel-cache").toString()), 0);

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
    // cuDNN fallback: algo 2 (ranked first) fails on the 1x1 kernel, algo 0 runs; the second call starts with algo 0.
    List<String> oneByOne = out.lines().filter(l -> l.startsWith("[fakecudnn] ") && l.endsWith("kernel=1x1"))
        .map(l -> l.substring("[fakecudnn] ".length(), l.indexOf(' ', "[fakecudnn] ".length()))).toList();
    assertEquals(List.of("algo=2", "algo=0", "algo=0"), oneByOne, out);
  }
}
