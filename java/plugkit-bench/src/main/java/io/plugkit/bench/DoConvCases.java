package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.Conv2d;
import io.plugkit.nn.DoConv2d;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * DO-Conv 3x3 (D_mul = 9, padding 1) as DO-Conv (groups 1) and DO-DConv (depthwise), each as the
 * training-time module (the kernel composed from W, D and d_diag on every forward, then conv2d)
 * and folded ({@link DoConv2d#fold()}: one plain conv2d); mirrored in tools/bench/torch_bench_doconv.py
 * (PyTorch runs yangyanli/DO-Conv's DOConv2d, re-implemented, and nn.Conv2d for the folded rows).
 */
public final class DoConvCases {
  // N, C (in = out), H, W, groups
  private static final int[][] SHAPES = {{8, 64, 28, 28, 1}, {8, 64, 28, 28, 64}};

  private DoConvCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int[] s : SHAPES) {
      for (boolean folded : new boolean[] {false, true}) {
        String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"out\":%d,\"kernel\":3,\"d_mul\":9,\"padding\":1,"
            + "\"groups\":%d,\"folded\":%b}", s[0], s[1], s[2], s[3], s[1], s[4], folded);
        String id = String.format(Locale.ROOT, "do_conv2d 3x3 %s%s %dx%dx%dx%d", s[4] == 1 ? "" : "depthwise ",
            folded ? "folded" : "train", s[0], s[1], s[2], s[3]);
        cases.add(new BenchCase(id, "do_conv2d", args, d -> {
          DoConv2d conv = new DoConv2d(s[1], s[1], 3, 3, 9, s[4], true, d).padding(1);
          Tensor x = input(d, 1, s[0], s[1], s[2], s[3]);
          List<Tensor> leaves = new ArrayList<>();
          leaves.add(x);
          if (folded) {
            Conv2d plain = conv.fold();
            leaves.addAll(plain.parameters());
            return new BenchCase.Workload(() -> plain.forward(x), leaves);
          }
          leaves.addAll(conv.parameters());
          return new BenchCase.Workload(() -> conv.forward(x), leaves);
        }).withCost(cost(s, folded)));
      }
    }
    return cases;
  }

  /**
   * The 3x3 conv: 2 N C H W (C / groups) 9. The training-time module also composes its kernel,
   * K = (D + d_diag)^T W: 2 x C x (C / groups) x 9 x 9 (D_mul = 9). Parameters: W (C x C/groups x 9),
   * D (C x 81, training module only), bias C. Forward + backward 3x. Groups 1
   * is bound by the GEMM roof; depthwise (about 2 FLOPs per byte) by the memory roof.
   */
  static Cost cost(int[] s, boolean folded) {
    int perGroup = s[1] / s[4];
    double conv = 2 * n(s[0], s[1], s[2], s[3], perGroup, 9);
    double compose = folded ? 0 : 2 * n(s[1], perGroup, 9, 9);
    double params = n(s[1], perGroup, 9) + (folded ? 0 : n(s[1], 81)) + s[1];
    double x = n(s[0], s[1], s[2], s[3]);
    return s[4] == 1 ? Cost.compute(conv + compose, 3 * (conv + compose), x + params, x)
        : Cost.memory(conv + compose, 3 * (conv + compose), x + params, x);
  }
}
