package io.plugkit;

import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.autograd.GradMode;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import io.plugkit.ops.Activations;

/**
 * What pinning costs per launch (not a test; run by hand, see docs/architecture.md): relu on a
 * 1-element CPU tensor under no-grad, side by side in one run: the bare driver with addresses
 * taken once (no pins), the same launch through {@code tensor.driver()} with {@code address()}
 * per call (two pins and their drop), and the whole {@code Activations.relu} op.
 */
public final class PinCostBench {
  private static final Kernel RELU = Kernel.of("relu_forward", PTR, PTR);

  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
    Driver bare = Drivers.of(Device.cpu());
    try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      Tensor x = Tensor.of(Device.cpu(), new float[] {-1f}, 1);
      Tensor y = Tensor.emptyLike(x);
      long xa;
      long ya;
      try (Pins hold = Pins.hold()) {
        xa = x.address();
        ya = y.address();
      }
      double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
      for (int round = 0; round < 7; round++) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) bare.launch(RELU, 1, xa, ya);
        long t1 = System.nanoTime();
        for (int i = 0; i < n; i++) x.driver().launch(RELU, 1, x.address(), y.address());
        long t2 = System.nanoTime();
        for (int i = 0; i < n; i += 1000) {
          try (Scope step = Scope.open()) {
            for (int j = 0; j < 1000; j++) Activations.relu(x);
          }
        }
        long t3 = System.nanoTime();
        best[0] = Math.min(best[0], (t1 - t0) / (double) n);
        best[1] = Math.min(best[1], (t2 - t1) / (double) n);
        best[2] = Math.min(best[2], (t3 - t2) / (double) n);
      }
      System.out.printf("relu, 1 element, CPU, no grad, %d calls x 7 rounds, best round, ns per call:%n", n);
      System.out.printf("  bare driver launch (no pins):        %7.1f%n", best[0]);
      System.out.printf("  tensor.driver() launch, 2 pins:      %7.1f  (+%.1f per launch)%n", best[1], best[1] - best[0]);
      System.out.printf("  Activations.relu (alloc + launch):   %7.1f%n", best[2]);
    }
  }
}
