package io.plugkit.ops;

import static io.plugkit.ops.ConvTest.assertNames;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class BatchNormTest {
  // Normalized values are O(1); invstd of inputs with std ~1.7 and FP32 channel sums of <= 40
  // values keep the FP32-vs-FP64 (or vs PyTorch's FP32) differences near 1e-6.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;

  static Stream<Arguments> fixtureCases() {
    return TestDevices.all().flatMap(d -> Stream.of("train_4d", "train_2d", "train_3d_noaffine_nostats", "eval_4d",
        "eval_2d_noaffine").map(n -> Arguments.of(d, n)));
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("fixtureCases")
  void matchesPyTorch(Device device, String name) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("batchnorm/" + name);
    boolean training = f.metadata().get("training").equals("1");
    float momentum = Float.parseFloat(f.metadata().get("momentum"));
    float eps = Float.parseFloat(f.metadata().get("eps"));
    boolean affine = f.tensors().containsKey("in.weight");
    boolean stats = f.tensors().containsKey("in.running_mean");
    try (Scope s = Scope.open()) {
      Tensor x = f.tensor("in.x", device).requiresGrad(true);
      Tensor w = affine ? f.tensor("in.weight", device).requiresGrad(true) : null;
      Tensor b = affine ? f.tensor("in.bias", device).requiresGrad(true) : null;
      Tensor rm = stats ? f.tensor("in.running_mean", device) : null;
      Tensor rv = stats ? f.tensor("in.running_var", device) : null;
      Tensor y = BatchNorm.batchNorm(x, rm, rv, w, b, training, momentum, eps);
      assertArrayEquals(x.dims(), y.dims(), "y shape");
      assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
      if (stats) {
        assertClose(f.get("out.running_mean").toFloats(), rm.toArray(), ATOL, RTOL, name + " running mean");
        assertClose(f.get("out.running_var").toFloats(), rv.toArray(), ATOL, RTOL, name + " running var");
      }
      y.backward(f.tensor("in.gout", device));
      assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
      if (affine) {
        assertClose(f.get("grad.weight").toFloats(), w.grad().toArray(), ATOL, RTOL, name + " dweight");
        assertClose(f.get("grad.bias").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " dbias");
      }
    }
  }

  static Stream<Arguments> referenceCases() {
    return TestDevices.all().flatMap(d -> Stream.of(
        Arguments.of(d, new int[] {3, 5, 2, 3}, true), Arguments.of(d, new int[] {3, 5, 2, 3}, false),
        Arguments.of(d, new int[] {7, 3}, true), Arguments.of(d, new int[] {2, 2, 3, 1, 2}, true),
        Arguments.of(d, new int[] {1, 2, 2}, true))); // N = 1 is fine when the spatial dims give > 1 value
  }

  @ParameterizedTest(name = "{1} training={2} on {0}")
  @MethodSource("referenceCases")
  void matchesReference(Device device, int[] shape, boolean training) {
    TestDevices.assumeUsable(device);
    int c = shape[1];
    float momentum = 0.25f;
    float eps = 1e-3f;
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(device, 1, -2, 5, shape).requiresGrad(true);
      Tensor w = Tensor.uniform(device, 2, 0.5f, 1.5f, c).requiresGrad(true);
      Tensor b = Tensor.uniform(device, 3, -1, 1, c).requiresGrad(true);
      Tensor rm = Tensor.uniform(device, 4, -1, 1, c);
      Tensor rv = Tensor.uniform(device, 5, 0.5f, 2, c);
      Reference r = new Reference(shape, x.toArray(), w.toArray(), b.toArray(), rm.toArray(), rv.toArray(), training,
          momentum, eps);
      Tensor y = BatchNorm.batchNorm(x, rm, rv, w, b, training, momentum, eps);
      assertClose(r.y, y.toArray(), ATOL, RTOL, "y");
      assertClose(r.newRunningMean, rm.toArray(), ATOL, RTOL, "running mean");
      assertClose(r.newRunningVar, rv.toArray(), ATOL, RTOL, "running var");
      Tensor gout = Tensor.uniform(device, 6, -1, 1, shape);
      y.backward(gout);
      r.backward(gout.toArray());
      assertClose(r.dx, x.grad().toArray(), ATOL, RTOL, "dx");
      assertClose(r.dw, w.grad().toArray(), ATOL, RTOL, "dweight");
      assertClose(r.db, b.grad().toArray(), ATOL, RTOL, "dbias");
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchLeavesRunningStatsAndGivesZeroGrads(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(device, 0, 3, 2).requiresGrad(true);
      Tensor w = Tensor.ones(device, 3).requiresGrad(true);
      Tensor b = Tensor.ones(device, 3).requiresGrad(true);
      Tensor rm = Tensor.of(device, new float[] {1, 2, 3}, 3);
      Tensor rv = Tensor.of(device, new float[] {4, 5, 6}, 3);
      Tensor y = BatchNorm.batchNorm(x, rm, rv, w, b, true, 0.1f, 1e-5f);
      assertArrayEquals(new int[] {0, 3, 2}, y.dims());
      assertArrayEquals(new float[] {1, 2, 3}, rm.toArray());
      assertArrayEquals(new float[] {4, 5, 6}, rv.toArray());
      y.backward(Tensor.zeros(device, 0, 3, 2));
      assertArrayEquals(new float[3], w.grad().toArray());
      assertArrayEquals(new float[3], b.grad().toArray());
      assertEquals(0, x.grad().numel());
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void evalWithoutAffineGivesOnlyInputGrad(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(device, new float[] {1, 2, 3, 4}, 2, 2).requiresGrad(true);
      Tensor rm = Tensor.of(device, new float[] {1, -1}, 2);
      Tensor rv = Tensor.of(device, new float[] {3, 15}, 2);
      Tensor y = BatchNorm.batchNorm(x, rm, rv, null, null, false, 0.1f, 1f);
      // (x - mean) / sqrt(var + 1): channel 0 divides by 2, channel 1 by 4
      assertArrayEquals(new float[] {0f, 0.75f, 1f, 1.25f}, y.toArray(), 1e-6f);
      y.backward(Tensor.ones(device, 2, 2));
      assertArrayEquals(new float[] {0.5f, 0.25f, 0.5f, 0.25f}, x.grad().toArray(), 1e-6f);
      assertArrayEquals(new float[] {1, -1}, rm.toArray(), "eval leaves the running mean");
    }
  }

  @Test
  void rejectsBadInput() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(cpu, 2, 3, 4);
      Tensor c3 = Tensor.zeros(cpu, 3);
      Tensor c4 = Tensor.zeros(cpu, 4);
      assertNames("x", () -> BatchNorm.batchNorm(null, c3, c3, c3, c3, true, 0.1f, 1e-5f));
      assertNames("x", () -> BatchNorm.batchNorm(Tensor.zeros(cpu, 3), null, null, null, null, true, 0.1f, 1e-5f));
      assertNames("runningMean", () -> BatchNorm.batchNorm(x, c4, c3, c3, c3, true, 0.1f, 1e-5f));
      assertNames("runningVar", () -> BatchNorm.batchNorm(x, c3, Tensor.zeros(cpu, 3, 1), c3, c3, true, 0.1f, 1e-5f));
      assertNames("weight", () -> BatchNorm.batchNorm(x, c3, c3, c4, c3, true, 0.1f, 1e-5f));
      assertNames("bias", () -> BatchNorm.batchNorm(x, c3, c3, c3, c4, true, 0.1f, 1e-5f));
      assertNames("eps", () -> BatchNorm.batchNorm(x, c3, c3, c3, c3, true, 0.1f, -1f));
      assertNames("eps", () -> BatchNorm.batchNorm(x, c3, c3, c3, c3, true, 0.1f, Float.NaN));
      assertNames("momentum", () -> BatchNorm.batchNorm(x, c3, c3, c3, c3, true, Float.NaN, 1e-5f));
      assertNames("runningMean", () -> BatchNorm.batchNorm(x, null, c3, c3, c3, false, 0.1f, 1e-5f));
      assertNames("runningVar", () -> BatchNorm.batchNorm(x, c3, null, c3, c3, false, 0.1f, 1e-5f));
      IllegalArgumentException one = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> BatchNorm.batchNorm(Tensor.zeros(cpu, 1, 3, 1, 1), c3, c3, c3, c3, true, 0.1f, 1e-5f));
      assertEquals("x: Expected more than 1 value per channel when training, got input size [1, 3, 1, 1]", one.getMessage());
      // eval with one value per channel is fine, and training may leave out the running stats
      assertArrayEquals(new int[] {1, 3}, BatchNorm.batchNorm(Tensor.zeros(cpu, 1, 3), c3, c3, null, null, false, 0.1f, 1e-5f).dims());
      assertArrayEquals(x.dims(), BatchNorm.batchNorm(x, null, null, null, null, true, 0.1f, 1e-5f).dims());
    }
  }

  /** The definition in double: batch statistics, normalization, running stats, full backward. */
  static final class Reference {
    final int n, c, spatial;
    final float[] x, w;
    final boolean training;
    final double[] mean, invstd, y, newRunningMean, newRunningVar;
    double[] dx, dw, db;

    Reference(int[] shape, float[] x, float[] w, float[] b, float[] rm, float[] rv, boolean training, float momentum,
        float eps) {
      n = shape[0];
      c = shape[1];
      int sp = 1;
      for (int i = 2; i < shape.length; i++) sp *= shape[i];
      spatial = sp;
      this.x = x;
      this.w = w;
      this.training = training;
      mean = new double[c];
      invstd = new double[c];
      newRunningMean = new double[c];
      newRunningVar = new double[c];
      int count = n * spatial;
      for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int i : indices(ch)) sum += x[i];
        double mu = sum / count;
        double sq = 0;
        for (int i : indices(ch)) sq += (x[i] - mu) * (x[i] - mu);
        double var = sq / count;
        if (training) {
          mean[ch] = mu;
          invstd[ch] = 1 / Math.sqrt(var + eps);
          newRunningMean[ch] = (1 - momentum) * rm[ch] + momentum * mu;
          newRunningVar[ch] = (1 - momentum) * rv[ch] + momentum * var * count / (count - 1);
        } else {
          mean[ch] = rm[ch];
          invstd[ch] = 1 / Math.sqrt(rv[ch] + eps);
          newRunningMean[ch] = rm[ch];
          newRunningVar[ch] = rv[ch];
        }
      }
      y = new double[x.length];
      for (int ch = 0; ch < c; ch++) {
        for (int i : indices(ch)) y[i] = (x[i] - mean[ch]) * invstd[ch] * w[ch] + b[ch];
      }
    }

    int[] indices(int ch) {
      int[] out = new int[n * spatial];
      int k = 0;
      for (int b = 0; b < n; b++) for (int s = 0; s < spatial; s++) out[k++] = (b * c + ch) * spatial + s;
      return out;
    }

    void backward(float[] g) {
      dx = new double[x.length];
      dw = new double[c];
      db = new double[c];
      int count = n * spatial;
      for (int ch = 0; ch < c; ch++) {
        double sumG = 0;
        double sumGXhat = 0;
        for (int i : indices(ch)) {
          sumG += g[i];
          sumGXhat += g[i] * (x[i] - mean[ch]) * invstd[ch];
        }
        db[ch] = sumG;
        dw[ch] = sumGXhat;
        for (int i : indices(ch)) {
          double xhat = (x[i] - mean[ch]) * invstd[ch];
          double inner = training ? g[i] - sumG / count - xhat * sumGXhat / count : g[i];
          dx[i] = w[ch] * invstd[ch] * inner;
        }
      }
    }
  }
}
