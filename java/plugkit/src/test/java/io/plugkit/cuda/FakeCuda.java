package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Builds the fake CUDA libraries of {@code src/test/resources/io/plugkit/cuda/fake} with gcc and
 * runs a check class in a child JVM against them: libcuda loads once per process, so each
 * setting (driver version, refused fatbin, missing NVRTC) needs its own process.
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

  /** Runs {@code main} in a child JVM with these extra environment variables; returns its output (stdout and stderr). */
  static String run(Path classes, Class<?> main, Map<String, String> env, int expectedExit, String... args)
      throws IOException, InterruptedException {
    String javaBinary = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classPath = classes + File.pathSeparator + System.getProperty("java.class.path");
    List<String> command = new java.util.ArrayList<>(List.of(javaBinary, "--enable-native-access=ALL-UNNAMED", "-cp",
        classPath, main.getName()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().remove("PLUGKIT_DEVICE");
    pb.environment().putAll(env);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out:\n" + out);
    assertEquals(expectedExit, p.exitValue(), out);
    return out;
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
