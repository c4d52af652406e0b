package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.GridSample;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * grid_sample (bilinear, zeros padding, align_corners false) at an STN-sized and a large shape,
 * the grid as large as the input; mirrored in tools/bench/torch_bench_grid.py. Inputs and grid
 * are uniform in [-1, 1), so most samples fall inside the input.
 */
public final class GridSampleCases {
  private GridSampleCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int[] s : new int[][] {{1, 64, 56, 56}, {16, 64, 112, 112}}) {
      int n = s[0];
      int c = s[1];
      int h = s[2];
      int w = s[3];
      String args = String.format(Locale.ROOT,
          "{\"x\":[%d,%d,%d,%d],\"grid\":[%d,%d,%d,2],\"mode\":\"bilinear\",\"padding_mode\":\"zeros\",\"align_corners\":false}",
          n, c, h, w, n, h, w);
      cases.add(new BenchCase(String.format(Locale.ROOT, "grid_sample bilinear zeros %dx%dx%dx%d", n, c, h, w), "grid_sample", args, d -> {
        Tensor x = input(d, 1, n, c, h, w);
        Tensor grid = input(d, 2, n, h, w, 2);
        return new BenchCase.Workload(
            () -> GridSample.gridSample(x, grid, GridSample.Mode.BILINEAR, GridSample.Padding.ZEROS, false), List.of(x, grid));
      }).withCost(cost(n, c, h, w)));
    }
    return cases;
  }

  /**
   * Output as large as the input: 4 taps x (multiply + add) per output element forward; the
   * backward scatters the same 4 taps into dx and reads them again for dgrid (16 per element).
   */
  static Cost cost(int n, int c, int h, int w) {
    double y = n(n, c, h, w);
    return Cost.memory(8 * y, 24 * y, n(n, c, h, w) + n(n, h, w, 2), y);
  }
}
