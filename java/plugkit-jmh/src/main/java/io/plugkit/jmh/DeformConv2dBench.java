package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.DeformConv;
import java.util.List;

/** Modulated deform_conv2d (DCNv2) 4x64x28x28, 3x3, padding 1, 64 -> 64 channels, one offset group. */
public class DeformConv2dBench extends OpBenchmark {
  private static final int[] ONE = {1};

  @Override protected Workload build(Device d) {
    Tensor x = input(d, 1, 4, 64, 28, 28);
    Tensor w = input(d, 2, 64, 64, 3, 3);
    Tensor b = input(d, 3, 64);
    Tensor offset = input(d, 4, 4, 18, 28, 28);
    Tensor mask = input(d, 5, 4, 9, 28, 28);
    return new Workload(() -> DeformConv.deformConv2d(x, offset, w, b, mask, ONE, ONE, ONE), List.of(x, offset, w, b, mask));
  }
}
