package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

import io.plugkit.Tensor;
import io.plugkit.ops.DeformConv;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * deform_conv2d v2 (with mask and bias) at ResNet stage shapes: N 1 and 8, C 64 and 256 (Cin = Cout),
 * 56x56 and 28x28, 3x3 kernel, stride 1, padding 1, one offset group. Mirrored by
 * tools/bench/torch_bench_dcn.py (torchvision.ops.deform_conv2d).
 */
public final class DeformConvCases {
  private static final int[] ONE = {1};

  private DeformConvCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (int n : new int[] {1, 8}) {
      for (int c : new int[] {64, 256}) {
        for (int size : new int[] {56, 28}) cases.add(v2(n, c, size));
      }
    }
    return cases;
  }

  private static BenchCase v2(int n, int c, int size) {
    String id = String.format(Locale.ROOT, "deform_conv2d v2 %dx%dx%dx%d k3 p1", n, c, size, size);
    String args = String.format(Locale.ROOT, "{\"x\":[%d,%d,%d,%d],\"w\":[%d,%d,3,3],\"offset\":[%d,18,%d,%d],"
        + "\"mask\":[%d,9,%d,%d],\"stride\":1,\"padding\":1,\"dilation\":1}", n, c, size, size, c, c, n, size, size, n,
        size, size);
    return new BenchCase(id, "deform_conv2d", args, d -> {
      Tensor x = input(d, 1, n, c, size, size);
      Tensor w = input(d, 2, c, c, 3, 3);
      Tensor b = input(d, 3, c);
      Tensor offset = input(d, 4, n, 18, size, size);
      Tensor mask = input(d, 5, n, 9, size, size);
      return new BenchCase.Workload(() -> DeformConv.deformConv2d(x, offset, w, b, mask, ONE, ONE, ONE),
          List.of(x, offset, w, b, mask));
    });
  }
}
