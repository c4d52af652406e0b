package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Conv;
import java.util.List;

/** conv2d 8x32x56x56, 3x3, padding 1, 32 -> 64 channels, with bias (the bench CLI's conv2d row). */
public class Conv2dBench extends OpBenchmark {
  @Override protected Workload build(Device d) {
    Tensor x = input(d, 1, 8, 32, 56, 56);
    Tensor w = input(d, 2, 64, 32, 3, 3);
    Tensor b = input(d, 3, 64);
    return new Workload(() -> Conv.conv2d(x, w, b, Conv.Options.DEFAULT.padding(1)), List.of(x, w, b));
  }
}
