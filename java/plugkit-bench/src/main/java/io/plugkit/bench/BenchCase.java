package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One benchmarked op at one shape. {@code argsJson} describes the same op and shapes to
 * tools/bench/torch_bench.py; {@code setup} makes the inputs (leaves requiring grad) on a device
 * and returns the forward.
 */
public record BenchCase(String id, String op, String argsJson, Function<Device, Workload> setup) {

  /** The forward of a case and the leaves whose gradients the backward produces. */
  public record Workload(Supplier<Tensor> forward, List<Tensor> leaves) {}

  /** Uniform [-1, 1) input, as the PyTorch side makes it. */
  public static Tensor input(Device d, long seed, int... dims) {
    return Tensor.uniform(d, seed, -1f, 1f, dims).requiresGrad(true);
  }
}
