package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.nn.BatchNorm2d;
import io.plugkit.nn.Conv2d;
import io.plugkit.nn.Flatten;
import io.plugkit.nn.GlobalAvgPool2d;
import io.plugkit.nn.Linear;
import io.plugkit.nn.MaxPool2d;
import io.plugkit.nn.Module;
import io.plugkit.nn.ReLU;
import io.plugkit.ops.Losses;
import io.plugkit.optim.Sgd;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The main job, on the best device. Stage 1 trains a small CNN (conv-bn-relu-pool x2, global
 * pool, linear) to tell four kinds of generated 16x16 patterns apart, printing the loss as it
 * falls, a progress bar, the held-out accuracy and a table of per-op timings. Stage 2 trains a
 * spatial transformer to undo random affine distortions ({@link StnDemo}).
 */
public final class Demo {
  private static final int STEPS = 300;
  private static final int BATCH = 32;

  private Demo() {}

  public static void main(String[] args) {
    Device device = Device.best();
    Driver driver = Drivers.of(device);
    System.out.println("plugkit demo on " + device + ": " + driver.describe());
    System.out.printf("stage 1: classify %d-pixel patterns (stripes H/V, diagonals, rings) from generated data, batch %d, %d steps%n",
        PatternData.SIZE * PatternData.SIZE, BATCH, STEPS);
    Map<String, long[]> timings = new LinkedHashMap<>();
    try (Scope modelScope = Scope.open()) {
      List<Module> layers = List.of(
          new Conv2d(1, 8, 3).padding(1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
          new Conv2d(8, 16, 3).padding(1), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
          new GlobalAvgPool2d(), new Flatten(), new Linear(16, PatternData.CLASSES));
      List<Tensor> params = new ArrayList<>();
      for (Module m : layers) params.addAll(m.parameters());
      Sgd sgd = new Sgd(params, Sgd.Options.lr(0.05f).withMomentum(0.9f));
      PatternData data = new PatternData(7);
      long start = System.nanoTime();
      double first = Double.NaN;
      double running = 0;
      for (int step = 1; step <= STEPS; step++) {
        try (Scope s = Scope.open()) {
          PatternData.Batch b = data.batch(device, BATCH);
          Tensor x = b.images();
          for (Module m : layers) x = timed(timings, name(m), driver, x, m::forward);
          Tensor logits = x;
          Tensor loss = timed(timings, "cross_entropy", driver, logits, l -> Losses.crossEntropy(l, b.labels()));
          timed(timings, "backward (all ops)", driver, loss, l -> { l.backward(); return l; });
          timed(timings, "sgd step", driver, loss, l -> { sgd.step(); sgd.zeroGrad(); return l; });
          double v = loss.item();
          if (step == 1) first = v;
          running = step == 1 ? v : 0.9 * running + 0.1 * v;
          if (step % 10 == 0) progress(step, STEPS, running);
          if (step % 50 == 0) System.out.printf(Locale.ROOT, "%nstep %3d  loss %.4f%n", step, running);
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      double accuracy = evaluate(layers, data, device);
      System.out.printf(Locale.ROOT, "%nloss %.4f -> %.4f in %.1f s (%.1f steps/s); held-out accuracy %.1f%%%n",
          first, running, seconds, STEPS / seconds, 100 * accuracy);
      printTimings(timings);
    }
    StnDemo.run(device);
  }

  private static double evaluate(List<Module> layers, PatternData data, Device device) {
    for (Module m : layers) m.eval();
    int correct = 0;
    int total = 0;
    try (Scope s = Scope.open(); var off = GradMode.disable()) {
      for (int i = 0; i < 8; i++) {
        PatternData.Batch b = data.batch(device, BATCH);
        Tensor x = b.images();
        for (Module m : layers) x = m.forward(x);
        float[] logits = x.toArray();
        long[] labels = b.labels().toLongArray();
        for (int r = 0; r < labels.length; r++) {
          int best = 0;
          for (int c = 1; c < PatternData.CLASSES; c++) {
            if (logits[r * PatternData.CLASSES + c] > logits[r * PatternData.CLASSES + best]) best = c;
          }
          if (best == labels[r]) correct++;
          total++;
        }
      }
    }
    return (double) correct / total;
  }

  private static String name(Module m) {
    return switch (m.getClass().getSimpleName()) {
      case "Conv2d" -> "conv2d";
      case "BatchNorm2d" -> "batch_norm";
      case "ReLU" -> "relu";
      case "MaxPool2d" -> "max_pool2d";
      case "GlobalAvgPool2d" -> "global_avg_pool2d";
      case "Flatten" -> "reshape";
      case "Linear" -> "linear";
      default -> m.getClass().getSimpleName();
    };
  }

  /** Runs f and adds its time (device synchronized) to timings[op] = {nanos, calls}. */
  private static Tensor timed(Map<String, long[]> timings, String op, Driver driver, Tensor in,
      java.util.function.Function<Tensor, Tensor> f) {
    long t0 = System.nanoTime();
    Tensor out = f.apply(in);
    driver.synchronize();
    long[] t = timings.computeIfAbsent(op, k -> new long[2]);
    t[0] += System.nanoTime() - t0;
    t[1]++;
    return out;
  }

  static void progress(int step, int steps, double loss) {
    int width = 30;
    int done = step * width / steps;
    System.out.printf(Locale.ROOT, "\r[%s%s] %3d/%d  loss %.4f", "#".repeat(done), ".".repeat(width - done), step, steps, loss);
    System.out.flush();
  }

  private static void printTimings(Map<String, long[]> timings) {
    long total = 0;
    for (long[] t : timings.values()) total += t[0];
    System.out.println();
    System.out.println("| op | calls | total ms | per call ms | share |");
    System.out.println("|---|---:|---:|---:|---:|");
    for (var e : timings.entrySet()) {
      long[] t = e.getValue();
      System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.3f | %.1f%% |%n", e.getKey(), t[1], t[0] / 1e6,
          t[0] / 1e6 / t[1], 100.0 * t[0] / total);
    }
  }
}
