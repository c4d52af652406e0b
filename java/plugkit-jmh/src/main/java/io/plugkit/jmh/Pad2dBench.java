package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Padding;
import java.util.List;
import java.util.Locale;

/** pad2d 8x64x56x56, 3 on every side, in each mode (constant pads zeros). */
public class Pad2dBench extends OpBenchmark {
  @org.openjdk.jmh.annotations.Param({"reflect", "replicate", "circular", "constant"})
  public String mode;

  @Override protected Workload build(Device d) {
    Padding.Mode m = Padding.Mode.valueOf(mode.toUpperCase(Locale.ROOT));
    Tensor x = input(d, 1, 8, 64, 56, 56);
    int[] pad = {3, 3, 3, 3};
    return new Workload(() -> Padding.pad2d(x, pad, m), List.of(x));
  }
}
