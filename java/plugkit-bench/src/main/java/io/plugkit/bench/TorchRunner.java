package io.plugkit.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A running tools/bench/torch_bench.py: one case in, its timing out, so each PyTorch measurement
 * follows plugkit's measurement of the same case (load on a shared machine drifts over minutes).
 */
public final class TorchRunner implements AutoCloseable {
  private static final Pattern RESULT = Pattern.compile("\"median_ms\":\\s*([0-9.eE+-]+),\\s*\"min_ms\":\\s*([0-9.eE+-]+)");
  private static final Pattern VERSION = Pattern.compile("\"torch\":\\s*\"([^\"]+)\"");

  private final Process process;
  private final Writer toPython;
  private final BufferedReader fromPython;
  private final String version;

  private TorchRunner(Process process, BufferedReader fromPython, String version) {
    this.process = process;
    this.toPython = process.outputWriter(StandardCharsets.UTF_8);
    this.fromPython = fromPython;
    this.version = version;
  }

  /** Starts the script; returns null (and says why on stderr) when python or torch is not usable. */
  public static TorchRunner start(String python, String script) {
    try {
      Process p = new ProcessBuilder(python, script).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      var fromPython = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String header = fromPython.readLine();
      Matcher v = header == null ? null : VERSION.matcher(header);
      if (v == null || !v.find()) {
        p.destroy();
        System.err.println("bench: " + python + " " + script + " did not start (no torch version line): no PyTorch column");
        return null;
      }
      return new TorchRunner(p, fromPython, v.group(1));
    } catch (IOException e) {
      System.err.println("bench: cannot run " + python + ": " + e.getMessage() + ": no PyTorch column");
      return null;
    }
  }

  public String version() { return version; }

  /** Times one case (its JSON object); null when the script failed on it. */
  public Harness.Timing time(String caseJson) {
    try {
      toPython.write(caseJson + "\n");
      toPython.flush();
      String line = fromPython.readLine();
      Matcher m = line == null ? null : RESULT.matcher(line);
      if (m == null || !m.find()) {
        System.err.println("bench: no PyTorch timing for " + caseJson);
        return null;
      }
      // Every timed run when the script sends them (same median rule as plugkit's), else its summary.
      if (Json.parse(line) instanceof java.util.Map<?, ?> r && r.get("samples_ms") instanceof java.util.List<?> l
          && !l.isEmpty()) {
        double[] ms = new double[l.size()];
        for (int i = 0; i < ms.length; i++) ms[i] = ((Number) l.get(i)).doubleValue();
        return Harness.Timing.of(ms);
      }
      return new Harness.Timing(Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)));
    } catch (IOException e) {
      System.err.println("bench: PyTorch side failed: " + e.getMessage());
      return null;
    }
  }

  @Override public void close() {
    try {
      toPython.close();
      process.waitFor();
    } catch (IOException ignored) {
      process.destroy();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroy();
    }
  }
}
