package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.Interpolate;
import io.plugkit.ops.InterpolateOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * interpolate by size: nearest-exact, bicubic (align_corners both ways) and bilinear (for
 * reference) upsampling 8x64x28x28 to 56x56; area downsampling 8x64x56x56 to 28x28. Mirrored in
 * tools/bench/torch_bench_pad_interp.py as F.interpolate.
 */
public final class InterpolateCases {
  private InterpolateCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    cases.add(of(Interpolate.Mode.NEAREST_EXACT, "nearest-exact", null, 28, 56));
    cases.add(of(Interpolate.Mode.BICUBIC, "bicubic", false, 28, 56));
    cases.add(of(Interpolate.Mode.BICUBIC, "bicubic", true, 28, 56));
    cases.add(of(Interpolate.Mode.BILINEAR, "bilinear", false, 28, 56));
    cases.add(of(Interpolate.Mode.AREA, "area", null, 56, 28));
    return cases;
  }

  /** {@code alignCorners} null: a mode without the option (PyTorch's align_corners=None). */
  private static BenchCase of(Interpolate.Mode mode, String name, Boolean alignCorners, int in, int out) {
    int n = 8;
    int c = 64;
    String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"size\":[%d,%d],\"mode\":\"%s\",\"align_corners\":%s}",
        n, c, in, in, out, out, name, alignCorners == null ? "null" : alignCorners.toString());
    String id = String.format(Locale.ROOT, "interpolate %s%s %dx%dx%dx%d ->%dx%d", name,
        alignCorners == null ? "" : alignCorners ? " ac=T" : " ac=F", n, c, in, in, out, out);
    InterpolateOptions options = InterpolateOptions.size(out, out).mode(mode);
    if (alignCorners != null) options = options.alignCorners(alignCorners);
    InterpolateOptions o = options;
    return new BenchCase(id, "interpolate_modes", args, d -> {
      Tensor x = input(d, 1, n, c, in, in);
      return new BenchCase.Workload(() -> Interpolate.interpolate(x, o), List.of(x));
    }).withCost(cost(mode, n, c, in, out));
  }

  /**
   * Per output element, forward and forward + backward (the backward scatters each tap's weighted
   * dy into dx): nearest-exact 0 (an indexed copy) and |y| (one add per output); bilinear 8 and 16
   * (4 taps x multiply-add, the core bilinear row); bicubic 32 and 64 (16 taps); area, whose
   * windows here are exact s x s blocks (s = in / out), s^2 and s^2 + |x| / |y| (the avg_pool2d
   * rule). Memory bound; bytes: x in, y out.
   */
  static Cost cost(Interpolate.Mode mode, int n, int c, int in, int out) {
    double x = n(n, c, in, in);
    double y = n(n, c, out, out);
    return switch (mode) {
      case NEAREST, NEAREST_EXACT -> Cost.memory(0, y, x, y);
      case BILINEAR -> Cost.memory(8 * y, 16 * y, x, y);
      case BICUBIC -> Cost.memory(32 * y, 64 * y, x, y);
      case AREA -> {
        if (in % out != 0) throw new IllegalArgumentException("area: expected in a multiple of out but got " + in + " -> " + out);
        double s2 = n(in / out, in / out);
        yield Cost.memory(s2 * y, s2 * y + x, x, y);
      }
      default -> throw new IllegalArgumentException("mode: no formula for " + mode);
    };
  }
}
