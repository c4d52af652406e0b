package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.BlurPool;
import io.plugkit.ops.BlurPool.PadType;
import java.util.List;

/** blur_pool (antialiased-cnns' defaults: reflect, filter 4, stride 2) and max_blur_pool on 8x64x56x56. */
public class BlurPoolBench extends OpBenchmark {
  @org.openjdk.jmh.annotations.Param({"blur", "max_blur"})
  public String op;

  @Override protected Workload build(Device d) {
    Tensor x = input(d, 1, 8, 64, 56, 56);
    boolean max = switch (op) {
      case "blur" -> false;
      case "max_blur" -> true;
      default -> throw new IllegalArgumentException("op: expected blur or max_blur but got " + op);
    };
    return new Workload(() -> max ? BlurPool.maxBlurPool(x, 4, 2, PadType.REFLECT, 0)
        : BlurPool.blurPool(x, 4, 2, PadType.REFLECT, 0), List.of(x));
  }
}
