package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.Padding;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * pad2d in each mode, 3 on every side, at a ResNet stage-1 shape (the padding a 7x7 conv or
 * blur needs); mirrored in tools/bench/torch_bench_pad_interp.py as F.pad.
 */
public final class PaddingCases {
  private PaddingCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    int n = 8;
    int c = 64;
    int h = 56;
    int w = 56;
    int p = 3;
    for (Padding.Mode mode : Padding.Mode.values()) {
      String name = mode.name().toLowerCase(Locale.ROOT);
      String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"pad\":[%d,%d,%d,%d],\"mode\":\"%s\"}",
          n, c, h, w, p, p, p, p, name);
      int[] pad = {p, p, p, p};
      cases.add(new BenchCase(String.format(Locale.ROOT, "pad2d %s %dx%dx%dx%d p%d", name, n, c, h, w, p), "pad2d", args, d -> {
        Tensor x = input(d, 1, n, c, h, w);
        return new BenchCase.Workload(() -> Padding.pad2d(x, pad, mode), List.of(x));
      }).withCost(cost(n, c, h, w, pad, mode)));
    }
    return cases;
  }

  /**
   * A copy: no forward FLOPs. The backward of constant padding is a crop (none); reflect, replicate
   * and circular add every dy value that reads an input value into its gradient, |y| values onto
   * |x| targets that each get at least one, so |y| - |x| adds. Memory bound; bytes: x in, y out
   * ({@code pad} is left, right, top, bottom).
   */
  static Cost cost(int n, int c, int h, int w, int[] pad, Padding.Mode mode) {
    double x = n(n, c, h, w);
    double y = n(n, c, h + pad[2] + pad[3], w + pad[0] + pad[1]);
    return Cost.memory(0, mode == Padding.Mode.CONSTANT ? 0 : y - x, x, y);
  }
}
