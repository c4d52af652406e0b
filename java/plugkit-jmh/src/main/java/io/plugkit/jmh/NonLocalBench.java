package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.NonLocal2d;
import java.util.ArrayList;
import java.util.List;

/** NonLocal2d, embedded Gaussian, 64 channels (inter 32), on 2x64x28x28 (784 positions), training mode. */
public class NonLocalBench extends OpBenchmark {
  @Override protected Workload build(Device d) {
    NonLocal2d block = new NonLocal2d(64, NonLocal2d.Mode.EMBEDDED_GAUSSIAN, d);
    Tensor x = input(d, 1, 2, 64, 28, 28);
    List<Tensor> leaves = new ArrayList<>(block.parameters());
    leaves.add(x);
    return new Workload(() -> block.forward(x), leaves);
  }
}
