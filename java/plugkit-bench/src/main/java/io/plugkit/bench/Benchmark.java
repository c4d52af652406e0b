package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.driver.Drivers;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code bench [--device cpu|cuda] [--threads N] [--warmup N] [--repeats N] [--filter TEXT]
 * [--exclude TEXT] [--python PATH] [--torch-script PATH]}: times the core ops on one device and, in the same run,
 * PyTorch on the same device and thread count, and prints the ratio.
 */
public final class Benchmark {
  private Benchmark() {}

  public static void main(String[] args) {
    Device device = Device.best();
    int threads = Runtime.getRuntime().availableProcessors();
    int warmup = 3;
    int repeats = 10;
    String filter = "";
    String exclude = null;
    String python = "/usr/bin/python3";
    String script = "tools/bench/torch_bench.py";
    for (int i = 0; i < args.length; i++) {
      String v = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--device" -> { device = "cuda".equals(v) ? Device.cuda(0) : Device.cpu(); i++; }
        case "--threads" -> { threads = Integer.parseInt(v); i++; }
        case "--warmup" -> { warmup = Integer.parseInt(v); i++; }
        case "--repeats" -> { repeats = Integer.parseInt(v); i++; }
        case "--filter" -> { filter = v; i++; }
        case "--exclude" -> { exclude = v; i++; }
        case "--python" -> { python = v; i++; }
        case "--torch-script" -> { script = v; i++; }
        default -> throw new IllegalArgumentException("bench: unknown option " + args[i]);
      }
    }
    CpuDriver.instance().setThreads(threads);
    List<BenchCase> cases = new ArrayList<>();
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
    for (BenchCase c : all) {
      if (c.id().contains(filter) && (exclude == null || !c.id().contains(exclude))) cases.add(c);
    }

    System.out.printf("plugkit benchmark: device %s (%s), F32, %d threads, %d warm-up + %d timed runs, median%n",
        device, Drivers.of(device).describe(), threads, warmup, repeats);
    TorchRunner torch = new File(script).isFile() ? TorchRunner.start(python, script) : null;
    if (torch == null) System.out.println("(PyTorch column empty: " + python + " with " + script + " not usable)");
    else System.out.println("PyTorch " + torch.version() + " via " + python + ", each case timed right after plugkit's");
    System.out.println();
    System.out.println("| case | mode | plugkit ms | PyTorch ms | PyTorch / plugkit |");
    System.out.println("|---|---|---:|---:|---:|");
    for (BenchCase c : cases) {
      for (Harness.Mode m : Harness.Mode.values()) {
        String mode = m.name().toLowerCase(Locale.ROOT);
        Harness.Timing ours = Harness.time(c, device, m, warmup, repeats);
        Harness.Timing theirs = torch == null ? null : torch.time(String.format(Locale.ROOT,
            "{\"id\":\"%s/%s\",\"op\":\"%s\",\"args\":%s,\"mode\":\"%s\",\"device\":\"%s\",\"threads\":%d,\"warmup\":%d,\"repeats\":%d}",
            c.id(), mode, c.op(), c.argsJson(), mode, device.isCuda() ? "cuda" : "cpu", threads, warmup, repeats));
        System.out.printf(Locale.ROOT, "| %s | %s | %.3f | %s | %s |%n", c.id(), mode, ours.medianMs(),
            theirs == null ? "-" : String.format(Locale.ROOT, "%.3f", theirs.medianMs()),
            theirs == null ? "-" : String.format(Locale.ROOT, "%.2fx", theirs.medianMs() / ours.medianMs()));
      }
    }
    if (torch != null) torch.close();
    if (cases.stream().anyMatch(c -> c.op().equals("non_local"))) {
      System.out.println();
      NonLocalCases.memoryReport(device).forEach(System.out::println);
    }
  }
}
