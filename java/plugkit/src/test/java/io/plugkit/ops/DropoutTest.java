package io.plugkit.ops;

import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Drivers;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Dropout: PyTorch's generator cannot be matched bit for bit, so these check what defines the op:
 * the kept fraction, y = x * noise with noise in {0, 1 / (1 - p)}, dx = dy * noise, the same mask on
 * both drivers for one seed, eval identity, the p = 0 and p = 1 edges and bad p.
 */
class DropoutTest {
  private static float[] ramp(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = 0.25f + (i % 97) * 0.01f - (i % 5 == 0 ? 1.5f : 0f);
    return v;
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void keepsOneMinusPScaledAndBackwardUsesTheSameMask(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      for (float p : new float[] {0.1f, 0.3f, 0.5f, 0.9f}) {
        int n = 2 * 3 * 37 * 41;
        Tensor x = Tensor.of(d, ramp(n), 2, 3, 37, 41).requiresGrad(true);
        long seed = 1234 + (long) (p * 100);
        Tensor y = Dropout.dropout(x, p, true, seed);
        float[] noise = Dropout.mask(x, p, seed).toArray();
        float scale = (float) (1.0 / (1.0 - p));
        float[] xs = x.toArray();
        float[] ys = y.toArray();
        int kept = 0;
        for (int i = 0; i < n; i++) {
          assertTrue(noise[i] == 0f || noise[i] == scale, "noise " + noise[i]);
          if (noise[i] != 0f) kept++;
          assertEquals(xs[i] * noise[i], ys[i], 0f, "y = x * noise at " + i);
        }
        // Binomial(n, 1 - p): 5 standard deviations (a false failure has probability < 1e-6).
        double sd = Math.sqrt(n * p * (1.0 - p));
        assertEquals(n * (1.0 - p), kept, 5 * sd, "kept count at p " + p);
        float[] gout = ramp(n);
        y.backward(Tensor.of(d, gout, 2, 3, 37, 41));
        float[] gx = x.grad().toArray();
        for (int i = 0; i < n; i++) assertEquals(gout[i] * noise[i], gx[i], 0f, "dx = dy * noise at " + i);
      }
    }
  }

  @Test
  void cpuAndCudaDrawTheSameMask() {
    TestDevices.assumeUsable(Device.cuda(0));
    try (Scope s = Scope.open()) {
      Tensor cpu = Dropout.mask(Tensor.zeros(Device.cpu(), 3, 5, 33, 31), 0.4f, 99);
      Tensor cuda = Dropout.mask(Tensor.zeros(Device.cuda(0), 3, 5, 33, 31), 0.4f, 99);
      assertArrayEquals(cpu.toArray(), cuda.toArray());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void evalIsIdentityAndEdgesOfP(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1, -2, Float.NaN, 4, 5, 6}, 2, 3);
      assertSame(x, Dropout.dropout(x, 0.7f, false));
      assertSame(x, Dropout.dropout(x, 1f, false, 3));
      assertArrayEquals(x.toArray(), Dropout.dropout(x, 0f, true, 3).toArray());
      // p = 1: PyTorch multiplies by zeros, so the NaN stays.
      float[] zeros = Dropout.dropout(x, 1f, true, 3).toArray();
      assertArrayEquals(new float[] {0, -0f, Float.NaN, 0, 0, 0}, zeros);
      Tensor empty = Tensor.zeros(d, 0, 3, 5, 7).requiresGrad(true);
      Tensor y = Dropout.dropout(empty, 0.5f, true, 1);
      assertEquals(empty.shape(), y.shape());
      y.backward(Tensor.zeros(d, 0, 3, 5, 7));
      assertEquals(0, empty.grad().numel());
    }
  }

  @Test
  void seedsRepeatAndDiffer() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.ones(d, 4, 64);
      Dropout.seed(42);
      float[] a = Dropout.dropout(x, 0.5f, true).toArray();
      float[] b = Dropout.dropout(x, 0.5f, true).toArray();
      Dropout.seed(42);
      float[] c = Dropout.dropout(x, 0.5f, true).toArray();
      assertArrayEquals(a, c, "a seeded sequence repeats");
      assertFalse(Arrays.equals(a, b), "successive calls draw new masks");
      assertFalse(Arrays.equals(Dropout.mask(x, 0.5f, 1).toArray(), Dropout.mask(x, 0.5f, 2).toArray()));
    }
  }

  @Test
  void rejectsBadP() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.ones(Device.cpu(), 2, 2);
      for (float p : new float[] {-0.01f, 1.01f, Float.NaN, Float.POSITIVE_INFINITY}) {
        assertRejects("p", () -> Dropout.dropout(x, p, true));
        assertRejects("p", () -> Dropout.dropout(x, p, false, 1));
        assertRejects("p", () -> new io.plugkit.nn.Dropout(p));
      }
      assertRejects("x", () -> Dropout.dropout(null, 0.5f, true));
    }
  }

  @Test
  void moduleDropsOnlyInTraining() {
    Device d = Drivers.cudaUsable() ? Device.cuda(0) : Device.cpu();
    try (Scope s = Scope.open()) {
      io.plugkit.nn.Dropout m = new io.plugkit.nn.Dropout(0.25f);
      Tensor x = Tensor.ones(d, 8, 100);
      float[] y = m.forward(x).toArray();
      int zeros = 0;
      for (float v : y) {
        assertTrue(v == 0f || v == (float) (1 / 0.75), "value " + v);
        if (v == 0f) zeros++;
      }
      assertTrue(zeros > 100 && zeros < 300, "zeros " + zeros);
      m.eval();
      assertSame(x, m.forward(x));
      assertEquals(0.5f, m.p(0.5f).p());
    }
  }
}
