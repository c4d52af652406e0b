package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.nn.Asff;
import io.plugkit.ops.FeatureFusion;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * ASFF at YOLOv3's level-1 geometry (levels 512/256/256 channels at 13/26/52 maps): the fused
 * softmax + weighted sum alone ({@code asff_fuse}, batch 8) and the whole level-1 block in training
 * mode ({@code asff}, batch 4 to keep CPU runs short); mirrored in tools/bench/torch_bench_asff.py,
 * where PyTorch runs F.softmax then the reference's weighted sum, and the reference block.
 */
public final class AsffCases {
  private AsffCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    int n = 8, c = 256, h = 26, w = 26;
    String fuseArgs = String.format(Locale.ROOT, "{\"logits\":[%d,3,%d,%d],\"f\":[%d,%d,%d,%d]}", n, h, w, n, c, h, w);
    cases.add(new BenchCase(String.format(Locale.ROOT, "asff_fuse %dx%dx%dx%d", n, c, h, w), "asff_fuse", fuseArgs, d -> {
      Tensor logits = input(d, 1, n, 3, h, w);
      Tensor f0 = input(d, 2, n, c, h, w);
      Tensor f1 = input(d, 3, n, c, h, w);
      Tensor f2 = input(d, 4, n, c, h, w);
      return new BenchCase.Workload(() -> FeatureFusion.asff(logits, f0, f1, f2), List.of(logits, f0, f1, f2));
    }).withCost(fuseCost(n, c, h, w)));
    int b = 4, base = 13;
    String blockArgs = String.format(Locale.ROOT, "{\"level\":1,\"batch\":%d,\"dims\":[512,256,256],\"size\":%d}", b, base);
    cases.add(new BenchCase(String.format(Locale.ROOT, "asff level1 512/256/256 %dx13/26/52", b), "asff", blockArgs, d -> {
      Asff block = new Asff(1, false, false, d);
      Tensor x0 = input(d, 1, b, 512, base, base);
      Tensor x1 = input(d, 2, b, 256, 2 * base, 2 * base);
      Tensor x2 = input(d, 3, b, 256, 4 * base, 4 * base);
      List<Tensor> leaves = new ArrayList<>(block.parameters());
      leaves.addAll(List.of(x0, x1, x2));
      return new BenchCase.Workload(() -> block.forward(x0, x1, x2), leaves);
    }).withCost(level1Cost(b, base, Asff.REFERENCE_DIMS, Asff.REFERENCE_OUT[1], 16)));
    return cases;
  }

  /**
   * The fusion: a 3-way softmax per pixel (5 per logit, the softmax rule) and
   * w0 f0 + w1 f1 + w2 f2 (5 per output element). The backward: df_k = w_k dy (3 per element),
   * dw_k = sum over channels of f_k dy (6 per element) and the softmax's backward (4 per logit).
   * Memory bound; bytes: the logits and three maps in, y out.
   */
  static Cost fuseCost(int n, int c, int h, int w) {
    double y = n(n, c, h, w);
    double l = n(n, 3, h, w);
    return Cost.memory(5 * y + 5 * l, 14 * y + 9 * l, l + 3 * y, y);
  }

  /**
   * The level-1 block's convolutions (every tap counted, the conv2d rule; BN, leaky ReLU, the
   * nearest 2x upsampling and the fusion are under 0.5%), h = 2 base the level-1 map, i = dims[1]:
   * compress_level_0 1x1 dims[0] -> i at base x base; stride_level_2 3x3 stride 2 dims[2] -> i onto
   * h x h; three weight_level 1x1 i -> cc; weight_levels 1x1 3 cc -> 3; expand 3x3 i -> out. Compute
   * bound, 3x with the backward. Bytes: the three levels and every parameter in, y out.
   */
  static Cost level1Cost(int b, int base, int[] dims, int out, int cc) {
    int h = 2 * base;
    int i = dims[1];
    double hw = n(h, h);
    double f = 2.0 * b * (dims[0] * (double) i * base * base + dims[2] * (double) i * 9 * hw + 3.0 * i * cc * hw
        + 3.0 * cc * 3 * hw + (double) i * out * 9 * hw);
    double in = n(b, dims[0], base, base) + n(b, dims[1], h, h) + n(b, dims[2], 2 * h, 2 * h) + level1Params(dims, out, cc);
    return Cost.compute(f, 3 * f, in, n(b, out, h, h));
  }

  /** The level-1 block's parameters: the convs (weight_levels with bias) and each BN's weight and bias. */
  static double level1Params(int[] dims, int out, int cc) {
    int i = dims[1];
    return (dims[0] * (double) i + 2 * i) + (dims[2] * 9.0 * i + 2 * i) + 3 * (i * (double) cc + 2 * cc)
        + (3.0 * cc * 3 + 3) + (i * 9.0 * out + 2 * out);
  }
}
