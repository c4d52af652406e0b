package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One benchmarked op at one shape. {@code argsJson} describes the same op and shapes to
 * tools/bench/torch_bench.py; {@code setup} makes the inputs (leaves requiring grad) on a device
 * and returns the forward. {@code cost} gives the useful FLOPs and bytes of one run and which roof
 * bounds it ({@link Cost#UNKNOWN} when the case states no formula: it still runs, without a roof
 * fraction). The four-argument constructor (cost unknown) and {@link #withCost} keep cases written
 * without a cost compiling.
 */
public record BenchCase(String id, String op, String argsJson, Function<Device, Workload> setup, Cost cost) {

  public BenchCase {
    if (cost == null) cost = Cost.UNKNOWN;
  }

  public BenchCase(String id, String op, String argsJson, Function<Device, Workload> setup) {
    this(id, op, argsJson, setup, Cost.UNKNOWN);
  }

  /** This case with its useful work stated. */
  public BenchCase withCost(Cost c) { return new BenchCase(id, op, argsJson, setup, c); }

  /** Useful FLOPs of one run in {@code mode}; NaN when unknown. */
  public double flops(Harness.Mode mode) { return cost.flops(mode); }

  /** Useful bytes moved by one run in {@code mode}; NaN when unknown. */
  public double bytes(Harness.Mode mode) { return cost.bytes(mode); }

  /** Which roof bounds this case. */
  public Cost.Bound bound() { return cost.bound(); }

  /** The forward of a case and the leaves whose gradients the backward produces. */
  public record Workload(Supplier<Tensor> forward, List<Tensor> leaves) {}

  /** Uniform [-1, 1) input, as the PyTorch side makes it. */
  public static Tensor input(Device d, long seed, int... dims) {
    return Tensor.uniform(d, seed, -1f, 1f, dims).requiresGrad(true);
  }
}
