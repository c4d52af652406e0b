package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

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
      }));
    }
    return cases;
  }
}
