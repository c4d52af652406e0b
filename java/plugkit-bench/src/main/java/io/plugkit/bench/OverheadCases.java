package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Host overhead per op (issue 13): relu, add and mul on 1-element tensors, {@value #CALLS} calls
 * chained in one forward (y = op(y), so the Scope of a timed step holds {@value #CALLS} results),
 * so a step's time in ms is the time per op in us. What is measured is the host path of an op (argument
 * checks, allocation, pins, the launch), not arithmetic. Mirrored in
 * tools/bench/torch_bench_overhead.py (the same chain in eager PyTorch); in fwd mode both run
 * without grad. The second operand of add and mul is 1, so the chain neither overflows nor turns
 * into subnormals. Bound {@link Cost#LATENCY}: 1,000 FLOPs and 8 KB per step would rate a few
 * MFLOP/s, a fraction of no roof worth showing; the median (us per op) is the figure.
 */
public final class OverheadCases {
  static final int CALLS = 1000;

  private OverheadCases() {}

  public static List<BenchCase> all() {
    List<BenchCase> cases = new ArrayList<>();
    for (String op : new String[] {"relu", "add", "mul"}) {
      String args = String.format(Locale.ROOT, "{\"op\":\"%s\",\"numel\":1,\"calls\":%d}", op, CALLS);
      cases.add(new BenchCase(String.format(Locale.ROOT, "overhead %s 1 element x%d", op, CALLS), "overhead", args, d -> {
        Tensor x = input(d, 1, 1);
        Tensor one = Tensor.ones(d, 1);
        return new BenchCase.Workload(() -> {
          Tensor y = x;
          for (int i = 0; i < CALLS; i++) {
            y = switch (op) {
              case "relu" -> Activations.relu(y);
              case "add" -> Elementwise.add(y, one);
              default -> Elementwise.mul(y, one);
            };
          }
          return y;
        }, List.of(x));
      }).withCost(Cost.LATENCY));
    }
    return cases;
  }
}
