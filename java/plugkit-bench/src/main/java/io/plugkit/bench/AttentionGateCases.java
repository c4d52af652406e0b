package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.Cbam;
import io.plugkit.nn.Module;
import io.plugkit.nn.SqueezeExcite;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;
import java.util.ArrayList;
import java.util.List;

/**
 * SE and CBAM (timm's defaults, training mode) at a ResNet stage-2 shape, 8x256x28x28, and their two
 * fused kernels alone; mirrored in tools/bench/torch_bench_gates.py. The module cases' leaves are
 * the input and every parameter, so fwdbwd includes the weight gradients on both sides.
 */
public final class AttentionGateCases {
  private static final String SHAPE = "{\"x\":[8,256,28,28]}";

  private AttentionGateCases() {}

  public static List<BenchCase> all() {
    return List.of(
        new BenchCase("squeeze_excite 8x256x28x28", "squeeze_excite", SHAPE,
            d -> module(d, new SqueezeExcite(256, SqueezeExcite.Options.DEFAULT, d))),
        new BenchCase("cbam 8x256x28x28", "cbam", SHAPE, d -> module(d, new Cbam(256, Cbam.Options.DEFAULT, d))),
        new BenchCase("channel_gate sigmoid 8x256x28x28", "channel_gate", SHAPE, d -> {
          Tensor x = input(d, 1, 8, 256, 28, 28);
          Tensor a = input(d, 2, 8, 256, 1, 1);
          return new BenchCase.Workload(() -> AttentionGates.channelGate(x, a, Gate.SIGMOID), List.of(x, a));
        }),
        new BenchCase("channel_mean_max 8x256x28x28", "channel_mean_max", SHAPE, d -> {
          Tensor x = input(d, 1, 8, 256, 28, 28);
          return new BenchCase.Workload(() -> AttentionGates.channelMeanMax(x), List.of(x));
        }));
  }

  private static BenchCase.Workload module(Device d, Module m) {
    Tensor x = input(d, 1, 8, 256, 28, 28);
    List<Tensor> leaves = new ArrayList<>(m.parameters());
    leaves.add(0, x);
    return new BenchCase.Workload(() -> m.forward(x), leaves);
  }
}
