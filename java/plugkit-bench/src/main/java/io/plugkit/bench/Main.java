package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Doctor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** plugkit's command line: {@code bench}, {@code compare}, {@code demo}, {@code doctor}; {@code --help} on each. */
@Command(name = "plugkit", mixinStandardHelpOptions = true, version = "plugkit 0.1.0-SNAPSHOT",
    description = "plugkit: CNN plug-in ops for Java. Benchmarks, result comparison, the demo and the setup check.",
    subcommands = {Main.BenchCommand.class, Main.CompareCommand.class, Main.DemoCommand.class, Main.DoctorCommand.class,
        CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  @Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The command tree, for main and for tests. */
  public static CommandLine commandLine() {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true)
        .setExecutionExceptionHandler((e, cl, parsed) -> {
          // What a user can fix (no such case, file or device) as one line; anything else with its trace.
          if (e instanceof IllegalArgumentException || e instanceof java.io.IOException
              || e instanceof io.plugkit.driver.UnsupportedFeatureException) {
            cl.getErr().println("plugkit " + cl.getCommandName() + ": " + e.getMessage()
                + (e instanceof java.nio.file.NoSuchFileException ? ": no such file" : ""));
          } else {
            e.printStackTrace(cl.getErr());
          }
          return 1;
        });
  }

  @Override public void run() {
    spec.commandLine().usage(System.out);
  }

  @Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Times the cases (forward and forward + backward) on one device, each against the machine's "
          + "roofs (GEMM FLOP/s and memory bandwidth, measured once per machine and cached), and optionally "
          + "PyTorch on the same device and threads right after each. Prints a table as it runs; with --out,"
          + " writes bench.json, bench.csv, bench.md and bench.png there.")
  static final class BenchCommand implements Callable<Integer> {
    @Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Device (default: cuda if usable, else cpu).")
    String device;

    @Option(names = "--threads", description = "CPU threads for plugkit (and PyTorch) (default: all cores).")
    Integer threads;

    @Option(names = "--dtype", defaultValue = "F32", description = "Element type; only F32 is benchmarked (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--warmup", defaultValue = "3", description = "Warm-up runs, at least (and two seconds, and until the JIT is quiet) (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--repeats", defaultValue = "10", description = "Timed runs per case and mode (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = {"--filter", "-f"}, paramLabel = "TEXT",
        description = "Run the cases whose id contains TEXT; repeat for several (default: all).")
    List<String> filters = new ArrayList<>();

    @Option(names = {"--exclude", "-x"}, paramLabel = "TEXT", description = "Skip the cases whose id contains TEXT; repeatable.")
    List<String> excludes = new ArrayList<>();

    @Option(names = "--out", paramLabel = "DIR", description = "Write bench.json, bench.csv, bench.md and bench.png into DIR.")
    Path out;

    @Option(names = "--with-torch", description = "Time PyTorch side by side (each case right after plugkit's).")
    boolean withTorch;

    @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "Python with torch (default: ${DEFAULT-VALUE}).")
    String python;

    @Option(names = "--torch-script", defaultValue = "tools/bench/torch_bench.py", description = "PyTorch side (default: ${DEFAULT-VALUE}).")
    String torchScript;

    @Option(names = "--roof-cache", paramLabel = "FILE", description = "Roof cache (default: ~/.cache/plugkit/bench-roofs.json).")
    Path roofCache;

    @Option(names = "--remeasure-roofs", description = "Measure the roofs again and update the cache.")
    boolean remeasureRoofs;

    @Option(names = "--roof-gemm-size", paramLabel = "S", description = "GEMM roof: an S x S x S matmul "
        + "(default: 2048 on the CPU, 8192 on CUDA).")
    Integer roofGemmSize;

    @Option(names = "--roof-vector-size", paramLabel = "N", description = "Memory roof: an add of two N-float "
        + "vectors (default: 6 Mi on the CPU, 32 Mi on CUDA).")
    Integer roofVectorSize;

    @Option(names = "--list", description = "List the selected cases with their bound and FLOPs, run nothing.")
    boolean list;

    @Override public Integer call() throws Exception {
      if (!dtype.equalsIgnoreCase("F32")) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--dtype: the bench runs F32 only (every case and both roofs are single precision); got " + dtype);
      }
      if (repeats < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--repeats: expected >= 1 but got " + repeats);
      if (warmup < 0) throw new CommandLine.ParameterException(spec.commandLine(), "--warmup: expected >= 0 but got " + warmup);
      if ((roofGemmSize != null && roofGemmSize < 1) || (roofVectorSize != null && roofVectorSize < 1)) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--roof-gemm-size, --roof-vector-size: expected >= 1");
      }
      if (threads != null && threads < 1) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--threads: expected >= 1 but got " + threads);
      }
      if (list) {
        for (BenchCase c : Benchmark.select(Benchmark.allCases(), filters, excludes)) {
          System.out.println(c.bound() == Cost.Bound.UNKNOWN ? c.id() + "  [no formula: timed only]"
              : c.bound() == Cost.Bound.LATENCY ? c.id() + "  [latency: host time per call, no roof]"
              : String.format(Locale.ROOT, "%s  [%s; fwd %.3g FLOP, %.3g B]", c.id(), c.bound().name().toLowerCase(Locale.ROOT),
                  c.flops(Harness.Mode.FWD), c.bytes(Harness.Mode.FWD)));
        }
        return 0;
      }
      Device d;
      if (device == null) d = Device.best();
      else if (device.equals("cpu")) d = Device.cpu();
      else if (device.equals("cuda")) d = Device.cuda(0);
      else throw new CommandLine.ParameterException(spec.commandLine(), "--device: expected cpu or cuda but got " + device);
      int t = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
      Benchmark.run(new Benchmark.Options(d, t, warmup, repeats, filters, excludes, withTorch, python, torchScript, out,
          roofCache == null ? Roofs.defaultCache() : roofCache, remeasureRoofs,
          roofGemmSize == null ? Roofs.defaultGemmSize(d) : roofGemmSize,
          roofVectorSize == null ? Roofs.defaultVectorSize(d) : roofVectorSize), System.out);
      return 0;
    }
  }

  @Command(name = "compare", mixinStandardHelpOptions = true,
      description = "Two bench.json files side by side. A case is flagged SLOWER or FASTER when B's median differs "
          + "from A's by more than max(--min-change, k x sqrt(sA^2 + sB^2)), sA and sB being each run's own "
          + "spread (interquartile range / median of its repeats). Exit status 1 when any case is SLOWER.")
  static final class CompareCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "A.json", description = "The baseline.") Path a;
    @Parameters(index = "1", paramLabel = "B.json", description = "The run to check.") Path b;

    @Option(names = "--min-change", defaultValue = "0.10", description = "Smallest relative change flagged (default: ${DEFAULT-VALUE}).")
    double minChange;

    @Option(names = "-k", defaultValue = "2.0", description = "Multiple of the combined spread that counts as noise (default: ${DEFAULT-VALUE}).")
    double k;

    @Override public Integer call() throws Exception {
      List<Compare.Line> lines = Compare.compare(Results.read(a), Results.read(b), minChange, k);
      System.out.println("A: " + a + "\nB: " + b + "\n");
      System.out.println("| case / mode | A ms | B ms | B / A | threshold | verdict |");
      System.out.println("|---|---:|---:|---:|---:|---|");
      int slower = 0;
      int faster = 0;
      for (Compare.Line l : lines) {
        System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", l.key(), num("%.3f", l.medianA()),
            num("%.3f", l.medianB()), num("%.2fx", l.ratio()), num("+-%.0f%%", 100 * l.threshold()), l.verdict());
        if (l.verdict() == Compare.Verdict.SLOWER) slower++;
        if (l.verdict() == Compare.Verdict.FASTER) faster++;
      }
      System.out.printf(Locale.ROOT, "%n%d slower, %d faster beyond the noise, of %d%n", slower, faster, lines.size());
      return slower > 0 ? 1 : 0;
    }

    private static String num(String f, double v) { return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, f, v); }
  }

  @Command(name = "demo", mixinStandardHelpOptions = true,
      description = "Trains a small CNN and a spatial transformer on generated data, on the best device.")
  static final class DemoCommand implements Runnable {
    @Override public void run() { Demo.main(new String[0]); }
  }

  @Command(name = "doctor", mixinStandardHelpOptions = true,
      description = "Reports the JDK, the native libraries and whether CUDA is usable (and if not, why).")
  static final class DoctorCommand implements Runnable {
    @Override public void run() { Doctor.main(new String[0]); }
  }
}
