package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The program NVRTC gets: every kernel file from the jar's resources, in order, with its headers; and the cache's key and writes. */
class KernelSourcesTest {
  @TempDir Path tmp;

  /** The checkout's cuda-kernels: from Maven's project directory, or the nearest above the working directory (the GPU check runs at the root). */
  private static Path kernelDir() {
    String maven = System.getProperty("maven.multiModuleProjectDirectory");
    if (maven != null) return Path.of(maven, "cuda-kernels");
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve("cuda-kernels"))) return p.resolve("cuda-kernels");
    }
    throw new AssertionError("no cuda-kernels directory above " + Path.of("").toAbsolutePath());
  }

  @Test void theProgramHoldsEveryKernelFileInNameOrderWithItsHeaders() throws IOException {
    KernelSources s = KernelSources.load();
    List<String> files;
    try (Stream<Path> cu = Files.list(kernelDir())) {
      files = cu.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).sorted().toList();
    }
    assertTrue(files.contains("fill.cu"), files.toString());
    int at = -1;
    for (String f : files) {
      int next = s.program().indexOf("#line 1 \"" + f + "\"\n");
      assertTrue(next > at, f + " missing or out of order");
      at = next;
    }
    assertTrue(s.program().startsWith("#include <math.h>\n"));
    assertTrue(s.program().contains("PK_KERNEL void fill_f32("));
    assertEquals(List.of("math.h", "stdint.h", "plugkit/host_exp.cuh", "plugkit/portable.cuh"), List.copyOf(s.headers().keySet()));
    assertTrue(s.headers().get("plugkit/portable.cuh").contains("#define PK_KERNEL"));
  }

  @Test void theHashCoversProgramAndHeaders() {
    KernelSources a = KernelSources.of(Map.of("a.cu", "x"), Map.of("plugkit/p.cuh", "y"));
    assertEquals(64, a.hash().length());
    assertEquals(a.hash(), KernelSources.of(Map.of("a.cu", "x"), Map.of("plugkit/p.cuh", "y")).hash());
    assertNotEquals(a.hash(), KernelSources.of(Map.of("a.cu", "x "), Map.of("plugkit/p.cuh", "y")).hash());
    assertNotEquals(a.hash(), KernelSources.of(Map.of("a.cu", "x"), Map.of("plugkit/p.cuh", "y2")).hash());
  }

  @Test void theCacheFolderComesFromTheEnvironmentElseTheHome() {
    assertEquals(Path.of("/c"), KernelCache.forEnvironment(Map.of(KernelCache.VARIABLE, "/c"), tmp).folder());
    assertEquals(tmp.resolve(".cache/plugkit/kernels"), KernelCache.forEnvironment(Map.of(), tmp).folder());
    Path f = new KernelCache(tmp).file("ab".repeat(32), 12040, 86, "cubin");
    assertEquals(tmp.resolve("plugkit-" + "ab".repeat(16) + "-cuda12040-sm_86.cubin"), f);
  }

  @Test void cacheWritesLeaveOnlyTheWholeFile() throws IOException {
    Path f = new KernelCache(tmp.resolve("k")).file("cd".repeat(32), 13000, 90, "cubin");
    KernelCache.write(f, new byte[] {1, 2, 3});
    KernelCache.write(f, new byte[] {4, 5});
    try (Stream<Path> s = Files.list(f.getParent())) {
      assertEquals(List.of(f), s.toList());
    }
    assertEquals(2, KernelCache.read(f).orElseThrow().length);
    KernelCache.discard(f);
    assertTrue(KernelCache.read(f).isEmpty());
  }
}
