package io.plugkit.ops;

import static io.plugkit.ops.ElementwiseTest.assertMessage;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Ref.Arr;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ReductionsTest {
  // Float sums of up to a few hundred O(1) terms against double references.
  private static final double ATOL = 1e-4;
  private static final double RTOL = 1e-5;

  private static final String[] FIXTURES = {"sum_dims0_2_keep", "mean_dims1_3", "sum_dim1_inner", "mean_dims0_last_keep",
      "sum_long_rows", "sum_all", "mean_all"};

  private record Case(int[] shape, int[] dims, boolean keepDim) {}

  /** Adjacent and non-adjacent dim sets, negative dims, long rows, size-1 and size-0 dims. */
  private static final Case[] CASES = {
      new Case(new int[] {3, 4, 5, 2}, new int[] {0, 2}, true), new Case(new int[] {3, 4, 5, 2}, new int[] {0, 2}, false),
      new Case(new int[] {3, 4, 5, 2}, new int[] {1, -1}, false), new Case(new int[] {3, 4, 5, 2}, new int[] {-1}, true),
      new Case(new int[] {3, 4, 5, 2}, new int[] {}, false), new Case(new int[] {3, 4, 5, 2}, new int[] {1, 2}, false),
      new Case(new int[] {2, 600}, new int[] {1}, false), new Case(new int[] {600, 3}, new int[] {0}, true),
      new Case(new int[] {2, 1, 3}, new int[] {1}, false), new Case(new int[] {4, 1, 3, 1}, new int[] {1, 3}, true),
      new Case(new int[] {2, 3, 2, 3, 2, 3, 2}, new int[] {0, 2, 4, 6}, false),
      new Case(new int[] {4, 0, 3}, new int[] {1}, false), new Case(new int[] {4, 0, 3}, new int[] {0}, true),
      new Case(new int[] {}, new int[] {0}, false), new Case(new int[] {}, new int[] {-1}, true)};

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : FIXTURES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents fx = Fixtures.load("reduce/" + name);
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        boolean mean = fx.metadata().get("op").equals("mean");
        String dims = fx.metadata().get("dims");
        boolean keepDim = fx.metadata().get("keepdim").equals("1");
        Tensor y;
        if (dims.isEmpty()) {
          y = mean ? Reductions.mean(x) : Reductions.sum(x);
        } else {
          int[] ds = Arrays.stream(dims.split(",")).mapToInt(Integer::parseInt).toArray();
          y = mean ? Reductions.mean(x, ds, keepDim) : Reductions.sum(x, ds, keepDim);
        }
        assertArrayEquals(fx.get("out.y").shape().dims(), y.dims(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-6, 1e-6, name + " grad");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchReference(Device d) {
    TestDevices.assumeUsable(d);
    int seed = 10;
    for (Case c : CASES) {
      for (boolean mean : new boolean[] {false, true}) {
        String what = (mean ? "mean " : "sum ") + Arrays.toString(c.shape()) + " dims " + Arrays.toString(c.dims())
            + (c.keepDim() ? " keepDim" : "");
        try (Scope s = Scope.open()) {
          Tensor x = Tensor.randn(d, seed++, c.shape()).requiresGrad(true);
          Tensor y = mean ? Reductions.mean(x, c.dims(), c.keepDim()) : Reductions.sum(x, c.dims(), c.keepDim());
          boolean[] reduced = reduced(c.shape().length, c.dims());
          Arr ref = Ref.reduceKeep(Arr.of(x), reduced, mean);
          assertArrayEquals(expectedShape(c.shape(), reduced, c.keepDim()), y.dims(), what + " shape");
          assertClose(ref.v(), y.toArray(), ATOL, RTOL, what + " y");
          Tensor gout = Tensor.randn(d, seed++, y.dims());
          y.backward(gout);
          long count = 1;
          for (int i = 0; i < reduced.length; i++) if (reduced[i]) count *= c.shape()[i];
          Arr rg = new Arr(ref.shape(), Arr.of(gout).v());
          double scale = mean ? 1.0 / count : 1;
          Arr dx = Ref.map(Ref.expand(rg, c.shape()), g -> g * scale);
          assertClose(dx.v(), x.grad().toArray(), 1e-6, 1e-5, what + " grad");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyReductionsFollowPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 0, 3);
      assertArrayEquals(new float[] {0, 0, 0}, Reductions.sum(x, new int[] {0}, false).toArray(), "empty sum is 0");
      float[] m = Reductions.mean(x, new int[] {0}, false).toArray();
      for (float v : m) assertTrue(Float.isNaN(v), "empty mean is NaN");
      assertArrayEquals(new int[0], Reductions.sum(x).dims());
      assertTrue(Float.isNaN(Reductions.mean(x).item()), "empty mean of all is NaN");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void sumOfManyValuesStaysAccurate(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 5, 0f, 1f, 100_003);
      double expected = 0;
      for (float v : x.toArray()) expected += v;
      // The host accumulates in double and the GPU in a block tree: a relative error near 1e-6,
      // far below the 1e-2 a naive running float sum of 1e5 terms can reach.
      assertClose(new double[] {expected}, new float[] {Reductions.sum(x).item()}, 0, 1e-5, "sum of 100003");
      assertClose(new double[] {expected / 100_003}, new float[] {Reductions.mean(x).item()}, 0, 1e-5, "mean");
    }
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 3);
      assertMessage(() -> Reductions.sum(x, new int[] {2}, false), "dims: expected an axis in [-2, 1] but got 2");
      assertMessage(() -> Reductions.mean(x, new int[] {1, -1}, false), "dims: expected distinct dims");
      assertMessage(() -> Reductions.sum(x, null, true), "dims: expected an array");
      assertMessage(() -> Reductions.sum(null), "x: expected a tensor but got null");
      Tensor freed = Tensor.zeros(d, 2);
      freed.close();
      assertMessage(() -> Reductions.mean(freed), "x: expected a live tensor");
      assertMessage(() -> Reductions.sum(Tensor.zeros(d), new int[] {1}, false), "dims: expected an axis in [-1, 0]");
    }
  }

  private static boolean[] reduced(int rank, int[] dims) {
    boolean[] r = new boolean[rank];
    if (dims.length == 0) Arrays.fill(r, true);
    for (int dim : dims) if (rank > 0) r[dim < 0 ? dim + rank : dim] = true;
    return r;
  }

  private static int[] expectedShape(int[] shape, boolean[] reduced, boolean keepDim) {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < shape.length; i++) {
      if (!reduced[i]) out.add(shape[i]);
      else if (keepDim) out.add(1);
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }
}
