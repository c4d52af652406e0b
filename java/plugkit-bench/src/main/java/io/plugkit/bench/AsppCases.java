package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

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
        }));
      }
    }
    return cases;
  }
}
