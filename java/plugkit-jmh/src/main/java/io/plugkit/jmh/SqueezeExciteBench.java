package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.SqueezeExcite;
import java.util.ArrayList;
import java.util.List;

/** SqueezeExcite (timm's defaults) on 8x256x28x28. */
public class SqueezeExciteBench extends OpBenchmark {
  @Override protected Workload build(Device d) {
    SqueezeExcite se = new SqueezeExcite(256, SqueezeExcite.Options.DEFAULT, d);
    Tensor x = input(d, 1, 8, 256, 28, 28);
    List<Tensor> leaves = new ArrayList<>(se.parameters());
    leaves.add(x);
    return new Workload(() -> se.forward(x), leaves);
  }
}
