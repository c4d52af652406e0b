package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.driver.Drivers;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs the cases on one device: measures (or reuses) the machine's roofs, times each case's forward
 * and forward + backward, and, with PyTorch, PyTorch on the same device and thread count right after
 * each; prints the table as it goes and writes JSON, CSV and a chart when given a directory.
 */
public final class Benchmark {
  private Benchmark() {}

  /** What {@code bench} was asked for; see {@link BenchCommand} for each option. */
  public record Options(Device device, int threads, int warmup, int repeats, List<String> filters,
      List<String> excludes, boolean withTorch, String python, String torchScript, Path out, Path roofCache,
      boolean remeasureRoofs, int roofGemmSize, int roofVectorSize) {}

  /** Every case, in table order. */
  public static List<BenchCase> allCases() {
    List<BenchCase> all = new ArrayList<>(CoreOpsCases.all());
    all.addAll(GridSampleCases.all());
    all.addAll(DeformConvCases.all());
    all.addAll(AttentionGateCases.all());
    all.addAll(NonLocalCases.all());
    all.addAll(DoConvCases.all());
    all.addAll(BlurPoolCases.all());
    all.addAll(AtrousCases.all());
    all.addAll(AsppCases.all());
    all.addAll(AsffCases.all());
    all.addAll(PaddingCases.all());
    all.addAll(InterpolateCases.all());
    all.addAll(OverheadCases.all());
    return all;
  }

  /** The cases whose id contains one of the filters (all when none) and none of the excludes. */
  public static List<BenchCase> select(List<BenchCase> all, List<String> filters, List<String> excludes) {
    List<BenchCase> cases = new ArrayList<>();
    for (BenchCase c : all) {
      if ((filters.isEmpty() || filters.stream().anyMatch(c.id()::contains))
          && excludes.stream().noneMatch(c.id()::contains)) cases.add(c);
    }
    return cases;
  }

  public static Results run(Options o, PrintStream out) throws IOException {
    CpuDriver.instance().setThreads(o.threads());
    List<BenchCase> cases = select(allCases(), o.filters(), o.excludes());
    if (cases.isEmpty()) throw new IllegalArgumentException("no case matches --filter " + o.filters()
        + (o.excludes().isEmpty() ? "" : " without --exclude " + o.excludes()));
    Device device = o.device();
    out.printf(Locale.ROOT, "plugkit benchmark: device %s (%s), F32, %d threads, %d warm-up + %d timed runs%n",
        device, Drivers.of(device).describe(), o.threads(), o.warmup(), o.repeats());
    String coretype = RunInfo.openblasCoretypeNote();
    if (coretype != null) out.println(coretype);
    out.println("roofs: " + (o.remeasureRoofs() || o.roofCache() == null ? "measuring" : "from " + o.roofCache()
        + " if measured before on this machine, else measuring") + " ...");
    String key = RunInfo.roofKey(device, o.threads()) + " | gemm " + o.roofGemmSize() + " | add " + o.roofVectorSize();
    Roofs roofs = Roofs.get(device, key, o.roofCache(), o.remeasureRoofs(), o.roofGemmSize(), o.roofVectorSize());
    out.printf(Locale.ROOT, "roofs%s: GEMM %.1f GFLOP/s (%s), memory %.1f GB/s (%s)%n", roofs.cached() ? " (cached)" : "",
        roofs.gflops(), roofs.gemmShape(), roofs.gbps(), roofs.copyShape());

    TorchRunner torch = null;
    if (o.withTorch()) {
      torch = new File(o.torchScript()).isFile() ? TorchRunner.start(o.python(), o.torchScript()) : null;
      if (torch == null) out.println("(PyTorch column empty: " + o.python() + " with " + o.torchScript() + " not usable)");
      else out.println("PyTorch " + torch.version() + " via " + o.python() + ", each case timed right after plugkit's");
    }
    out.println();
    Table table = new Table(out, torch != null);
    table.header();
    List<Results.Row> rows = new ArrayList<>();
    int total = cases.size() * Harness.Mode.values().length;
    try {
      for (BenchCase c : cases) {
        for (Harness.Mode m : Harness.Mode.values()) {
          String mode = m.name().toLowerCase(Locale.ROOT);
          Harness.Timing ours = Harness.time(c, device, m, o.warmup(), o.repeats());
          Harness.Timing theirs = torch == null ? null : torch.time(String.format(Locale.ROOT,
              "{\"id\":\"%s/%s\",\"op\":\"%s\",\"args\":%s,\"mode\":\"%s\",\"device\":\"%s\",\"threads\":%d,\"warmup\":%d,\"repeats\":%d}",
              c.id(), mode, c.op(), c.argsJson(), mode, device.isCuda() ? "cuda" : "cpu", o.threads(), o.warmup(), o.repeats()));
          Results.Row row = new Results.Row(c.id(), c.op(), mode, c.bound().name().toLowerCase(Locale.ROOT), c.flops(m),
              c.bytes(m), ours, theirs, roofs.gflops(), roofs.gbps());
          rows.add(row);
          table.row(rows.size(), total, row);
        }
      }
    } finally {
      if (torch != null) torch.close();
    }
    table.footer(rows);
    Results results = new Results(RunInfo.capture(device, o.threads(), o.warmup(), o.repeats(), roofs,
        torch == null ? null : torch.version()), rows);
    if (o.out() != null) write(results, o.out(), out);
    if (cases.stream().anyMatch(c -> c.op().equals("non_local"))) {
      out.println();
      NonLocalCases.memoryReport(device).forEach(out::println);
    }
    return results;
  }

