package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.DeformConv;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * deform_conv2d v2 (with mask and bias) at ResNet stage shapes: N 1 and 8, C 64 and 256 (Cin = Cout),
 * 56x56 and 28x28, 3x3 kernel, stride 1, padding 1, one offset group. Mirrored by
 * tools/bench/torch_bench_dcn.py (torchvision.ops.deform_conv2d).
 */
public final class DeformConvCases {
  private static final int[] ONE = {1};

  private DeformConvCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int n : new int[] {1, 8}) {
      for (int c : new int[] {64, 256}) {
        for (int size : new int[] {56, 28}) cases.add(v2(n, c, size));
      }
    }
    return cases;
  }

  private static BenchCase v2(int n, int c, int size) {
    String id = String.format(Locale.ROOT, "deform_conv2d v2 %dx%dx%dx%d k3 p1", n, c, size, size);
    String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"w\":[%d,%d,3,3],\"offset\":[%d,18,%d,%d],"
        + "\"mask\":[%d,9,%d,%d],\"stride\":1,\"padding\":1,\"dilation\":1}", n, c, size, size, c, c, n, size, size, n,
        size, size);
    return new BenchCase(id, "deform_conv2d", args, d -> {
      Tensor x = input(d, 1, n, c, size, size);
      Tensor w = input(d, 2, c, c, 3, 3);
      Tensor b = input(d, 3, c);
      Tensor offset = input(d, 4, n, 18, size, size);
      Tensor mask = input(d, 5, n, 9, size, size);
      return new BenchCase.Workload(() -> DeformConv.deformConv2d(x, offset, w, b, mask, ONE, ONE, ONE),
          List.of(x, offset, w, b, mask));
    }).withCost(cost(n, c, size));
  }

  /**
   * GEMM G = 2 N Cout Ho Wo (Cin 9) and bilinear sampling S = 8 N Cin 9 Ho Wo (4 taps x multiply + add
   * per sampled column entry; the mask multiply folds into the tap weights). Forward G + S; forward +
   * backward 3 G (dcols and dW GEMMs) + 3 S (sampling, col2im scatter into dx, offset/mask gradients).
   */
  static Cost cost(int n, int c, int size) {
    double g = 2 * n(n, c, size, size, c, 9);
    double s = 8 * n(n, c, 9, size, size);
    double in = n(n, c, size, size) + n(n, 18, size, size) + n(n, 9, size, size) + n(c, c, 3, 3) + c;
    return Cost.compute(g + s, 3 * g + 3 * s, in, n(n, c, size, size));
  }
}
