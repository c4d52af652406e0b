package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.AtrousConv;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * atrous_conv2d (3x3, padding = rate) at DeepLab's rates 12 and 24 on a 33x33 map (output stride
 * 16 of a 513 crop), and multiRate with ASPP's branches (1x1 + rates 6, 12, 18); mirrored in
 * tools/bench/torch_bench_atrous.py, where PyTorch runs F.conv2d with dilation (and torch.cat).
 * Useful FLOPs count only the taps inside the input ({@link #validTaps}); compute bound.
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
            }).withCost(conv2dCost(n, c, c, 33, 33, rate)));
      }
    }
    int c = 256;
    int[] rates = {1, 6, 12, 18};
    String args = String.format(Locale.ROOT, "{\"x\":[1,%d,33,33],\"cout\":%d,\"rates\":[6,12,18]}", c, c);
    cases.add(new BenchCase("atrous_multi_rate 1x256x33x33 1x1+r6/12/18 -> 4x256", "atrous_multi_rate", args, d -> {
      Tensor x = input(d, 1, 1, c, 33, 33);
      Tensor[] w = {input(d, 2, c, c, 1, 1), input(d, 3, c, c, 3, 3), input(d, 4, c, c, 3, 3), input(d, 5, c, c, 3, 3)};
      return new BenchCase.Workload(() -> AtrousConv.multiRate(x, w, null, rates), List.of(x, w[0], w[1], w[2], w[3]));
    }).withCost(multiRateCost(1, c, c, 33, 33, new int[] {1, 3, 3, 3}, rates)));
    return cases;
  }

  /**
   * The (output pixel, tap) pairs of a 3x3 conv with dilation and padding = rate, stride 1, on an
   * h x w map, whose tap lands inside the input (the output is h x w): {@link #validTaps(int, int, int, int)}
   * with k = 3.
   */
  public static long validTaps(int h, int w, int rate) { return validTaps(h, w, 3, rate); }

  /**
   * The same for an odd k x k kernel, padding rate (k - 1) / 2. Along one axis the tap at offset
   * j rate (|j| <= (k - 1) / 2) reads a valid row for size - |j| rate outputs (none once |j| rate
   * >= size); rows and columns are independent, so the count is the product of the axes' sums.
   */
  public static long validTaps(int h, int w, int k, int rate) {
    if (k <= 0 || k % 2 == 0) throw new IllegalArgumentException("k: expected an odd size >= 1 but got " + k);
    if (rate <= 0) throw new IllegalArgumentException("rate: expected >= 1 but got " + rate);
    return axisTaps(h, k, rate) * axisTaps(w, k, rate);
  }

  private static long axisTaps(int size, int k, int rate) {
    long t = 0;
    for (int j = -(k / 2); j <= k / 2; j++) t += Math.max(0, size - (long) Math.abs(j) * rate);
    return t;
  }

  /** Useful forward FLOPs (2 per multiply-add, padding taps excluded, bias not counted) of a 3x3 conv, padding = rate. */
  public static long usefulFlops(int n, int cin, int cout, int h, int w, int rate) {
    return 2L * n * cin * cout * validTaps(h, w, rate);
  }

  /**
   * atrous_conv2d: compute bound; the backward's data and weight GEMMs skip the same padding taps
   * (3x the forward, the conv2d rule). Bytes: x, w, b in; y out.
   */
  static Cost conv2dCost(int n, int cin, int cout, int h, int w, int rate) {
    double f = usefulFlops(n, cin, cout, h, w, rate);
    return Cost.compute(f, 3 * f, n(n, cin, h, w) + n(cout, cin, 3, 3) + cout, n(n, cout, h, w));
  }

  /**
   * multiRate without bias, branch i a kernels[i] x kernels[i] conv at rates[i] (a 1x1 has no
   * padding taps): 2 n cin cout valid taps per branch, 3x with the backward. Bytes: x and every
   * weight in; the concatenated kernels.length x cout output out.
   */
  static Cost multiRateCost(int n, int cin, int cout, int h, int w, int[] kernels, int[] rates) {
    double f = 0;
    double weights = 0;
    for (int i = 0; i < rates.length; i++) {
      f += 2.0 * n * cin * cout * validTaps(h, w, kernels[i], rates[i]);
      weights += n(cout, cin, kernels[i], kernels[i]);
    }
    return Cost.compute(f, 3 * f, n(n, cin, h, w) + weights, n(n, rates.length * cout, h, w));
  }
}
