package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.nn.Aspp;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * torchvision's ASPP (rates 6/12/18, out 256: DeepLabv3's output-stride-16 head) on a 33x33
 * stride-16 feature map of a 513x513 image, batch 1 and 8, in eval and in training (batch
 * statistics, Dropout(0.5)); mirrored in tools/bench/torch_bench_aspp.py, where PyTorch runs
 * torchvision.models.segmentation.deeplabv3.ASPP itself.
 */
public final class AsppCases {
  private static final int[] RATES = {6, 12, 18};

  private AsppCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int n : new int[] {1, 8}) {
      for (boolean train : new boolean[] {false, true}) {
        // A training batch of one is invalid (the pooling branch's BN has one value per channel).
        if (train && n == 1) continue;
        int c = 256;
        int hw = 33;
        String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"rates\":[6,12,18],\"out\":256,\"train\":%b}",
            n, c, hw, hw, train);
        String id = String.format(Locale.ROOT, "aspp r6/12/18 %s %dx%dx%dx%d", train ? "train" : "eval", n, c, hw, hw);
        cases.add(new BenchCase(id, "aspp", args, d -> {
          Aspp aspp = new Aspp(c, RATES, 256, d);
          aspp.train(train);
          Tensor x = input(d, 1, n, c, hw, hw);
          List<Tensor> leaves = new ArrayList<>();
          leaves.add(x);
          leaves.addAll(aspp.parameters());
          return new BenchCase.Workload(() -> aspp.forward(x), leaves);
        }).withCost(cost(n, c, hw, hw, RATES, 256)));
      }
    }
    return cases;
  }

  /**
   * The convolutions only (BN, ReLU, pooling, bilinear upsampling of a 1x1 map, concat, dropout
   * are under 0.5%): the 1x1 branch 2 N Co C H W; each rate's 3x3 branch over its valid taps
   * ({@link AtrousCases#validTaps}); the pooling branch's 1x1 conv on the pooled 1x1 map
   * 2 N Co C; the projection 2 N Co (R + 2) Co H W. Compute bound, 3x with the backward (in eval
   * mode too: the parameters are leaves). Bytes: x and every parameter in ({@link #params}), y out.
   */
  static Cost cost(int n, int c, int h, int w, int[] rates, int out) {
    double taps = 0;
    for (int r : rates) taps += AtrousCases.validTaps(h, w, r);
    double f = 2.0 * n * out * (c * (double) h * w + c * taps + c + (rates.length + 2.0) * out * h * w);
    return Cost.compute(f, 3 * f, n(n, c, h, w) + params(c, rates.length, out), n(n, out, h, w));
  }

  /**
   * torchvision ASPP's parameter count: 1x1, R 3x3 and the pooling 1x1 convs (no bias), the
   * (R + 2) Co -> Co projection, and R + 3 BatchNorms (weight and bias each).
   */
  static double params(int c, int rates, int out) {
    return (2.0 + 9 * rates) * c * out + (rates + 2.0) * out * out + 2.0 * (rates + 3) * out;
  }
}
