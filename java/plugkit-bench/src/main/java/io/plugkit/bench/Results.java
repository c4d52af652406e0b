package io.plugkit.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** One run's results: what {@code bench --out} writes (JSON and CSV) and {@code compare} reads. */
public record Results(Map<String, Object> run, List<Row> rows) {

  /** A case's repeats vary by more than this ((max - min) / median) are flagged as noisy. */
  public static final double NOISY = 0.10;

  /** One case in one mode. {@code torch} is null when PyTorch did not run it. */
  public record Row(String id, String op, String mode, String bound, double flops, double bytes, Harness.Timing ours,
      Harness.Timing torch, double roofGflops, double roofGbps) {

    public double gflops() { return flops / (ours.medianMs() * 1e6); }

    public double gbps() { return bytes / (ours.medianMs() * 1e6); }

    /** The median's fraction of the case's roof (GEMM roof if compute-bound, memory roof if memory-bound); NaN if unknown. */
    public double fractionOfRoof() {
      return switch (bound) {
        case "compute" -> gflops() / roofGflops;
        case "memory" -> gbps() / roofGbps;
        default -> Double.NaN;
      };
    }

    public boolean noisy() { return ours.spread() > NOISY; }

    /** PyTorch's median over plugkit's: above 1 means plugkit is faster; NaN without PyTorch. */
    public double torchRatio() { return torch == null ? Double.NaN : torch.medianMs() / ours.medianMs(); }

    public String key() { return id + " / " + mode; }
  }

  public Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("run", run);
    List<Object> cases = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("id", r.id);
      c.put("op", r.op);
      c.put("mode", r.mode);
      c.put("bound", r.bound);
      c.put("flops", r.flops);
      c.put("bytes", r.bytes);
      c.put("median_ms", r.ours.medianMs());
      c.put("min_ms", r.ours.minMs());
      c.put("max_ms", r.ours.maxMs());
      c.put("spread", r.ours.spread());
      c.put("iqr_spread", r.ours.iqrSpread());
      c.put("noisy", r.noisy());
      c.put("gflops", r.gflops());
      c.put("gbps", r.gbps());
      c.put("fraction_of_roof", r.fractionOfRoof());
      c.put("samples_ms", r.ours.samplesMs());
      if (r.torch != null) {
        c.put("torch_median_ms", r.torch.medianMs());
        c.put("torch_min_ms", r.torch.minMs());
        c.put("torch_max_ms", r.torch.maxMs());
        c.put("torch_over_plugkit", r.torchRatio());
      }
      cases.add(c);
    }
    m.put("cases", cases);
    return m;
  }

  public void writeJson(Path file) throws IOException {
    Files.writeString(file, Json.write(toJson()) + "\n");
  }

  /** The run's description, repeated on every line so that each line stands alone. */
  private static final List<String> RUN_COLUMNS = List.of("device", "threads", "cpu", "cores", "jdk", "libraries", "commit",
      "date", "openblas_coretype");

  public static final String CSV_HEADER = "id,op,mode,bound,flops,bytes,median_ms,min_ms,max_ms,spread,noisy,gflops,gbps,"
      + "fraction_of_roof,torch_median_ms,torch_over_plugkit," + String.join(",", RUN_COLUMNS);

  /** One line per case and mode. */
  public void writeCsv(Path file) throws IOException {
    StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
    StringBuilder runCells = new StringBuilder();
    for (String k : RUN_COLUMNS) {
      Object v = run.get(k);
      runCells.append(',').append(v == null ? "" : v instanceof Number n ? String.valueOf(n.longValue()) : csv(String.valueOf(v)));
    }
    for (Row r : rows) {
      sb.append(csv(r.id)).append(',').append(r.op).append(',').append(r.mode).append(',').append(r.bound);
      for (double v : new double[] {r.flops, r.bytes, r.ours.medianMs(), r.ours.minMs(), r.ours.maxMs(), r.ours.spread()}) {
        sb.append(',').append(num(v));
      }
      sb.append(',').append(r.noisy());
      for (double v : new double[] {r.gflops(), r.gbps(), r.fractionOfRoof(),
          r.torch == null ? Double.NaN : r.torch.medianMs(), r.torchRatio()}) {
        sb.append(',').append(num(v));
      }
      sb.append(runCells).append('\n');
    }
    Files.writeString(file, sb);
  }

  private static String num(double v) { return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6g", v); }

  private static String csv(String s) { return "\"" + s.replace("\"", "\"\"") + "\""; }

  /** Reads a file {@link #writeJson} wrote. */
  public static Results read(Path file) throws IOException {
    Object root = Json.parse(Files.readString(file));
    if (!(root instanceof Map<?, ?> m) || !(m.get("cases") instanceof List<?> cases)) {
      throw new IOException(file + ": not a plugkit bench result (no \"cases\" array)");
    }
    Map<String, Object> run = new LinkedHashMap<>();
    if (m.get("run") instanceof Map<?, ?> r) r.forEach((k, v) -> run.put(String.valueOf(k), v));
    double roofF = run.get("roofs") instanceof Map<?, ?> roofs ? d(roofs.get("gflops")) : Double.NaN;
    double roofB = run.get("roofs") instanceof Map<?, ?> roofs ? d(roofs.get("gbps")) : Double.NaN;
    List<Row> rows = new ArrayList<>();
    for (Object o : cases) {
      Map<?, ?> c = (Map<?, ?>) o;
      Harness.Timing ours = c.get("samples_ms") instanceof List<?> l && !l.isEmpty() ? Harness.Timing.of(doubles(l))
          : new Harness.Timing(d(c.get("median_ms")), d(c.get("min_ms")), d(c.get("max_ms")), new double[0]);
      Harness.Timing torch = c.get("torch_median_ms") == null ? null
          : new Harness.Timing(d(c.get("torch_median_ms")), d(c.get("torch_min_ms")), d(c.get("torch_max_ms")), new double[0]);
      rows.add(new Row(String.valueOf(c.get("id")), String.valueOf(c.get("op")), String.valueOf(c.get("mode")),
          String.valueOf(c.get("bound")), d(c.get("flops")), d(c.get("bytes")), ours, torch, roofF, roofB));
    }
    return new Results(run, rows);
  }

  private static double d(Object o) { return o instanceof Number n ? n.doubleValue() : Double.NaN; }

  private static double[] doubles(List<?> l) {
    double[] a = new double[l.size()];
    for (int i = 0; i < a.length; i++) a[i] = d(l.get(i));
    return a;
  }
}