  private static void write(Results results, Path dir, PrintStream out) throws IOException {
    Files.createDirectories(dir);
    Path json = dir.resolve("bench.json");
    Path csv = dir.resolve("bench.csv");
    Path png = dir.resolve("bench.png");
    Path md = dir.resolve("bench.md");
    results.writeJson(json);
    results.writeCsv(csv);
    Files.writeString(md, markdown(results));
    Map<String, Object> run = results.run();
    String commit = String.valueOf(run.get("commit"));
    try {
      Chart.write(results, String.format(Locale.ROOT, "plugkit %s, %s threads, %s (%s)", run.get("device"), run.get("threads"),
          run.get("cpu"), commit.substring(0, Math.min(12, commit.length()))), png);
    } catch (LinkageError e) {
      // The GPU bundle's trimmed runtime has neither java.desktop nor JFreeChart: the files without the chart.
      out.println("chart skipped (" + e + "): JFreeChart and the java.desktop module are needed for it");
      png = null;
    }
    out.println();
    out.println("wrote " + json + ", " + csv + (png == null ? "" : ", " + png) + ", " + md);
  }

  /** The run as docs/benchmarks.md shows it: where and how it was measured, the roofs, the table. */
  static String markdown(Results results) {
    Map<String, Object> run = results.run();
    var buf = new java.io.ByteArrayOutputStream();
    try (PrintStream p = new PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8)) {
      p.printf(Locale.ROOT, "- Machine: %s, %s cores; device %s, %s threads, %s; %s%n", run.get("cpu"), run.get("cores"),
          run.get("device"), run.get("threads"), run.get("dtype"), run.get("libraries"));
      if (run.get("openblas_coretype") != null) {
        p.printf(Locale.ROOT, "- OPENBLAS_CORETYPE=%s was set: OpenBLAS ran that core's kernels, not its own pick for this CPU%n",
            run.get("openblas_coretype"));
      }
      p.printf(Locale.ROOT, "- %s; commit %s; %s; %s warm-up (and 2 s, and a quiet JIT) + %s timed runs%s%n", run.get("jdk"), run.get("commit"),
          run.get("date"), run.get("warmup"), run.get("repeats"), run.get("torch") == null ? "" : "; PyTorch " + run.get("torch"));
      if (run.get("roofs") instanceof Map<?, ?> r) {
        p.printf(Locale.ROOT, "- Roofs: GEMM %.1f GFLOP/s (%s), memory %.1f GB/s (%s)%n", (Double) r.get("gflops"),
            r.get("gemm"), (Double) r.get("gbps"), r.get("copy"));
      }
      p.println();
      boolean torch = results.rows().stream().anyMatch(row -> row.torch() != null);
      Table t = new Table(p, torch);
      t.header();
      for (int i = 0; i < results.rows().size(); i++) t.row(i + 1, results.rows().size(), results.rows().get(i));
      t.footer(results.rows());
    }
    return buf.toString(java.nio.charset.StandardCharsets.UTF_8);
  }
}
