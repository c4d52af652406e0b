package io.plugkit.ops;

import static io.plugkit.ops.ElementwiseTest.assertMessage;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Ref.Arr;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SoftmaxTest {
  // expf/logf in float against double: a few ulp per value, rows of at most 600 terms.
  private static final double ATOL = 1e-6;
  private static final double RTOL = 1e-5;

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void nanAndInfinityFollowPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    float nan = Float.NaN, inf = Float.POSITIVE_INFINITY;
    // Rows of 11 along the last dim: 8 values in vector lanes, 3 in the tail. PyTorch: a NaN or a
    // +inf anywhere, or a row of -inf only, gives a NaN row; a -inf entry alone is a masked 0.
    float[][] rows = new float[5][11];
    for (float[] r : rows) for (int j = 0; j < 11; j++) r[j] = (j % 5) * 0.5f - 1f;
    rows[0][9] = nan;
    rows[1][2] = nan;
    Arrays.fill(rows[2], -inf);
    rows[3][10] = inf;
    rows[4][0] = -inf;
    rows[4][9] = -inf;
    float[] flat = new float[55];
    for (int r = 0; r < 5; r++) System.arraycopy(rows[r], 0, flat, r * 11, 11);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, flat, 5, 11);
      float[] y = Softmax.softmax(x, 1).toArray();
      float[] logY = Softmax.logSoftmax(x, 1).toArray();
      for (int r = 0; r < 4; r++) {
        for (int j = 0; j < 11; j++) {
          assertEquals(Float.NaN, y[r * 11 + j], "softmax row " + r + " col " + j);
          assertEquals(Float.NaN, logY[r * 11 + j], "log_softmax row " + r + " col " + j);
        }
      }
      double sum = 0;
      for (int j = 0; j < 11; j++) if (j != 0 && j != 9) sum += Math.exp(rows[4][j]);
      for (int j = 0; j < 11; j++) {
        boolean masked = j == 0 || j == 9;
        assertEquals(masked ? 0 : Math.exp(rows[4][j]) / sum, y[44 + j], 1e-6, "masked row, col " + j);
        if (masked) assertEquals(-inf, logY[44 + j], "log_softmax of a masked entry");
        else assertEquals(rows[4][j] - Math.log(sum), logY[44 + j], 1e-6, "masked row log, col " + j);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String op : new String[] {"softmax", "log_softmax"}) {
      for (int dim : new int[] {0, 1, -1}) {
        String name = op + "_dim" + dim;
        try (Scope s = Scope.open()) {
          SafeTensors.Contents fx = Fixtures.load("softmax/" + name);
          assertEquals(Integer.toString(dim), fx.metadata().get("dim"));
          Tensor x = fx.tensor("in.x", d).requiresGrad(true);
          Tensor y = op.equals("softmax") ? Softmax.softmax(x, dim) : Softmax.logSoftmax(x, dim);
          assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
          y.backward(fx.tensor("in.gout", d));
          assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " grad");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{2, 3, 4, 5}, {600}, {7, 1}, {3, 0, 2}, {}};
    int seed = 20;
    for (int[] shape : shapes) {
      for (int dim = -Math.max(shape.length, 1); dim < Math.max(shape.length, 1); dim++) {
        for (boolean log : new boolean[] {false, true}) {
          String what = (log ? "log_softmax " : "softmax ") + Arrays.toString(shape) + " dim " + dim;
          try (Scope s = Scope.open()) {
            // Scaled so that without the max subtraction exp would overflow.
            Tensor x = Elementwise.mulScalar(Tensor.randn(d, seed++, shape), 40f).requiresGrad(true);
            Tensor y = log ? Softmax.logSoftmax(x, dim) : Softmax.softmax(x, dim);
            int[] refShape = shape.length == 0 ? new int[] {1} : shape;
            int refDim = dim < 0 ? dim + refShape.length : dim;
            Arr rx = new Arr(refShape, Arr.of(x).v());
            Arr ry = Ref.softmax(rx, refDim, log);
            assertArrayEquals(shape, y.dims(), what + " shape");
            // log_softmax of a large negative gap is itself large: the relative bound carries it.
            assertClose(ry.v(), y.toArray(), ATOL, 1e-5, what + " y");
            Tensor gout = Tensor.randn(d, seed++, shape);
            y.backward(gout);
            Arr dx = Ref.softmaxBackward(ry, new Arr(refShape, Arr.of(gout).v()), refDim, log);
            assertClose(dx.v(), x.grad().toArray(), 1e-5, 1e-4, what + " grad");
          }
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void largeInputsDoNotOverflow(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(d, new float[] {1000f, 1000f, -1000f, 90f}, 4);
      assertClose(new float[] {0.5f, 0.5f, 0f, 0f}, Softmax.softmax(x, 0).toArray(), 1e-7, 0, "softmax");
      assertClose(new float[] {(float) -Math.log(2), (float) -Math.log(2), -2000f - (float) Math.log(2), -910f - (float) Math.log(2)},
          Softmax.logSoftmax(x, -1).toArray(), 1e-4, 1e-6, "log_softmax");
    }
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 3);
      assertMessage(() -> Softmax.softmax(x, 2), "dim: expected an axis in [-2, 1] but got 2");
      assertMessage(() -> Softmax.logSoftmax(x, -3), "dim: expected an axis in [-2, 1] but got -3");
      assertMessage(() -> Softmax.softmax(null, 0), "x: expected a tensor but got null");
      Tensor freed = Tensor.zeros(d, 2);
      freed.close();
      assertMessage(() -> Softmax.logSoftmax(freed, 0), "x: expected a live tensor");
    }
  }
}
