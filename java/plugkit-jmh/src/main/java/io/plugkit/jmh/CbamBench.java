package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.Cbam;
import java.util.ArrayList;
import java.util.List;

/** CBAM (timm's defaults: channel then spatial attention) on 8x256x28x28, training mode. */
public class CbamBench extends OpBenchmark {
  @Override protected Workload build(Device d) {
    Cbam cbam = new Cbam(256, Cbam.Options.DEFAULT, d);
    Tensor x = input(d, 1, 8, 256, 28, 28);
    List<Tensor> leaves = new ArrayList<>(cbam.parameters());
    leaves.add(x);
    return new Workload(() -> cbam.forward(x), leaves);
  }
}
