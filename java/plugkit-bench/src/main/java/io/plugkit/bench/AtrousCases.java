package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

import io.plugkit.Tensor;
import io.plugkit.ops.AtrousConv;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * atrous_conv2d (3x3, padding = rate) at DeepLab's rates 12 and 24 on a 33x33 map (output stride
 * 16 of a 513 crop), and multiRate with ASPP's branches (1x1 + rates 6, 12, 18); mirrored in
 * tools/bench/torch_bench_atrous.py, where PyTorch runs F.conv2d with dilation (and torch.cat).
 * Useful FLOPs (padding taps excluded), for GFLOP/s: {@link #usefulFlops}.
 */
public final class AtrousCases {
  private AtrousCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int n : new int[] {1, 8}) {
      for (int rate : new int[] {12, 24}) {
        int c = 256;
        String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,33,33],\"w\":[%d,%d,3,3],\"rate\":%d}", n, c, c, c, rate);
        cases.add(new BenchCase(String.format(Locale.ROOT, "atrous_conv2d r%d %dx%dx33x33 -> %d 3x3", rate, n, c, c),
            "atrous_conv2d", args, d -> {
              Tensor x = input(d, 1, n, c, 33, 33);
              Tensor w = input(d, 2, c, c, 3, 3);
              Tensor b = input(d, 3, c);
              return new BenchCase.Workload(() -> AtrousConv.conv2d(x, w, b, rate), List.of(x, w, b));
            }));
      }
    }
    int c = 256;
    int[] rates = {1, 6, 12, 18};
    String args = String.format(Locale.ROOT, "{\"x\":[1,%d,33,33],\"cout\":%d,\"rates\":[6,12,18]}", c, c);
    cases.add(new BenchCase("atrous_multi_rate 1x256x33x33 1x1+r6/12/18 -> 4x256", "atrous_multi_rate", args, d -> {
      Tensor x = input(d, 1, 1, c, 33, 33);
      Tensor[] w = {input(d, 2, c, c, 1, 1), input(d, 3, c, c, 3, 3), input(d, 4, c, c, 3, 3), input(d, 5, c, c, 3, 3)};
      return new BenchCase.Workload(() -> AtrousConv.multiRate(x, w, null, rates), List.of(x, w[0], w[1], w[2], w[3]));
    }));
    return cases;
  }

  /** Useful forward FLOPs (2 per multiply-add) of a 3x3 conv, padding = rate, on an h x w map. */
  public static long usefulFlops(int n, int cin, int cout, int h, int w, int rate) {
    long taps = 0;
    for (int ky = -1; ky <= 1; ky++) {
      for (int kx = -1; kx <= 1; kx++) {
        taps += (long) Math.max(0, h - Math.abs(ky * rate)) * Math.max(0, w - Math.abs(kx * rate));
      }
    }
    return 2L * n * cin * cout * taps;
  }
}
