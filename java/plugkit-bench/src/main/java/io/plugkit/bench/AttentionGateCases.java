package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

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

  /** Elements of x. SE and CBAM parameters (under 1% of x) are not counted in the bytes. */
  private static final double X = n(8, 256, 28, 28);
  /**
   * CBAM forward: channel avg + max pools (2 X), channel gate (X), channel mean + max (2 X), the 7x7
   * 2->1 conv (2 x 2 x 49 per pixel), spatial gate (X); the backward counted as twice the forward.
   */
  private static final double CBAM_FWD = 6 * X + 196 * n(8, 28, 28);

  private AttentionGateCases() {}

  public static List<BenchCase> all() {
    return List.of(
        new BenchCase("squeeze_excite 8x256x28x28", "squeeze_excite", SHAPE,
            d -> module(d, new SqueezeExcite(256, SqueezeExcite.Options.DEFAULT, d)))
            .withCost(Cost.memory(2 * X, 5 * X, X, X)),
        new BenchCase("cbam 8x256x28x28", "cbam", SHAPE, d -> module(d, new Cbam(256, Cbam.Options.DEFAULT, d)))
            .withCost(Cost.memory(CBAM_FWD, 3 * CBAM_FWD, X, X)),
        new BenchCase("channel_gate sigmoid 8x256x28x28", "channel_gate", SHAPE, d -> {
          Tensor x = input(d, 1, 8, 256, 28, 28);
          Tensor a = input(d, 2, 8, 256, 1, 1);
          return new BenchCase.Workload(() -> AttentionGates.channelGate(x, a, Gate.SIGMOID), List.of(x, a));
        }).withCost(Cost.memory(X, 4 * X, X + n(8, 256), X)),
        new BenchCase("channel_mean_max 8x256x28x28", "channel_mean_max", SHAPE, d -> {
          Tensor x = input(d, 1, 8, 256, 28, 28);
          return new BenchCase.Workload(() -> AttentionGates.channelMeanMax(x), List.of(x));
        }).withCost(Cost.memory(2 * X, 4 * X, X, n(8, 2, 28, 28))));
  }

  private static BenchCase.Workload module(Device d, Module m) {
    Tensor x = input(d, 1, 8, 256, 28, 28);
    List<Tensor> leaves = new ArrayList<>(m.parameters());
    leaves.add(0, x);
    return new BenchCase.Workload(() -> m.forward(x), leaves);
  }
}
