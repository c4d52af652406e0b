package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.autograd.GradMode;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Reductions;
import io.plugkit.testing.TestDevices;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The tape: shared inputs, accumulation across backward calls, no-grad mode, misuse. */
class AutogradTest {
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sharedInputSumsBothPaths(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {-2f, 0.5f, 3f}, 3).requiresGrad(true);
      // y = sum(x * x + relu(x)): dy/dx = 2x + (x > 0)
      Reductions.sum(Elementwise.add(Elementwise.mul(x, x), Activations.relu(x))).backward();
      assertArrayEquals(new float[] {-4f, 2f, 7f}, x.grad().toArray(), 1e-6f);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void adoptedGradientsNeverAliasAndOutliveTheStep(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(d, new float[] {1f, 2f}, 2).requiresGrad(true);
      Tensor b = Tensor.of(d, new float[] {3f, 4f}, 2).requiresGrad(true);
      Tensor seed = Tensor.of(d, new float[] {5f, 6f}, 2);
      try (Scope step = Scope.open()) {
        // add hands one gradient object to both inputs; reshape hands the seed's view on.
        Elementwise.add(Elementwise.mulScalar(a, 2f), Elementwise.mulScalar(b, 1f)).backward(seed);
        Elementwise.add(a, a).reshape(2).backward(seed);
      }
      // a: 2 * seed, then + 2 * seed; b: seed. Step tensors are freed, the gradients live on.
      assertArrayEquals(new float[] {20f, 24f}, a.grad().toArray(), 1e-6f);
      assertArrayEquals(new float[] {5f, 6f}, b.grad().toArray(), 1e-6f);
      b.grad().fill(0f);
      assertArrayEquals(new float[] {5f, 6f}, seed.toArray(), "b's gradient is not the seed");
      try (Scope step = Scope.open()) {
        Tensor y = Elementwise.mulScalar(a, 1f);
        y.backward(seed);
      }
      assertArrayEquals(new float[] {25f, 30f}, a.grad().toArray(), 1e-6f);
      a.clearGrad();
      assertNull(a.grad());
      try (Scope step = Scope.open()) {
        Elementwise.mulScalar(a, 3f).backward(seed);
      }
      assertArrayEquals(new float[] {15f, 18f}, a.grad().toArray(), 1e-6f, "a fresh gradient after clearGrad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void gradientsAccumulateUntilZeroed(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1f, 2f}, 2).requiresGrad(true);
      for (int i = 0; i < 2; i++) {
        try (Scope step = Scope.open()) {
          Reductions.sum(Elementwise.mulScalar(x, 3f)).backward();
        }
      }
      // The gradient lives in x's scope, so it outlived both step scopes.
      assertArrayEquals(new float[] {6f, 6f}, x.grad().toArray(), 0f);
      x.zeroGrad();
      assertArrayEquals(new float[] {0f, 0f}, x.grad().toArray(), 0f);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void noGradModeRecordsNothing(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1f, -1f}, 2).requiresGrad(true);
      Tensor y;
      try (var off = GradMode.disable()) {
        y = Activations.relu(x);
      }
      assertNull(y.gradFn());
      assertFalse(y.requiresGrad());
      assertTrue(GradMode.isEnabled(), "closing the handle restores grad mode");
      Tensor ones = Tensor.ones(d, 2);
      assertThrows(IllegalStateException.class, () -> y.backward(ones));
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void backwardOfManyValuesNeedsAGradient(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1f, 2f}, 2).requiresGrad(true);
      Tensor y = Elementwise.mulScalar(x, 2f);
      var e = assertThrows(IllegalArgumentException.class, y::backward);
      assertTrue(e.getMessage().startsWith("backward:"), e.getMessage());
      y.backward(Tensor.of(d, new float[] {1f, 10f}, 2));
      assertArrayEquals(new float[] {2f, 20f}, x.grad().toArray(), 0f);
    }
  }
}
