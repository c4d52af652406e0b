package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Device;
import io.plugkit.MemoryStats;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.nn.NonLocal2d;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Non-local blocks (embedded Gaussian, NONLocalBlock2D's defaults: inter = C/2, sub-sampling, BN
 * after W, training mode) at a CIFAR-sized and a ResNet-stage shape, on the fused attention path
 * and on the plain matmul-softmax-matmul path; mirrored in tools/bench/torch_bench_nonlocal.py
 * (PyTorch runs the reference implementation, i.e. the plain path). {@link #memoryReport} gives
 * the memory each path holds.
 */
public final class NonLocalCases {
  private static final int[][] SHAPES = {{1, 128, 32, 32}, {8, 256, 28, 28}};

  private NonLocalCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int[] s : SHAPES) {
      for (boolean fused : new boolean[] {true, false}) {
        String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"mode\":\"embedded_gaussian\",\"sub_sample\":true,"
            + "\"bn_layer\":true}", s[0], s[1], s[2], s[3]);
        cases.add(new BenchCase(id(s, fused), "non_local", args, d -> {
          NonLocal2d block = new NonLocal2d(s[1], NonLocal2d.Mode.EMBEDDED_GAUSSIAN, d).fused(fused);
          Tensor x = input(d, 1, s);
          List<Tensor> leaves = new ArrayList<>(block.parameters());
          leaves.add(x);
          return new BenchCase.Workload(() -> block.forward(x), leaves);
        }).withCost(cost(s)));
      }
    }
    return cases;
  }

  /**
   * Embedded Gaussian with inter = C/2 = Ci, P = H W positions, M = P/4 after the 2x2 max-pool: the
   * theta, phi, g 1x1 convs and W (4 x 2 N P C Ci), theta^T phi and attention x g (2 x 2 N P M Ci).
   * Softmax, pooling, BN and the residual are not counted. Forward + backward: 3x (two GEMMs per GEMM).
   */
  static Cost cost(int[] s) {
    double p = n(s[2], s[3]);
    double m = n(s[2] / 2, s[3] / 2);
    double ci = s[1] / 2;
    double g = 8 * s[0] * p * s[1] * ci + 4 * s[0] * p * m * ci;
    double params = 4 * s[1] * ci + 3 * ci + 3.0 * s[1];
    return Cost.compute(g, 3 * g, n(s) + params, n(s));
  }

  private static String id(int[] s, boolean fused) {
    return String.format(Locale.ROOT, "non_local embedded_gaussian %s %dx%dx%dx%d", fused ? "fused" : "plain", s[0], s[1], s[2], s[3]);
  }

  /**
   * One line per case and path, for the benchmark shapes and for a 1x64x64x64 block without
   * sub-sampling (N = M = 4096: one affinity matrix is 64 MiB): the bytes alive right after the
   * forward (everything training keeps until the backward; exact) and the peak during forward +
   * backward (exact, from {@link MemoryStats#peakBytes()}), both above what was alive before.
   */
  public static List<String> memoryReport(Device device) {
    List<String> lines = new ArrayList<>();
    int[][] shapes = {SHAPES[0], SHAPES[1], {1, 64, 64, 64}};
    for (int[] s : shapes) {
      boolean subSample = s != shapes[2];
      int positions = s[2] * s[3];
      long affinity = 4L * s[0] * positions * (subSample ? (s[2] / 2) * (s[3] / 2) : positions);
      for (boolean fused : new boolean[] {true, false}) {
        try (Scope setup = Scope.open()) {
          NonLocal2d block = new NonLocal2d(s[1], s[1] / 2, NonLocal2d.Mode.EMBEDDED_GAUSSIAN, subSample, true, device).fused(fused);
          Tensor x = input(device, 1, s);
          Tensor g = Tensor.uniform(device, 99, 0f, 1f, s);
          long base = MemoryStats.liveBytes();
          long[] afterForward = new long[1];
          long peak = peak(() -> {
            try (Scope step = Scope.open()) {
              Tensor z = block.forward(x);
              afterForward[0] = MemoryStats.liveBytes();
              z.backward(g);
            }
          });
          lines.add(String.format(Locale.ROOT, "%s%s fwdbwd: live after forward %.1f MiB, peak %.1f MiB"
              + " (one B x N x M affinity: %.1f MiB)", id(s, fused), subSample ? "" : " no sub-sampling",
              mib(afterForward[0] - base), mib(peak - base), mib(affinity)));
        }
      }
    }
    return lines;
  }

  private static double mib(long bytes) { return bytes / (1024.0 * 1024.0); }

  private static long peak(Runnable work) {
    MemoryStats.resetPeak();
    work.run();
    return MemoryStats.peakBytes();
  }
}
