package io.plugkit.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class in a child JVM, for what loads once per process (libcuda) or ends it (a
 * sticky device fault); and the one-line-per-check protocol those mains print. Never hangs a test:
 * a child that runs past two minutes fails it.
 */
public final class ChildJvm {
  private static int failures;

  private ChildJvm() {}

  /**
   * Runs {@code main} with this JVM's class path ({@code firstOnClassPath} before it, when not
   * null), without PLUGKIT_DEVICE, with {@code env} applied (a null value removes the variable),
   * asserts the exit code and returns the output (stdout and stderr).
   */
  public static String run(Path firstOnClassPath, Class<?> main, Map<String, String> env, int expectedExit, String... args)
      throws IOException, InterruptedException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classPath = (firstOnClassPath == null ? "" : firstOnClassPath + File.pathSeparator)
        + System.getProperty("java.class.path");
    List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", classPath,
        main.getName()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().remove("PLUGKIT_DEVICE");
    env.forEach((k, v) -> {
      if (v == null) pb.environment().remove(k);
      else pb.environment().put(k, v);
    });
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out:\n" + out);
    assertEquals(expectedExit, p.exitValue(), out);
    return out;
  }

  /** In a child main: prints "ok" or "FAIL" and what was checked. */
  public static void check(boolean ok, String what) {
    System.out.println((ok ? "ok   " : "FAIL ") + what);
    if (!ok) failures++;
  }

  /** In a child main: prints ALL OK or the failure count, and exits with that count. */
  public static void exitWithChecks() {
    System.out.println(failures == 0 ? "ALL OK" : failures + " FAILURES");
    System.exit(failures);
  }
}
