package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.testing.ChildJvm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where the driver refuses the fatbin (an older driver: CUDA_ERROR_UNSUPPORTED_PTX_VERSION),
 * plugkit compiles its kernel sources with NVRTC, caches the image and loads it. Proven against
 * the fake libcuda (refusing the fatbin when FAKE_REFUSE_FATBIN=1) and a fake libnvrtc.so.13
 * that checks the options and program it gets; each scenario runs {@link KernelFallbackCheck} in
 * its own JVM. What a real NVRTC makes of the sources is {@link RealNvrtcTest}'s part.
 */
class KernelFallbackTest {
  @TempDir static Path tmp;
  private static Path classes;
  private static Path lib;
  private static Path libWithoutNvrtc;

  @BeforeAll static void buildFakes() throws Exception {
    assumeTrue(FakeCuda.gccWorks(), "gcc not found: the fake CUDA libraries cannot be built");
    lib = tmp.resolve("lib");
    libWithoutNvrtc = tmp.resolve("lib-without-nvrtc");
    for (Path dir : List.of(lib, libWithoutNvrtc)) {
      FakeCuda.compile(tmp, "cuda.c", dir.resolve("libcuda.so.1"));
      FakeCuda.compile(tmp, "cublas.c", dir.resolve("libcublas.so.13"));
      FakeCuda.compile(tmp, "cudnn.c", dir.resolve("libcudnn.so.9"));
    }
    FakeCuda.compile(tmp, "nvrtc.c", lib.resolve("libnvrtc.so.13"));
    classes = FakeCuda.fatbinClasses(tmp);
  }

  private static String run(Path libs, Path cache, Map<String, String> extra, int exit, String... args) throws Exception {
    Map<String, String> env = new HashMap<>(Map.of(LibraryLocator.LIBS_VARIABLE, libs.toString(), "FAKE_LOG", "1",
        KernelCache.VARIABLE, cache.toString()));
    env.putAll(extra);
    return ChildJvm.run(classes, KernelFallbackCheck.class, env, exit, args);
  }

  private static List<Path> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.sorted().toList();
    }
  }

  @Test void compilesWithNvrtcWhenTheFatbinIsRefusedThenLoadsFromTheCache() throws Exception {
    Path cache = tmp.resolve("cache");
    String first = run(lib, cache, Map.of("FAKE_REFUSE_FATBIN", "1"), 0, "compile", cache.toString());
    assertTrue(first.contains("ALL OK"), first);
    assertTrue(first.contains("[fakecuda] cuModuleLoadData FAKEFATBIN"), first);
    assertTrue(first.contains("[fakenvrtc] nvrtcCompileProgram option --gpu-architecture=sm_90"), first);
    assertTrue(first.contains("[fakenvrtc] nvrtcDestroyProgram"), first);
    List<Path> cached = files(cache);
    assertEquals(1, cached.size(), "one image, no temporary file left: " + cached);
    String name = cached.get(0).getFileName().toString();
    assertTrue(name.matches("plugkit-[0-9a-f]{32}-cuda13000-sm_90\\.cubin"), name);
    assertTrue(Files.readString(cached.get(0), StandardCharsets.ISO_8859_1).startsWith("FAKE-CUBIN sm_90 from "));

    String second = run(lib, cache, Map.of("FAKE_REFUSE_FATBIN", "1"), 0, "cached", cache.toString());
    assertTrue(second.contains("ALL OK"), second);
    assertFalse(second.contains("[fakenvrtc]"), "the cached image needs no NVRTC:\n" + second);

    // An image the driver refuses (corrupt) is dropped and compiled again.
    Files.writeString(cached.get(0), "garbage");
    String third = run(lib, cache, Map.of("FAKE_REFUSE_FATBIN", "1"), 0, "compile", cache.toString());
    assertTrue(third.contains("ALL OK"), third);
    assertTrue(Files.readString(cached.get(0), StandardCharsets.ISO_8859_1).startsWith("FAKE-CUBIN sm_90 from "));
  }

  @Test void aCompileErrorArrivesWithNvrtcsLog() throws Exception {
    Path cache = tmp.resolve("cache-error");
    String out = run(lib, cache, Map.of("FAKE_REFUSE_FATBIN", "1", "FAKE_NVRTC_FAIL", "1"), 0, "compile-error",
        cache.toString());
    assertTrue(out.contains("ALL OK"), out);
    assertFalse(Files.exists(cache) && !files(cache).isEmpty(), "nothing cached after a failed compilation");
  }

  @Test void withoutNvrtcTheErrorSaysWhyTheFatbinFailedAndThatNoNvrtcWasFound() throws Exception {
    assumeTrue(FakeCuda.noReal(List.of("libnvrtc.so.13", "libnvrtc.so.12")), "a real NVRTC is installed here");
    Path cache = tmp.resolve("cache-none");
    String out = run(libWithoutNvrtc, cache, Map.of("FAKE_REFUSE_FATBIN", "1"), 0, "no-nvrtc", cache.toString(), "13.0",
        "libnvrtc.so.13, libnvrtc.so.12");
    assertTrue(out.contains("ALL OK"), out);
  }

  @Test void aCuda12DriverNeverTakesCuda13Libraries() throws Exception {
    assumeTrue(FakeCuda.noReal(List.of("libnvrtc.so.12", "libcublas.so.12")), "a real CUDA 12 library is installed here");
    Path cache = tmp.resolve("cache-12");
    // The folder has libnvrtc.so.13 only: it must not be used for a 12.4 driver.
    String refused = run(lib, cache, Map.of("FAKE_REFUSE_FATBIN", "1", "FAKE_DRIVER_VERSION", "12040"), 0, "no-nvrtc",
        cache.toString(), "12.4", "libnvrtc.so.12");
    assertTrue(refused.contains("ALL OK"), refused);
    assertFalse(refused.contains("[fakenvrtc]"), refused);

    String loaded = run(lib, cache, Map.of("FAKE_DRIVER_VERSION", "12040"), 0, "old-driver", cache.toString());
    assertTrue(loaded.contains("ALL OK"), loaded);
  }
}
