package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

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
    }));
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
    }));
    return cases;
  }
}
