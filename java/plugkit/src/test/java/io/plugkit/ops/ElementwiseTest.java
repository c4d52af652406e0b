package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Ref.Arr;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.function.BinaryOperator;
import java.util.function.DoubleBinaryOperator;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ElementwiseTest {
  // One float rounding per output, plus float sums of at most ~100 terms in the gradients.
  private static final double ATOL = 1e-5;
  private static final double RTOL = 1e-5;

  private static final String[] BINARY_FIXTURES = {"add_2x1x5_3x1", "sub_4_2x3x1", "mul_2x3x4x5_3x1x5", "div_2x1x3_4x1",
      "div_5x3_scalar", "mul_same_7x3", "add_rank8"};

  /** Shape pairs: odd broadcasts, rank 0, size 0, same shapes, shapes differing only by 1-dims. */
  private static final int[][][] SHAPES = {
      {{2, 1, 5}, {3, 1}}, {{}, {3, 4}}, {{4, 1}, {1, 5}}, {{0, 3}, {1, 3}}, {{3, 1, 1, 2}, {5, 1}},
      {{6, 7}, {6, 7}}, {{1, 3}, {3}}, {{}, {}}, {{2, 3, 4, 5, 6, 7, 2}, {3, 1, 5, 1, 7, 1}}};

  private record Op(String name, BinaryOperator<Tensor> op, DoubleBinaryOperator f, DoubleBinaryOperator da,
      DoubleBinaryOperator db) {}

  private static final Op[] OPS = {
      new Op("add", Elementwise::add, Double::sum, (a, b) -> 1, (a, b) -> 1),
      new Op("sub", Elementwise::sub, (a, b) -> a - b, (a, b) -> 1, (a, b) -> -1),
      new Op("mul", Elementwise::mul, (a, b) -> a * b, (a, b) -> b, (a, b) -> a),
      new Op("div", Elementwise::div, (a, b) -> a / b, (a, b) -> 1 / b, (a, b) -> -a / (b * b))};

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void binaryOpsMatchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : BINARY_FIXTURES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("elementwise/" + name);
        Tensor a = fx.tensor("in.a", d).requiresGrad(true);
        Tensor b = fx.tensor("in.b", d).requiresGrad(true);
        Op op = op(fx.metadata().get("op"));
        Tensor y = op.op().apply(a, b);
        assertArrayEquals(fx.get("out.y").shape().dims(), y.dims(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.a").toFloats(), a.grad().toArray(), ATOL, RTOL, name + " grad a");
        assertClose(fx.get("grad.b").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " grad b");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void binaryOpsMatchReferenceOnOddBroadcasts(Device d) {
    TestDevices.assumeUsable(d);
    int seed = 1;
    for (int[][] pair : SHAPES) {
      for (Op op : OPS) {
        String what = op.name() + " " + java.util.Arrays.deepToString(pair);
        try (Scope s = Scope.open()) {
          Tensor a = Tensor.randn(d, seed++, pair[0]).requiresGrad(true);
          // Divisors in [0.5, 1.5]: far from 0, so the float result is well conditioned.
          Tensor b = Tensor.uniform(d, seed++, 0.5f, 1.5f, pair[1]).requiresGrad(true);
          Tensor y = op.op().apply(a, b);
          Arr ra = Arr.of(a);
          Arr rb = Arr.of(b);
          Arr ry = Ref.binary(ra, rb, op.f());
          assertArrayEquals(ry.shape(), y.dims(), what + " shape");
          assertClose(ry.v(), y.toArray(), ATOL, RTOL, what + " y");
          Tensor gout = Tensor.randn(d, seed++, y.dims());
          y.backward(gout);
          Arr rg = Arr.of(gout);
          Arr ga = Ref.sumTo(Ref.binary(Ref.binary(ra, rb, op.da()), rg, (p, g) -> p * g), ra.shape());
          Arr gb = Ref.sumTo(Ref.binary(Ref.binary(ra, rb, op.db()), rg, (p, g) -> p * g), rb.shape());
          // Gradients are sums over up to 7*6*2 broadcast terms of O(1) values.
          assertClose(ga.v(), a.grad().toArray(), 1e-4, RTOL, what + " grad a");
          assertClose(gb.v(), b.grad().toArray(), 1e-4, RTOL, what + " grad b");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void scalarOpsAndNegMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    record ScalarOp(String name, UnaryOperator<Tensor> op, java.util.function.DoubleUnaryOperator f, double slope) {}
    float s = 1.75f;
    ScalarOp[] ops = {
        new ScalarOp("addScalar", x -> Elementwise.addScalar(x, s), v -> v + s, 1),
        new ScalarOp("subScalar", x -> Elementwise.subScalar(x, s), v -> v - s, 1),
        new ScalarOp("mulScalar", x -> Elementwise.mulScalar(x, s), v -> v * s, s),
        new ScalarOp("divScalar", x -> Elementwise.divScalar(x, s), v -> v / s, 1 / (double) s),
        new ScalarOp("neg", Elementwise::neg, v -> -v, -1)};
    for (ScalarOp op : ops) {
      try (Scope sc = Scope.open()) {
        Tensor x = Tensor.randn(d, 7, 3, 5).requiresGrad(true);
        Tensor y = op.op().apply(x);
        assertClose(Ref.map(Arr.of(x), op.f()).v(), y.toArray(), ATOL, RTOL, op.name() + " y");
        Tensor gout = Tensor.randn(d, 8, 3, 5);
        y.backward(gout);
        assertClose(Ref.map(Arr.of(gout), g -> g * op.slope()).v(), x.grad().toArray(), ATOL, RTOL, op.name() + " grad");
      }
    }
  }

  // relu(NaN) = NaN (PyTorch's clamp_min); backward x <= 0 ? 0 : g (threshold_backward), so NaN
  // passes the gradient and a NaN gradient at x < 0 gives 0. Exact: selects, no arithmetic.
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void reluMatchesPyTorchAtNaNInfinityAndZero(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("elementwise/relu_edges");
      Tensor x = fx.tensor("in.x", d).requiresGrad(true);
      Tensor y = Activations.relu(x);
      assertClose(fx.get("out.y").toFloats(), y.toArray(), 0, 0, "relu y");
      y.backward(fx.tensor("in.gout", d));
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 0, 0, "relu grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sigmoidAndTanhMatchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : new String[] {"sigmoid", "tanh"}) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("elementwise/" + name);
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = name.equals("sigmoid") ? Activations.sigmoid(x) : Activations.tanh(x);
        // expf/tanhf differ from PyTorch's vectorised versions by a few ulp.
        assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-6, 1e-5, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-6, 1e-5, name + " grad");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sigmoidAndTanhMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 3, -6f, 6f, 4097).requiresGrad(true); // above the OpenMP threshold
      Tensor gout = Tensor.randn(d, 4, 4097);
      Arr rx = Arr.of(x);
      Arr rg = Arr.of(gout);
      Tensor sig = Activations.sigmoid(x);
      Arr rs = Ref.map(rx, v -> 1 / (1 + Math.exp(-v)));
      assertClose(rs.v(), sig.toArray(), 1e-6, 1e-5, "sigmoid");
      sig.backward(gout);
      assertClose(Ref.binary(rs, rg, (y, g) -> g * y * (1 - y)).v(), x.grad().toArray(), 1e-6, 1e-5, "sigmoid grad");
      x.zeroGrad();
      Tensor th = Activations.tanh(x);
      Arr rt = Ref.map(rx, Math::tanh);
      assertClose(rt.v(), th.toArray(), 1e-6, 1e-5, "tanh");
      th.backward(gout);
      assertClose(Ref.binary(rt, rg, (y, g) -> g * (1 - y * y)).v(), x.grad().toArray(), 1e-6, 1e-5, "tanh grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyAndRankZeroShapes(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.zeros(d, 0, 3).requiresGrad(true);
      Tensor b = Tensor.ones(d, 3).requiresGrad(true);
      Tensor y = Elementwise.mul(a, b);
      assertArrayEquals(new int[] {0, 3}, y.dims());
      y.backward(Tensor.zeros(d, 0, 3));
      assertArrayEquals(new int[] {0, 3}, a.grad().dims());
      assertArrayEquals(new float[] {0, 0, 0}, b.grad().toArray(), "an empty broadcast sums to 0");
      Tensor p = Tensor.of(d, new float[] {3f});
      Tensor q = Tensor.of(d, new float[] {4f});
      Tensor r = Elementwise.div(p, q);
      assertArrayEquals(new int[0], r.dims());
      assertArrayEquals(new float[] {0.75f}, r.toArray());
    }
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.zeros(d, 2, 3);
      Tensor wrong = Tensor.zeros(d, 4);
      assertMessage(() -> Elementwise.add(a, wrong), "b: expected a shape broadcastable with [2, 3]");
      assertMessage(() -> Elementwise.mul(Tensor.zeros(d, 2, 1, 3), Tensor.zeros(d, 4, 2)), "b:");
      assertMessage(() -> Elementwise.sub(null, a), "a: expected a tensor but got null");
      assertMessage(() -> Elementwise.div(a, Tensor.ofLongs(d, new long[] {1, 2, 3}, 3)), "b: expected dtype F32");
      Tensor freed = Tensor.zeros(d, 2, 3);
      freed.close();
      assertMessage(() -> Elementwise.add(a, freed), "b: expected a live tensor");
      assertMessage(() -> Elementwise.mulScalar(freed, 2f), "x: expected a live tensor");
      assertMessage(() -> Activations.sigmoid(null), "x: expected a tensor");
      assertMessage(() -> Activations.tanh(freed), "x: expected a live tensor");
    }
  }

  @Test
  void rejectsOperandsOnDifferentDevices() {
    TestDevices.assumeUsable(Device.cuda(0));
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.zeros(Device.cpu(), 3);
      Tensor b = Tensor.zeros(Device.cuda(0), 3);
      assertMessage(() -> Elementwise.add(a, b), "b: expected device cpu");
    }
  }

  static void assertMessage(org.junit.jupiter.api.function.Executable call, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
  }

  private static Op op(String name) {
    for (Op op : OPS) if (op.name().equals(name)) return op;
    throw new IllegalArgumentException(name);
  }
}
