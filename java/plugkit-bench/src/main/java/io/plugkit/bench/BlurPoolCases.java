package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.BlurPool;
import io.plugkit.ops.BlurPool.PadType;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * blur_pool and max_blur_pool (reflect, filtSize 4, stride 2: antialiased-cnns' defaults) at a
 * ResNet stage-1 shape; mirrored in tools/bench/torch_bench_blur.py, where PyTorch runs the
 * composed ops (F.pad + depthwise F.conv2d, after F.max_pool2d(2, 1) for max_blur_pool).
 */
public final class BlurPoolCases {
  private BlurPoolCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int[] s : new int[][] {{1, 64, 56, 56}, {16, 64, 112, 112}}) {
      for (boolean maxFirst : new boolean[] {false, true}) {
        int n = s[0];
        int c = s[1];
        int h = s[2];
        int w = s[3];
        String op = maxFirst ? "max_blur_pool" : "blur_pool";
        String args = String.format(Locale.ROOT,
            "{\"x\":[%d,%d,%d,%d],\"filt_size\":4,\"stride\":2,\"pad_type\":\"reflect\",\"max_first\":%b}",
            n, c, h, w, maxFirst);
        cases.add(new BenchCase(String.format(Locale.ROOT, "%s reflect k4 s2 %dx%dx%dx%d", op, n, c, h, w), op, args, d -> {
          Tensor x = input(d, 1, n, c, h, w);
          return new BenchCase.Workload(() -> maxFirst ? BlurPool.maxBlurPool(x, 4, 2, PadType.REFLECT, 0)
              : BlurPool.blurPool(x, 4, 2, PadType.REFLECT, 0), List.of(x));
        }).withCost(cost(s, maxFirst)));
      }
    }
    return cases;
  }

  /**
   * A 4x4 depthwise filter at stride 2 (output H/2 x W/2): 2 x 16 per output element, again in the
   * backward. max_blur_pool first takes a 2x2 stride-1 max ((H-1) x (W-1) map, 3 compares each,
   * plus one scatter add per element in the backward).
   */
  static Cost cost(int[] s, boolean maxFirst) {
    double y = n(s[0], s[1], s[2] / 2, s[3] / 2);
    double m = maxFirst ? n(s[0], s[1], s[2] - 1, s[3] - 1) : 0;
    return Cost.memory(32 * y + 3 * m, 64 * y + 4 * m, n(s), y);
  }
}
