package io.plugkit.ops;

import static io.plugkit.ops.ConvTest.assertNames;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

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

class LinearTest {
  // FP32 dot products of a few dozen values in [-1, 1) against FP64 or PyTorch's FP32 order.
  private static final double ATOL = 1e-5;
  private static final double RTOL = 1e-4;

  static Stream<Arguments> linearFixtures() {
    return TestDevices.all().flatMap(d -> Stream.of("linear_3d", "linear_2d_nobias", "linear_1d").map(n -> Arguments.of(d, n)));
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("linearFixtures")
  void linearMatchesPyTorch(Device device, String name) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("linear/" + name);
    try (Scope s = Scope.open()) {
      Tensor x = f.tensor("in.x", device).requiresGrad(true);
      Tensor w = f.tensor("in.weight", device).requiresGrad(true);
      boolean hasBias = f.tensors().containsKey("in.bias");
      Tensor b = hasBias ? f.tensor("in.bias", device).requiresGrad(true) : null;
      Tensor y = Linear.linear(x, w, b);
      assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), "y shape");
      assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
      y.backward(f.tensor("in.gout", device));
      assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
      assertClose(f.get("grad.weight").toFloats(), w.grad().toArray(), ATOL, RTOL, name + " dweight");
      if (hasBias) assertClose(f.get("grad.bias").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " dbias");
    }
  }

  static Stream<Arguments> matmulFixtures() {
    return TestDevices.all().flatMap(d -> Stream.of("matmul_2d", "matmul_batched", "matmul_b2d", "matmul_a2d",
        "matmul_broadcast_4d", "matmul_vec_mat", "matmul_mat_vec").map(n -> Arguments.of(d, n)));
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("matmulFixtures")
  void matmulMatchesPyTorch(Device device, String name) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("linear/" + name);
    try (Scope s = Scope.open()) {
      Tensor a = f.tensor("in.a", device).requiresGrad(true);
      Tensor b = f.tensor("in.b", device).requiresGrad(true);
      Tensor y = Linear.matmul(a, b);
      assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), "y shape");
      assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
      y.backward(f.tensor("in.gout", device));
      assertClose(f.get("grad.a").toFloats(), a.grad().toArray(), ATOL, RTOL, name + " da");
      assertClose(f.get("grad.b").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " db");
    }
  }

  static Stream<Arguments> matmulShapes() {
    return TestDevices.all().flatMap(d -> Stream.of(
        Arguments.of(d, new int[] {2, 3, 1, 4, 5}, new int[] {3, 2, 5, 3}), // batch [2,3,1] x [3,2] -> [2,3,2]
        Arguments.of(d, new int[] {1, 3, 4}, new int[] {5, 4, 2}), // a broadcast along a size-1 dim
        Arguments.of(d, new int[] {7, 1, 6}, new int[] {6, 3}), // b not batched: one folded GEMM
        Arguments.of(d, new int[] {3, 0}, new int[] {0, 4}), // k = 0: zeros
        Arguments.of(d, new int[] {0, 2, 3}, new int[] {3, 4}), // empty batch
        Arguments.of(d, new int[] {2, 3}, new int[] {0, 3, 4}))); // a broadcast to an empty batch: da = 0
  }

  @ParameterizedTest(name = "{1} x {2} on {0}")
  @MethodSource("matmulShapes")
  void matmulMatchesReference(Device device, int[] as, int[] bs) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.uniform(device, 1, -1, 1, as).requiresGrad(true);
      Tensor b = Tensor.uniform(device, 2, -1, 1, bs).requiresGrad(true);
      Tensor y = Linear.matmul(a, b);
      MatmulReference r = new MatmulReference(as, bs);
      assertArrayEquals(r.outDims, y.dims(), "y shape");
      float[] av = a.toArray();
      float[] bv = b.toArray();
      assertClose(r.forward(av, bv), y.toArray(), ATOL, RTOL, "y");
      Tensor gout = Tensor.uniform(device, 3, -1, 1, y.dims());
      y.backward(gout);
      float[] g = gout.toArray();
      assertClose(r.gradA(g, bv), a.grad().toArray(), ATOL, RTOL, "da");
      assertClose(r.gradB(av, g), b.grad().toArray(), ATOL, RTOL, "db");
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void linearWithEmptyInputsMatchesDefinition(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      // no rows: empty output, zero weight and bias grads
      Tensor x = Tensor.zeros(device, 0, 3).requiresGrad(true);
      Tensor w = Tensor.ones(device, 2, 3).requiresGrad(true);
      Tensor b = Tensor.ones(device, 2).requiresGrad(true);
      Tensor y = Linear.linear(x, w, b);
      assertArrayEquals(new int[] {0, 2}, y.dims());
      y.backward(Tensor.zeros(device, 0, 2));
      assertArrayEquals(new float[6], w.grad().toArray());
      assertArrayEquals(new float[2], b.grad().toArray());
      // no input features: y is the bias
      Tensor x0 = Tensor.zeros(device, 2, 0);
      Tensor w0 = Tensor.zeros(device, 3, 0);
      Tensor b0 = Tensor.of(device, new float[] {1, 2, 3}, 3);
      assertArrayEquals(new float[] {1, 2, 3, 1, 2, 3}, Linear.linear(x0, w0, b0).toArray());
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void matmulOfTwoVectorsIsTheirDotProduct(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(device, new float[] {1, 2, 3}, 3).requiresGrad(true);
      Tensor b = Tensor.of(device, new float[] {4, -5, 6}, 3).requiresGrad(true);
      Tensor y = Linear.matmul(a, b);
      assertArrayEquals(new int[0], y.dims());
      assertArrayEquals(new float[] {12f}, y.toArray());
      y.backward(Tensor.full(device, 2f));
      assertArrayEquals(new float[] {8, -10, 12}, a.grad().toArray());
      assertArrayEquals(new float[] {2, 4, 6}, b.grad().toArray());
    }
  }

  @Test
  void rejectsBadInput() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(cpu, 2, 3);
      Tensor w = Tensor.zeros(cpu, 4, 3);
      assertNames("x", () -> Linear.linear(null, w, null));
      assertNames("x", () -> Linear.linear(Tensor.zeros(cpu, 2, 4), w, null));
      assertNames("weight", () -> Linear.linear(x, Tensor.zeros(cpu, 4, 3, 1), null));
      assertNames("weight", () -> Linear.linear(x, null, null));
      assertNames("bias", () -> Linear.linear(x, w, Tensor.zeros(cpu, 3)));
      assertNames("bias", () -> Linear.linear(x, w, Tensor.zeros(cpu, 1, 4)));
      assertNames("a", () -> Linear.matmul(null, w));
      assertNames("b", () -> Linear.matmul(x, null));
      assertNames("b", () -> Linear.matmul(x, Tensor.zeros(cpu, 4, 2))); // inner dims 3 vs 4
      assertNames("b", () -> Linear.matmul(Tensor.zeros(cpu, 2, 2, 3), Tensor.zeros(cpu, 3, 3, 2))); // batch 2 vs 3
      assertNames("b", () -> Linear.matmul(Tensor.zeros(cpu, 3), Tensor.zeros(cpu, 4)));
      assertNames("a", () -> Linear.matmul(Tensor.zeros(cpu), w));
    }
  }

  /** Naive batched product with explicit broadcasting, in double. */
  static final class MatmulReference {
    final int m, k, n, count;
    final int[] outDims, aBatch, bBatch, outBatch;

    MatmulReference(int[] as, int[] bs) {
      m = as[as.length - 2];
      k = as[as.length - 1];
      n = bs[bs.length - 1];
      aBatch = java.util.Arrays.copyOf(as, as.length - 2);
      bBatch = java.util.Arrays.copyOf(bs, bs.length - 2);
      int rank = Math.max(aBatch.length, bBatch.length);
      outBatch = new int[rank];
      int c = 1;
      for (int i = 0; i < rank; i++) {
        outBatch[i] = Math.max(at(aBatch, i, rank), at(bBatch, i, rank));
        if (at(aBatch, i, rank) == 0 || at(bBatch, i, rank) == 0) outBatch[i] = 0;
        c *= outBatch[i];
      }
      count = c;
      outDims = java.util.Arrays.copyOf(outBatch, rank + 2);
      outDims[rank] = m;
      outDims[rank + 1] = n;
    }

    private static int at(int[] dims, int i, int rank) {
      int j = i - (rank - dims.length);
      return j < 0 ? 1 : dims[j];
    }

    /** Index of output batch entry i in a batch of the given (right-aligned) dims. */
    private int source(int i, int[] dims) {
      int rank = outBatch.length;
      int[] coord = new int[rank];
      for (int d = rank - 1; d >= 0; d--) {
        coord[d] = i % outBatch[d];
        i /= outBatch[d];
      }
      int index = 0;
      for (int d = 0; d < rank; d++) {
        int size = at(dims, d, rank);
        index = index * size + (size == 1 ? 0 : coord[d]);
      }
      return index;
    }

    private int batchSize(int[] dims) {
      int s = 1;
      for (int d : dims) s *= d;
      return s;
    }

    double[] forward(float[] a, float[] b) {
      double[] y = new double[count * m * n];
      for (int i = 0; i < count; i++) {
        int ai = source(i, aBatch) * m * k;
        int bi = source(i, bBatch) * k * n;
        for (int r = 0; r < m; r++)
          for (int c = 0; c < n; c++)
            for (int t = 0; t < k; t++) y[(i * m + r) * n + c] += (double) a[ai + r * k + t] * b[bi + t * n + c];
      }
      return y;
    }

    double[] gradA(float[] g, float[] b) {
      double[] da = new double[batchSize(aBatch) * m * k];
      for (int i = 0; i < count; i++) {
        int ai = source(i, aBatch) * m * k;
        int bi = source(i, bBatch) * k * n;
        for (int r = 0; r < m; r++)
          for (int c = 0; c < n; c++)
            for (int t = 0; t < k; t++) da[ai + r * k + t] += (double) g[(i * m + r) * n + c] * b[bi + t * n + c];
      }
      return da;
    }

    double[] gradB(float[] a, float[] g) {
      double[] db = new double[batchSize(bBatch) * k * n];
      for (int i = 0; i < count; i++) {
        int ai = source(i, aBatch) * m * k;
        int bi = source(i, bBatch) * k * n;
        for (int r = 0; r < m; r++)
          for (int c = 0; c < n; c++)
            for (int t = 0; t < k; t++) db[bi + t * n + c] += (double) a[ai + r * k + t] * g[(i * m + r) * n + c];
      }
      return db;
    }
  }

  // A batch of 2^28 empty matrices built three long[2^28] index arrays (6 GiB) before doing
  // nothing; k = 0 is a product of zeros. Both now allocate no more than their outputs.
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void zeroSizeMatmulAllocatesNoPerBatchIndexArrays(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.zeros(d, 1 << 28, 0, 5).requiresGrad(true);
      Tensor b = Tensor.uniform(d, 7, -1f, 1f, 5, 3).requiresGrad(true);
      Tensor c = Linear.matmul(a, b);
      assertArrayEquals(new int[] {1 << 28, 0, 3}, c.dims());
      c.backward(Tensor.zeros(d, c.dims()));
      assertArrayEquals(new int[] {1 << 28, 0, 5}, a.grad().dims());
      assertArrayEquals(new float[15], b.grad().toArray());

      // k = 0: a product of zeros.
      Tensor a2 = Tensor.zeros(d, 2, 3, 0).requiresGrad(true);
      Tensor b2 = Tensor.zeros(d, 0, 4).requiresGrad(true);
      Tensor k0 = Linear.matmul(a2, b2);
      assertArrayEquals(new int[] {2, 3, 4}, k0.dims());
      assertArrayEquals(new float[24], k0.toArray());
      k0.backward(Tensor.ones(d, 2, 3, 4));
      assertArrayEquals(new int[] {2, 3, 0}, a2.grad().dims());
      assertArrayEquals(new int[] {0, 4}, b2.grad().dims());
    }
  }
}
