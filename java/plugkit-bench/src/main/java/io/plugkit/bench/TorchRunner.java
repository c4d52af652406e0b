package io.plugkit.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs tools/bench/torch_bench.py with the same cases and reads back its medians. */
public final class TorchRunner {
  private static final Pattern RESULT = Pattern.compile("\"([^\"]+)\":\\s*\\{\"median_ms\":\\s*([0-9.eE+-]+),\\s*\"min_ms\":\\s*([0-9.eE+-]+)\\}");
  private static final Pattern VERSION = Pattern.compile("\"torch\":\\s*\"([^\"]+)\"");

  /** What PyTorch measured, by case id and mode ("id/fwd"), and its version. */
  public record Results(String version, Map<String, Harness.Timing> timings) {}

  private TorchRunner() {}

  /** Returns null (and says why on stderr) when python or torch is not usable. */
  public static Results run(String python, String script, List<String> casesJson) {
    String input = "[" + String.join(",", casesJson) + "]";
    try {
      Process p = new ProcessBuilder(python, script).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      try (var in = p.getOutputStream()) {
        in.write(input.getBytes(StandardCharsets.UTF_8));
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
        System.err.println("bench: " + python + " " + script + " failed (exit " + p.exitValue() + "): no PyTorch column");
        return null;
      }
      Map<String, Harness.Timing> t = new HashMap<>();
      Matcher m = RESULT.matcher(out);
      while (m.find()) t.put(m.group(1), new Harness.Timing(Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3))));
      Matcher v = VERSION.matcher(out);
      return new Results(v.find() ? v.group(1) : "?", t);
    } catch (IOException e) {
      System.err.println("bench: cannot run " + python + ": " + e.getMessage() + ": no PyTorch column");
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}
