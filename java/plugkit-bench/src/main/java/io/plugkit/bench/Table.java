package io.plugkit.bench;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/**
 * The terminal table, a Markdown table printed row by row as the cases finish (the progress count in
 * the first column), so it can be pasted into docs/benchmarks.md as it stands.
 */
final class Table {
  private final PrintStream out;
  private final boolean torch;

  Table(PrintStream out, boolean torch) {
    this.out = out;
    this.torch = torch;
  }

  void header() {
    out.println("| # | case | mode | bound | median ms | min-max ms | spread | GFLOP/s | GB/s | of roof"
        + (torch ? " | PyTorch ms | PyTorch / plugkit |" : " |"));
    out.println("|---:|---|---|---|---:|---:|---:|---:|---:|---:" + (torch ? "|---:|---:|" : "|"));
  }

  void row(int index, int total, Results.Row r) {
    var t = r.ours();
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "| %d/%d | %s | %s | %s | %.3f | %.3f-%.3f | %s | %s | %s | %s |", index, total,
        r.id(), r.mode(), r.bound(), t.medianMs(), t.minMs(), t.maxMs(),
        String.format(Locale.ROOT, "%.0f%%", 100 * t.spread()) + (r.noisy() ? " !" : ""),
        fmt("%.1f", r.gflops()), fmt("%.1f", r.gbps()), fmt("%.0f%%", 100 * r.fractionOfRoof())));
    if (torch) {
      sb.append(r.torch() == null ? " - | - |" : String.format(Locale.ROOT, " %.3f | %.2fx |", r.torch().medianMs(), r.torchRatio()));
    }
    out.println(sb);
    out.flush();
  }

  void footer(List<Results.Row> rows) {
    long noisy = rows.stream().filter(Results.Row::noisy).count();
    out.println();
    out.printf(Locale.ROOT, "spread = (max - min) / median of the timed runs; ! marks %d of %d rows above %.0f%% (noisy)."
        + " of roof: the median's GFLOP/s over the GEMM roof (bound compute) or GB/s over the memory roof (bound memory).%n",
        noisy, rows.size(), 100 * Results.NOISY);
    // Past the GEMM roof cannot happen: the roof was measured while other work held the cores.
    if (rows.stream().anyMatch(r -> r.bound().equals("compute") && r.fractionOfRoof() > 1)) {
      out.println("A compute-bound case passed 100% of the GEMM roof: the roof was measured under load."
          + " Run with --remeasure-roofs on a quiet machine (the cache keeps the highest measurement).");
    }
  }

  private static String fmt(String f, double v) { return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, f, v); }
}
