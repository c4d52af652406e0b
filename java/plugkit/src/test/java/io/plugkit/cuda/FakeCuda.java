package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds the fake CUDA libraries of {@code src/test/resources/io/plugkit/cuda/fake} with gcc, for
 * check classes run against them in child JVMs ({@link io.plugkit.testing.ChildJvm}): libcuda
 * loads once per process, so each setting (driver version, refused fatbin, missing NVRTC) needs
 * its own process.
 */
final class FakeCuda {
  private static final String FAKE = "io/plugkit/cuda/fake/";

  private FakeCuda() {}

  static boolean gccWorks() {
    try {
      Process p = new ProcessBuilder(List.of("gcc", "--version")).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor() == 0;
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  /** Compiles {@code fake/<source>} into {@code target} (a shared library). */
  static void compile(Path tmp, String source, Path target) throws IOException, InterruptedException {
    Path c = tmp.resolve(source);
    try (InputStream in = FakeCuda.class.getClassLoader().getResourceAsStream(FAKE + source)) {
      Files.write(c, in.readAllBytes());
    }
    Files.createDirectories(target.getParent());
    Process p = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O1", "-o", target.toString(), c.toString())
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "gcc " + source + ":\n" + out);
  }

  /** A classes folder holding the stand-in fatbin ("FAKEFATBIN"), put first on the child's class path. */
  static Path fatbinClasses(Path tmp) throws IOException {
    Path classes = tmp.resolve("classes");
    Path fatbin = classes.resolve(KernelModule.FATBIN);
    Files.createDirectories(fatbin.getParent());
    Files.writeString(fatbin, "FAKEFATBIN");
    return classes;
  }

  /** True when no real library of these sonames can be found here (a CUDA toolkit or wheel would change what loads). */
  static boolean noReal(List<String> sonames) {
    if (!LibraryLocator.system().files(sonames).isEmpty()) return false;
    for (String soname : sonames) {
      try {
        SymbolLookup.libraryLookup(soname, Arena.global());
        return false;
      } catch (IllegalArgumentException e) {
        // not on the loader path: good
      }
    }
    return true;
  }
}
