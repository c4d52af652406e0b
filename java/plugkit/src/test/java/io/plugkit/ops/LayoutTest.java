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

class LayoutTest {
  // Layout ops copy values: outputs and copy-only gradients must match exactly.
  private static final double EXACT = 0;
  // expand's gradient is a float sum over up to 20 terms.
  private static final double SUM_ATOL = 1e-5;

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void singleOutputOpsMatchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : new String[] {"permute_4d", "slice_step", "slice_negative", "expand"}) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("layout/" + name);
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        var meta = fx.metadata();
        Tensor y = switch (name) {
          case "permute_4d" -> Layout.permute(x, ints(meta.get("dims")));
          case "expand" -> Layout.expand(x, ints(meta.get("dims")));
          default -> Layout.slice(x, Integer.parseInt(meta.get("dim")), Integer.parseInt(meta.get("start")),
              Integer.parseInt(meta.get("end")), Integer.parseInt(meta.get("step")));
        };
        assertArrayEquals(fx.get("out.y").shape().dims(), y.dims(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), EXACT, 0, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), name.equals("expand") ? SUM_ATOL : EXACT, 0,
            name + " grad");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void concatOfThreeMatchesPyTorchFixture(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("layout/concat3_dim1");
      Tensor[] xs = new Tensor[3];
      for (int k = 0; k < 3; k++) xs[k] = fx.tensor("in.x" + k, d).requiresGrad(true);
      Tensor y = Layout.concat(Integer.parseInt(fx.metadata().get("dim")), xs);
      assertArrayEquals(fx.get("out.y").shape().dims(), y.dims());
      assertClose(fx.get("out.y").toFloats(), y.toArray(), EXACT, 0, "concat y");
      y.backward(fx.tensor("in.gout", d));
      for (int k = 0; k < 3; k++) {
        assertClose(fx.get("grad.x" + k).toFloats(), xs[k].grad().toArray(), EXACT, 0, "concat grad " + k);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void unevenChunkMatchesPyTorchFixture(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("layout/chunk_uneven");
      Tensor x = fx.tensor("in.x", d).requiresGrad(true);
      Tensor[] ys = Layout.chunk(x, Integer.parseInt(fx.metadata().get("chunks")), Integer.parseInt(fx.metadata().get("dim")));
      assertEquals(Integer.parseInt(fx.metadata().get("count")), ys.length);
      Tensor loss = null;
      for (int k = 0; k < ys.length; k++) {
        assertArrayEquals(fx.get("out.y" + k).shape().dims(), ys[k].dims(), "chunk " + k + " shape");
        assertClose(fx.get("out.y" + k).toFloats(), ys[k].toArray(), EXACT, 0, "chunk " + k);
        Tensor part = Reductions.sum(Elementwise.mul(ys[k], fx.tensor("in.gout" + k, d)));
        loss = loss == null ? part : Elementwise.add(loss, part);
      }
      loss.backward();
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), EXACT, 0, "chunk grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void permuteAndTransposeMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][][] cases = {{{2, 3, 4, 5}, {3, 1, 0, 2}}, {{4, 1, 3}, {-1, 0, 1}}, {{2, 3, 2, 3, 2, 3, 2, 3}, {7, 6, 5, 4, 3, 2, 1, 0}},
        {{5}, {0}}, {{}, {}}, {{3, 0, 2}, {2, 1, 0}}};
    for (int[][] c : cases) {
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.randn(d, 30, c[0]).requiresGrad(true);
        Tensor y = Layout.permute(x, c[1]);
        int[] perm = Arrays.stream(c[1]).map(p -> p < 0 ? p + c[0].length : p).toArray();
        String what = "permute " + Arrays.toString(c[0]) + " by " + Arrays.toString(c[1]);
        Arr ry = Ref.permute(Arr.of(x), perm);
        assertArrayEquals(ry.shape(), y.dims(), what);
        assertClose(ry.v(), y.toArray(), EXACT, 0, what);
        Tensor gout = Tensor.randn(d, 31, y.dims());
        y.backward(gout);
        int[] inverse = new int[perm.length];
        for (int i = 0; i < perm.length; i++) inverse[perm[i]] = i;
        assertClose(Ref.permute(Arr.of(gout), inverse).v(), x.grad().toArray(), EXACT, 0, what + " grad");
      }
    }
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.randn(d, 32, 2, 3, 4);
      assertClose(Ref.permute(Arr.of(x), new int[] {2, 1, 0}).v(), Layout.transpose(x, 0, -1).toArray(), EXACT, 0, "transpose");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sliceFollowsPythonBounds(Device d) {
    TestDevices.assumeUsable(d);
    // {start, end, step} on a dim of size 10, with the expected Python range(10)[start:end:step].
    int[][] cases = {{1, 9, 3}, {-7, -1, 2}, {-100, 3, 1}, {8, 2, 1}, {0, 100, 4}, {5, 5, 1}, {-1, 10, 1}, {0, 10, 20}};
    for (int[] c : cases) {
      String what = "slice " + Arrays.toString(c);
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.randn(d, 40, 3, 10, 2).requiresGrad(true);
        Tensor y = Layout.slice(x, -2, c[0], c[1], c[2]);
        int start = Math.max(0, Math.min(c[0] < 0 ? c[0] + 10 : c[0], 10));
        int end = Math.max(start, Math.min(c[1] < 0 ? c[1] + 10 : c[1], 10));
        int count = (end - start + c[2] - 1) / c[2];
        Arr ry = Ref.slice(Arr.of(x), 1, start, count, c[2]);
        assertArrayEquals(ry.shape(), y.dims(), what);
        assertClose(ry.v(), y.toArray(), EXACT, 0, what);
        Tensor gout = Tensor.randn(d, 41, y.dims());
        y.backward(gout);
        assertClose(Ref.unslice(Arr.of(gout), x.dims(), 1, start, c[2]).v(), x.grad().toArray(), EXACT, 0, what + " grad");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void concatMatchesReferenceIncludingEmptyPieces(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.randn(d, 50, 2, 3, 4).requiresGrad(true);
      Tensor b = Tensor.randn(d, 51, 2, 3, 0).requiresGrad(true);
      Tensor c = Tensor.randn(d, 52, 2, 3, 1);
      Tensor y = Layout.concat(-1, a, b, c);
      Arr ry = Ref.concat(2, Arr.of(a), Arr.of(b), Arr.of(c));
      assertArrayEquals(new int[] {2, 3, 5}, y.dims());
      assertClose(ry.v(), y.toArray(), EXACT, 0, "concat");
      Tensor gout = Tensor.randn(d, 53, 2, 3, 5);
      y.backward(gout);
      assertClose(Ref.slice(Arr.of(gout), 2, 0, 4, 1).v(), a.grad().toArray(), EXACT, 0, "grad a");
      assertArrayEquals(new int[] {2, 3, 0}, b.grad().dims());
      assertEquals(null, c.grad(), "c does not require grad");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void chunkAndSplitSizes(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.randn(d, 60, 6, 2);
      assertArrayEquals(new int[] {2, 2, 2}, sizes(Layout.chunk(x, 4, 0), 0), "torch.chunk(6 rows, 4) gives 3 pieces");
      assertArrayEquals(new int[] {2, 2, 2}, sizes(Layout.chunk(x, 3, 0), 0));
      assertArrayEquals(new int[] {6}, sizes(Layout.chunk(x, 1, 0), 0));
      assertArrayEquals(new int[] {1, 1}, sizes(Layout.chunk(x, 5, -1), 1));
      assertArrayEquals(new int[] {0, 0, 0}, sizes(Layout.chunk(Tensor.zeros(d, 0, 2), 3, 0), 0), "size 0 gives chunks empties");
      Tensor[] parts = Layout.split(x, new int[] {1, 0, 5}, 0);
      assertArrayEquals(new int[] {1, 0, 5}, sizes(parts, 0));
      assertClose(Ref.slice(Arr.of(x), 0, 1, 5, 1).v(), parts[2].toArray(), EXACT, 0, "split piece");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void expandMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][][] cases = {{{3, 1, 2}, {4, 3, 5, 2}}, {{}, {2, 3}}, {{1}, {0}}, {{2, 1}, {-1, 4}}, {{1, 3, 1}, {2, 1, 3, 6}}};
    for (int[][] c : cases) {
      String what = "expand " + Arrays.toString(c[0]) + " to " + Arrays.toString(c[1]);
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.randn(d, 70, c[0]).requiresGrad(true);
        Tensor y = Layout.expand(x, c[1]);
        int[] shape = c[1].clone();
        for (int i = 0; i < shape.length; i++) if (shape[i] == -1) shape[i] = c[0][i - (shape.length - c[0].length)];
        Arr ry = Ref.expand(Arr.of(x), shape);
        assertArrayEquals(shape, y.dims(), what);
        assertClose(ry.v(), y.toArray(), EXACT, 0, what);
        Tensor gout = Tensor.randn(d, 71, shape);
        y.backward(gout);
        assertClose(Ref.sumTo(Arr.of(gout), c[0]).v(), x.grad().toArray(), SUM_ATOL, 0, what + " grad");
      }
    }
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 3);
      assertMessage(() -> Layout.permute(x, 0), "dims: expected a permutation of 2 dims");
      assertMessage(() -> Layout.permute(x, 1, 1), "dims: expected a permutation of 2 dims");
      assertMessage(() -> Layout.permute(x, 0, 2), "dims: expected an axis in [-2, 1] but got 2");
      assertMessage(() -> Layout.transpose(x, 0, 5), "b: expected an axis");
      assertMessage(() -> Layout.concat(0), "tensors: expected at least one tensor");
      assertMessage(() -> Layout.concat(0, x, Tensor.zeros(d, 2, 4)), "tensors[1]: expected the shape of tensors[0] [2, 3] except at dim 0");
      assertMessage(() -> Layout.concat(1, x, Tensor.zeros(d, 2)), "tensors[1]: expected rank 2");
      assertMessage(() -> Layout.concat(2, x, x), "dim: expected an axis");
      assertMessage(() -> Layout.concat(0, x, null), "tensors[1]: expected a tensor but got null");
      assertMessage(() -> Layout.concat(0, Tensor.zeros(d), Tensor.zeros(d)), "tensors[0]: expected rank >= 1");
      assertMessage(() -> Layout.slice(x, 0, 0, 2, 0), "step: expected > 0 but got 0");
      assertMessage(() -> Layout.slice(x, 2, 0, 1), "dim: expected an axis");
      assertMessage(() -> Layout.chunk(x, 0, 0), "chunks: expected > 0");
      assertMessage(() -> Layout.split(x, new int[] {1, 1}, 1), "sizes: expected sizes summing to 3");
      assertMessage(() -> Layout.split(x, new int[] {3, -1}, 0), "sizes: expected >= 0");
      assertMessage(() -> Layout.expand(x, 4, 3), "dims: expected size 2 or -1 at dim 0");
      assertMessage(() -> Layout.expand(x, 3), "dims: expected at least 2 sizes");
      assertMessage(() -> Layout.expand(x, -1, 2, 3), "dims: expected a size >= 0 at dim 0");
      Tensor freed = Tensor.zeros(d, 2, 3);
      freed.close();
      assertMessage(() -> Layout.permute(freed, 1, 0), "x: expected a live tensor");
      assertMessage(() -> Layout.concat(0, x, freed), "tensors[1]: expected a live tensor");
      assertMessage(() -> Layout.slice(freed, 0, 0, 1), "x: expected a live tensor");
    }
  }

  @Test
  void concatRejectsMixedDevices() {
    TestDevices.assumeUsable(Device.cuda(0));
    try (Scope s = Scope.open()) {
      assertMessage(() -> Layout.concat(0, Tensor.zeros(Device.cpu(), 2), Tensor.zeros(Device.cuda(0), 2)),
          "tensors[1]: expected device cpu");
    }
  }

  private static int[] ints(String csv) { return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray(); }

  private static int[] sizes(Tensor[] parts, int dim) {
    return Arrays.stream(parts).mapToInt(t -> t.dim(dim)).toArray();
  }
}
