package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Padding;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** torch.nn.Conv2d's string padding ("same", "valid") and padding modes, against PyTorch and the functional op. */
class Conv2dTest {
  /** The MODULE_CASES of tools/fixtures/fx_conv.py. */
  private static final List<String> CASES = List.of("same_k4_zeros", "same_k2x3_d31", "same_k3_d2_reflect_g2",
      "same_k4x2_circular", "p12_s2_replicate", "p2_d2_reflect", "valid_s2");

  private static int[] ints(String csv) { return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray(); }

  private static Conv2d fromFixture(SafeTensors.Contents f, Device d) {
    Map<String, String> m = f.metadata();
    int[] w = f.get("in.weight").shape().dims();
    int groups = Integer.parseInt(m.get("groups"));
    int[] stride = ints(m.get("stride"));
    int[] dilation = ints(m.get("dilation"));
    Conv2d conv = new Conv2d(w[1] * groups, w[0], w[2], w[3], groups, f.tensors().containsKey("in.bias"), d)
        .stride(stride[0], stride[1]).dilation(dilation[0], dilation[1]).paddingMode(m.get("padding_mode"));
    String padding = m.get("padding");
    if (padding.equals("same") || padding.equals("valid")) return conv.padding(padding);
    int[] p = ints(padding);
    return conv.padding(p[0], p[1]);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents f = Fixtures.load("conv/module_" + name);
        Conv2d conv = fromFixture(f, d);
        conv.weight().tensor().copyFrom(f.get("in.weight").toFloats(), 0);
        if (conv.bias() != null) conv.bias().tensor().copyFrom(f.get("in.bias").toFloats(), 0);
        Tensor x = f.tensor("in.x", d).requiresGrad(true);
        Tensor y = conv.forward(x);
        assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), name + " y shape");
        if (f.metadata().get("padding").equals("same")) assertArrayEquals(new int[] {x.dim(2), x.dim(3)},
            new int[] {y.dim(2), y.dim(3)}, name + " same: output size = input size");
        assertClose(f.get("out.y").toFloats(), y.toArray(), 1e-5, 1e-4, name + " y");
        y.backward(f.tensor("in.gout", d));
        // A padded copy's gradient flows back into x: replicated and wrapped edges sum several outputs.
        assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), 1e-4, 1e-4, name + " grad x");
        assertClose(f.get("grad.weight").toFloats(), conv.weight().grad().toArray(), 1e-4, 1e-4, name + " grad weight");
        if (conv.bias() != null) {
          assertClose(f.get("grad.bias").toFloats(), conv.bias().grad().toArray(), 1e-4, 1e-4, name + " grad bias");
        }
      }
    }
  }

  /**
   * 40 random nn.Conv2d (tools/fixtures/fx_conv.py random_module_case): string or int padding, every
   * padding mode, stride, dilation, groups. Where PyTorch raised (reflect padding not below the
   * size, a kernel past the padded map, ...), an IllegalArgumentException; elsewhere its values.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void randomModulesMatchPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents f = Fixtures.load("conv/module_fuzz");
    int count = Integer.parseInt(f.metadata().get("count"));
    for (int i = 0; i < count; i++) {
      String c = "c" + i + ".";
      String[] o = f.metadata().get("c" + i).split("\\|");
      int[] w = f.get(c + "in.weight").shape().dims();
      int groups = Integer.parseInt(o[3]);
      int[] stride = ints(o[0]);
      int[] dilation = ints(o[2]);
      String name = "case " + i + " " + f.metadata().get("c" + i) + " x " + f.get(c + "in.x").shape();
      try (Scope s = Scope.open()) {
        boolean hasBias = f.tensors().containsKey(c + "in.bias");
        Conv2d conv = new Conv2d(w[1] * groups, w[0], w[2], w[3], groups, hasBias, d)
            .stride(stride[0], stride[1]).dilation(dilation[0], dilation[1]).paddingMode(o[4]);
        if (o[1].equals("same")) {
          conv.padding("same");
        } else {
          int[] p = ints(o[1]);
          conv.padding(p[0], p[1]);
        }
        conv.weight().tensor().copyFrom(f.get(c + "in.weight").toFloats(), 0);
        if (hasBias) conv.bias().tensor().copyFrom(f.get(c + "in.bias").toFloats(), 0);
        Tensor x = f.tensor(c + "in.x", d).requiresGrad(true);
        if (o[5].equals("1")) {
          assertThrows(IllegalArgumentException.class, () -> conv.forward(x), name + ": PyTorch raised");
          continue;
        }
        Tensor y = conv.forward(x);
        assertArrayEquals(f.get(c + "out.y").shape().dims(), y.dims(), name + " y shape");
        assertClose(f.get(c + "out.y").toFloats(), y.toArray(), 1e-5, 1e-4, name + " y");
        y.backward(f.tensor(c + "in.gout", d));
        assertClose(f.get(c + "grad.x").toFloats(), x.grad().toArray(), 1e-4, 1e-4, name + " grad x");
        assertClose(f.get(c + "grad.weight").toFloats(), conv.weight().grad().toArray(), 1e-4, 1e-4, name + " grad w");
        if (hasBias) assertClose(f.get(c + "grad.bias").toFloats(), conv.bias().grad().toArray(), 1e-4, 1e-4, name + " grad b");
      }
    }
  }

  /** F.conv2d(padding="same") is the explicit asymmetric zero padding PyTorch documents, on shapes the fixtures lack. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void functionalSameIsAsymmetricZeroPadding(Device d) {
    TestDevices.assumeUsable(d);
    int[][] kernels = {{4, 1}, {2, 5}, {3, 3}, {6, 2}};
    int[][] dilations = {{1, 1}, {3, 2}, {2, 2}, {1, 3}};
    for (int i = 0; i < kernels.length; i++) {
      try (Scope s = Scope.open()) {
        int[] k = kernels[i];
        int[] dl = dilations[i];
        Tensor x = Tensor.uniform(d, 10 + i, -1, 1, 2, 3, 9, 11);
        Tensor w = Tensor.uniform(d, 20 + i, -1, 1, 4, 3, k[0], k[1]);
        Tensor y = Conv.conv2d(x, w, null, new int[] {1}, "same", dl, 1);
        assertArrayEquals(new int[] {2, 4, 9, 11}, y.dims(), "kernel " + Arrays.toString(k));
        int th = dl[0] * (k[0] - 1);
        int tw = dl[1] * (k[1] - 1);
        Tensor padded = Padding.pad2d(x, tw / 2, tw - tw / 2, th / 2, th - th / 2);
        Tensor want = Conv.conv2d(padded, w, null, Conv.Options.DEFAULT.dilation(dl[0], dl[1]));
        assertClose(want.toArray(), y.toArray(), 1e-6, 1e-6, "kernel " + Arrays.toString(k));
        Tensor valid = Conv.conv2d(x, w, null, new int[] {2, 1}, "valid", dl, 1);
        assertArrayEquals(Conv.conv2d(x, w, null, Conv.Options.DEFAULT.stride(2, 1).dilation(dl[0], dl[1])).toArray(),
            valid.toArray(), "valid = padding 0");
      }
    }
  }

  /** An unbatched [C, H, W] input is a batch of one, gradients included (PyTorch accepts both ranks). */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void unbatchedInputIsABatchOfOne(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Conv2d conv = new Conv2d(4, 6, 3, 2, 2, true, d).dilation(2, 1).padding("same").paddingMode("reflect");
      Tensor x = Tensor.uniform(d, 5, -1, 1, 4, 7, 6).requiresGrad(true);
      Tensor y = conv.forward(x);
      assertArrayEquals(new int[] {6, 7, 6}, y.dims());
      Tensor gout = Tensor.uniform(d, 6, -1, 1, 6, 7, 6);
      y.backward(gout);
      float[] dx = x.grad().toArray();
      float[] dw = conv.weight().grad().toArray();
      conv.zeroGrad();
      Tensor xb = Tensor.of(d, x.toArray(), 1, 4, 7, 6).requiresGrad(true);
      Tensor yb = conv.forward(xb);
      assertArrayEquals(yb.toArray(), y.toArray(), "y");
      yb.backward(Tensor.of(d, gout.toArray(), 1, 6, 7, 6));
      assertArrayEquals(xb.grad().toArray(), dx, "grad x");
      assertArrayEquals(conv.weight().grad().toArray(), dw, "grad weight");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void rejectsBadPaddingBeforeAnyNativeCall(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 1, 2, 5, 5);
      Tensor w = Tensor.zeros(d, 3, 2, 3, 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Conv.conv2d(x, w, null, new int[] {1}, "full", new int[] {1}, 1));
      assertEquals("padding: expected \"valid\" or \"same\" but got \"full\"", e.getMessage());
      assertRejects("padding", () -> Conv.conv2d(x, w, null, new int[] {1}, (String) null, new int[] {1}, 1));
      e = assertThrows(IllegalArgumentException.class, () -> Conv.conv2d(x, w, null, new int[] {2, 1}, "same", new int[] {1}, 1));
      assertEquals("padding: \"same\" is not supported for strided convolutions (expected stride 1 but got 2x1)",
          e.getMessage());
      assertRejects("pad", () -> Conv.conv2d(x, w, null, Conv.Options.DEFAULT, new int[] {1, -1, 0, 0}, Padding.Mode.CONSTANT));
      assertRejects("pad", () -> Conv.conv2d(x, w, null, Conv.Options.DEFAULT, new int[] {1, 1}, Padding.Mode.REFLECT));
      assertRejects("options", () -> Conv.conv2d(x, w, null, Conv.Options.DEFAULT.padding(1), new int[4], Padding.Mode.REFLECT));
      assertRejects("mode", () -> Conv.conv2d(x, w, null, Conv.Options.DEFAULT, new int[] {1, 1, 1, 1}, null));
      // reflect needs a pad below the size (Padding's rule): named before the convolution runs
      assertRejects("pad", () -> new Conv2d(2, 3, 3, 3, 1, true, d).padding(5).paddingMode("reflect").forward(x));
      Conv2d same = new Conv2d(2, 3, 3, 3, 1, true, d).padding("same");
      e = assertThrows(IllegalArgumentException.class, () -> same.stride(2));
      assertEquals("stride: expected 1 with padding \"same\" but got 2x2", e.getMessage());
      Conv2d strided = new Conv2d(2, 3, 3, 3, 1, true, d).stride(1, 2);
      assertRejects("padding", () -> strided.padding("same"));
      assertRejects("paddingMode", () -> strided.paddingMode("Zeros"));
      assertRejects("paddingMode", () -> strided.paddingMode((Padding.Mode) null));
      assertEquals(strided, strided.padding("valid"));
    }
  }
}
