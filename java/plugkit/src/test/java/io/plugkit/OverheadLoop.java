package io.plugkit;

import io.plugkit.autograd.GradMode;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;

/** A loop of 1-element relu (or add) ops for a sampling profiler (JFR); see OverheadBench. */
public final class OverheadLoop {
  public static void main(String[] args) {
    boolean add = args.length > 0 && args[0].equals("add");
    long seconds = args.length > 1 ? Long.parseLong(args[1]) : 10;
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      Tensor x = Tensor.of(Device.cpu(), new float[] {-1f}, 1);
      Tensor b = Tensor.of(Device.cpu(), new float[] {2f}, 1);
      while (System.nanoTime() < end) {
        try (Scope step = Scope.open()) {
          for (int j = 0; j < 1000; j++) {
            if (add) Elementwise.add(x, b);
            else Activations.relu(x);
          }
        }
      }
    }
  }
}
