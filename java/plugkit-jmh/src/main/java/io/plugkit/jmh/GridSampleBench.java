package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.GridSample;
import java.util.List;

/** grid_sample bilinear, zeros padding, align_corners false, 4x32x56x56 sampled on a 56x56 grid. */
public class GridSampleBench extends OpBenchmark {
  @Override protected Workload build(Device d) {
    Tensor x = input(d, 1, 4, 32, 56, 56);
    Tensor grid = input(d, 2, 4, 56, 56, 2);
    return new Workload(() -> GridSample.gridSample(x, grid, GridSample.Mode.BILINEAR, GridSample.Padding.ZEROS, false),
        List.of(x, grid));
  }
}
