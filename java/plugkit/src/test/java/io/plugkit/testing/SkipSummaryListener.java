package io.plugkit.testing;

import io.plugkit.Device;
import io.plugkit.driver.Drivers;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Registered for every run (service file, under Surefire and the console launcher): at the end,
 * prints the skipped tests grouped by reason and the CUDA device the CUDA cases ran on, because
 * Surefire's console shows only a skip count and the reasons would hide in the XML. When
 * {@code PLUGKIT_TEST_SUMMARY} (system property or environment) names a file, writes the counts
 * there as {@code key=value} lines for tools/gpu/run-gpu-check.sh.
 *
 * <p>A CUDA case is a test that passed {@link TestDevices#assumeUsable} for a CUDA device, or whose
 * display name holds a CUDA device ({@code [2] cuda:0}). The mark is per thread: JUnit reports a
 * test's start and end on the thread that runs it (this suite does not run tests in parallel).
 */
public final class SkipSummaryListener implements TestExecutionListener {
  public static final String SUMMARY_VARIABLE = "PLUGKIT_TEST_SUMMARY";
  private static final int EXAMPLES = 3;
  private static final ThreadLocal<Boolean> CUDA_CASE = ThreadLocal.withInitial(() -> false);

  private TestPlan plan;
  private int tests;
  private int failed;
  private int skipped;
  private int cudaRun;
  private final Map<String, Integer> skipCounts = new LinkedHashMap<>();
  private final Map<String, List<String>> skipExamples = new LinkedHashMap<>();

  /** Called by {@link TestDevices} when the running test goes on with a CUDA device. */
  static void markCudaCase() { CUDA_CASE.set(true); }

  @Override public void testPlanExecutionStarted(TestPlan testPlan) { plan = testPlan; }

  @Override public void executionStarted(TestIdentifier id) {
    if (id.isTest()) CUDA_CASE.set(false);
  }

  @Override public void executionSkipped(TestIdentifier id, String reason) { skip(id, reason); }

  @Override public void executionFinished(TestIdentifier id, TestExecutionResult result) {
    switch (result.getStatus()) {
      case ABORTED -> skip(id, result.getThrowable().map(Throwable::getMessage).orElse("aborted"));
      case FAILED -> {
        failed++; // a failed container (a class that cannot start) counts once
        if (id.isTest()) tests++;
      }
      case SUCCESSFUL -> {
        if (!id.isTest()) return;
        tests++;
        if (CUDA_CASE.get() || id.getDisplayName().contains("cuda:")) cudaRun++;
      }
    }
  }

  /** A skipped or aborted container stands for its tests (at least one: parameterized ones are not known yet). */
  private void skip(TestIdentifier id, String reason) {
    int n = id.isTest() ? 1 : Math.max(1, (int) plan.getDescendants(id).stream().filter(TestIdentifier::isTest).count());
    skipped += n;
    tests += n;
    String why = reason == null ? "no reason given" : reason.replaceFirst("^Assumption failed: ", "");
    skipCounts.merge(why, n, Integer::sum);
    List<String> examples = skipExamples.computeIfAbsent(why, k -> new ArrayList<>());
    if (examples.size() < EXAMPLES) examples.add(name(id));
  }

  /** Class.method, with the invocation for a parameterized case ({@code [2] cuda:0}). */
  private static String name(TestIdentifier id) {
    return id.getSource().filter(MethodSource.class::isInstance).map(MethodSource.class::cast)
        .map(m -> m.getClassName().substring(m.getClassName().lastIndexOf('.') + 1) + "." + m.getMethodName()
            + (id.getDisplayName().startsWith("[") ? " " + id.getDisplayName() : ""))
        .orElse(id.getDisplayName());
  }

  @Override public void testPlanExecutionFinished(TestPlan testPlan) {
    PrintStream out = System.out;
    out.println();
    out.println("plugkit test summary: " + tests + " tests, " + failed + " failed, " + skipped + " skipped, "
        + cudaRun + " CUDA cases run");
    skipCounts.forEach((reason, n) -> {
      List<String> examples = skipExamples.get(reason);
      out.println("  skipped " + n + ": " + reason);
      out.println("    e.g. " + String.join("; ", examples) + (n > examples.size() ? "; ..." : ""));
    });
    out.println("  " + deviceLine());
    out.flush();
    writeCounts();
  }

  private String deviceLine() {
    if (!Drivers.cudaUsable()) {
      return (TestDevices.cudaRequired() ? "CUDA cases failed (PLUGKIT_DEVICE=cuda): " : "CUDA cases skipped: ")
          + Drivers.cudaProblem();
    }
    String device;
    try {
      device = Drivers.of(Device.cuda(0)).describe();
    } catch (RuntimeException | LinkageError e) {
      device = "CUDA device 0 (opened, but could not be described: " + e + ")";
    }
    String line = "CUDA cases ran on: " + device;
    if (device.toLowerCase().contains("emulated")) {
      line += "\n  CUDA cases ran on the EMULATED device (proves kernel logic and driver bookkeeping, not real-GPU"
          + " behaviour or speed)";
    }
    return line;
  }

  private void writeCounts() {
    String file = System.getProperty(SUMMARY_VARIABLE, System.getenv(SUMMARY_VARIABLE));
    if (file == null || file.isBlank()) return;
    String text = "tests=" + tests + "\nfailed=" + failed + "\nskipped=" + skipped + "\ncuda_run=" + cudaRun + "\n";
    try {
      Files.writeString(Path.of(file), text);
    } catch (IOException e) {
      throw new UncheckedIOException(SUMMARY_VARIABLE + ": cannot write the test summary to " + file, e);
    }
  }
}
