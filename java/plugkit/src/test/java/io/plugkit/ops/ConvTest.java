package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ConvTest {
  // FP32 sums of at most Cin/groups*kh*kw (or N*outH*outW) products of values in [-1, 1), against
  // FP64 (reference) or PyTorch's own FP32 order: the rounding differences stay far below 1e-4.
  private static final double ATOL = 1e-4;
  private static final double RTOL = 1e-4;

  static Stream<Arguments> fixtureCases() {
    return TestDevices.all().flatMap(d -> Stream.of("k3x2_s21_p10_d12_g2", "nobias_pad1", "pointwise",
        "pointwise_stride2_pad1", "depthwise_s2", "batch0_g2").map(name -> Arguments.of(d, name)));
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("fixtureCases")
  void matchesPyTorch(Device device, String name) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("conv/" + name);
    try (Scope s = Scope.open()) {
      Tensor x = f.tensor("in.x", device).requiresGrad(true);
      Tensor w = f.tensor("in.weight", device).requiresGrad(true);
      boolean hasBias = f.tensors().containsKey("in.bias");
      Tensor b = hasBias ? f.tensor("in.bias", device).requiresGrad(true) : null;
      int[] stride = ints(f.metadata().get("stride"));
      int[] padding = ints(f.metadata().get("padding"));
      int[] dilation = ints(f.metadata().get("dilation"));
      int groups = Integer.parseInt(f.metadata().get("groups"));
      Tensor y = Conv.conv2d(x, w, b, stride, padding, dilation, groups);
      assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), "y shape");
      assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
      y.backward(f.tensor("in.gout", device));
      assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
      assertClose(f.get("grad.weight").toFloats(), w.grad().toArray(), ATOL, RTOL, name + " dweight");
      if (hasBias) assertClose(f.get("grad.bias").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " dbias");
    }
  }

  private static int[] ints(String csv) { return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray(); }

  /** Shapes the fixtures do not have: prime batch, odd channels, every option off the default at once. */
  static Stream<Arguments> referenceCases() {
    return TestDevices.all().flatMap(d -> Stream.of(
        Arguments.of(d, new int[] {3, 6, 9, 8}, new int[] {9, 2, 3, 2}, true, Conv.Options.DEFAULT.stride(2, 1).padding(1, 0).dilation(1, 2).groups(3)),
        Arguments.of(d, new int[] {2, 3, 6, 7}, new int[] {5, 3, 2, 3}, false, Conv.Options.DEFAULT.stride(3, 2).dilation(2, 1).padding(2, 1)),
        Arguments.of(d, new int[] {5, 4, 3, 5}, new int[] {8, 4, 1, 1}, true, Conv.Options.DEFAULT),
        Arguments.of(d, new int[] {1, 4, 4, 4}, new int[] {4, 2, 1, 1}, true, Conv.Options.DEFAULT.groups(2)),
        Arguments.of(d, new int[] {2, 2, 5, 5}, new int[] {3, 2, 5, 5}, true, Conv.Options.DEFAULT.padding(0))));
  }

  @ParameterizedTest(name = "{1} * {2} {4} on {0}")
  @MethodSource("referenceCases")
  void matchesReference(Device device, int[] xs, int[] ws, boolean hasBias, Conv.Options o) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(device, 1, -1, 1, xs).requiresGrad(true);
      Tensor w = Tensor.uniform(device, 2, -1, 1, ws).requiresGrad(true);
      Tensor b = hasBias ? Tensor.uniform(device, 3, -1, 1, ws[0]).requiresGrad(true) : null;
      Tensor y = Conv.conv2d(x, w, b, o);
      Reference r = new Reference(xs, ws, o);
      assertArrayEquals(new int[] {xs[0], ws[0], r.outH, r.outW}, y.dims(), "y shape");
      float[] xv = x.toArray();
      float[] wv = w.toArray();
      assertClose(r.forward(xv, wv, hasBias ? b.toArray() : null), y.toArray(), ATOL, RTOL, "y");
      Tensor gout = Tensor.uniform(device, 4, -1, 1, y.dims());
      y.backward(gout);
      float[] g = gout.toArray();
      assertClose(r.inputGrad(g, wv), x.grad().toArray(), ATOL, RTOL, "dx");
      assertClose(r.weightGrad(xv, g), w.grad().toArray(), ATOL, RTOL, "dweight");
      if (hasBias) assertClose(r.biasGrad(g), b.grad().toArray(), ATOL, RTOL, "dbias");
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchGivesEmptyOutputAndZeroParameterGrads(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(device, 0, 4, 6, 5).requiresGrad(true);
      Tensor w = Tensor.ones(device, 6, 2, 3, 3).requiresGrad(true);
      Tensor b = Tensor.ones(device, 6).requiresGrad(true);
      Tensor y = Conv.conv2d(x, w, b, Conv.Options.DEFAULT.groups(2).stride(2));
      assertArrayEquals(new int[] {0, 6, 2, 2}, y.dims());
      y.backward(Tensor.zeros(device, 0, 6, 2, 2));
      assertArrayEquals(new int[] {0, 4, 6, 5}, x.grad().dims());
      assertArrayEquals(new float[6 * 2 * 3 * 3], w.grad().toArray());
      assertArrayEquals(new float[6], b.grad().toArray());
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void onlyRequestedGradsAreComputed(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(device, 1, -1, 1, 2, 2, 4, 4);
      Tensor w = Tensor.uniform(device, 2, -1, 1, 3, 2, 3, 3).requiresGrad(true);
      Tensor b = Tensor.uniform(device, 3, -1, 1, 3);
      Conv.conv2d(x, w, b).backward(Tensor.ones(device, 2, 3, 2, 2));
      assertTrue(x.grad() == null && b.grad() == null && w.grad() != null);
    }
  }

  @Test
  void rejectsBadInput() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(cpu, 1, 4, 5, 5);
      Tensor w = Tensor.zeros(cpu, 6, 2, 3, 3);
      Tensor b = Tensor.zeros(cpu, 6);
      Conv.Options g2 = Conv.Options.DEFAULT.groups(2);
      assertNames("x", () -> Conv.conv2d(null, w, b, g2));
      assertNames("x", () -> Conv.conv2d(Tensor.zeros(cpu, 4, 5), w, b, g2));
      assertNames("x", () -> Conv.conv2d(Tensor.zeros(cpu, 1, 1, 4, 5, 5), w, b, g2));
      assertNames("weight", () -> Conv.conv2d(Tensor.zeros(cpu, 6, 5, 5), w, b, g2)); // unbatched, 6 channels
      assertNames("weight", () -> Conv.conv2d(x, Tensor.zeros(cpu, 6, 2, 3), b, g2));
      assertNames("weight", () -> Conv.conv2d(x, w, b)); // weight has Cin/groups = 2, x has 4 with groups 1
      assertNames("groups", () -> Conv.conv2d(x, Tensor.zeros(cpu, 6, 1, 3, 3), b, Conv.Options.DEFAULT.groups(3)));
      assertNames("groups", () -> Conv.conv2d(x, Tensor.zeros(cpu, 5, 2, 3, 3), null, g2));
      assertNames("bias", () -> Conv.conv2d(x, w, Tensor.zeros(cpu, 5), g2));
      assertNames("bias", () -> Conv.conv2d(x, w, Tensor.zeros(cpu, 6, 1), g2));
      assertNames("x", () -> Conv.conv2d(x, Tensor.zeros(cpu, 6, 2, 6, 3), b, g2)); // kernel taller than input
      assertNames("x", () -> Conv.conv2d(x, w, b, g2.dilation(3))); // dilated span 7 > 5
      assertNames("x", () -> Conv.conv2d(Tensor.zeros(cpu, 1, 4, 0, 5), w, b, g2));
      assertNames("weight", () -> Conv.conv2d(x, Tensor.zeros(cpu, 0, 2, 3, 3), null, g2));
      assertNames("weight", () -> Conv.conv2d(x, Tensor.zeros(cpu, 6, 2, 0, 3), b, g2));
      assertNames("strideH", () -> g2.stride(0, 1));
      assertNames("strideW", () -> g2.stride(1, -1));
      assertNames("padH", () -> g2.padding(-1, 0));
      assertNames("dilationW", () -> g2.dilation(1, 0));
      assertNames("groups", () -> g2.groups(0));
      assertNames("stride", () -> Conv.conv2d(x, w, b, new int[] {1, 1, 1}, new int[] {0}, new int[] {1}, 2));
      assertNames("padding", () -> Conv.conv2d(x, w, b, new int[] {1}, (int[]) null, new int[] {1}, 2));
      assertNames("options", () -> Conv.conv2d(x, w, b, null));
      Tensor freed = Tensor.zeros(cpu, 1, 4, 5, 5);
      freed.close();
      assertNames("x", () -> Conv.conv2d(freed, w, b, g2));
      // padding makes a kernel larger than the input legal, as in PyTorch
      assertArrayEquals(new int[] {1, 6, 1, 1}, Conv.conv2d(Tensor.zeros(cpu, 1, 4, 1, 1), w, b, g2.padding(1)).dims());
    }
  }

  static void assertNames(String argument, org.junit.jupiter.api.function.Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith(argument + ":"), () -> "expected the message to name " + argument + ": " + e.getMessage());
  }

  /** Direct convolution loops in double: the definition, nothing shared with the driver. */
  static final class Reference {
    final int n, cin, h, w, cout, kh, kw, groups, outH, outW;
    final Conv.Options o;

    Reference(int[] xs, int[] ws, Conv.Options o) {
      n = xs[0]; cin = xs[1]; h = xs[2]; w = xs[3];
      cout = ws[0]; kh = ws[2]; kw = ws[3];
      groups = o.groups();
      this.o = o;
      outH = (h + 2 * o.padH() - o.dilationH() * (kh - 1) - 1) / o.strideH() + 1;
      outW = (w + 2 * o.padW() - o.dilationW() * (kw - 1) - 1) / o.strideW() + 1;
    }

    /** Calls visit(xIndex, wIndex, yIndex) for every multiply of the convolution. */
    private void each(Visit visit) {
      int cg = cin / groups;
      int og = cout / groups;
      for (int b = 0; b < n; b++)
        for (int co = 0; co < cout; co++)
          for (int oh = 0; oh < outH; oh++)
            for (int ow = 0; ow < outW; ow++)
              for (int ci = 0; ci < cg; ci++)
                for (int i = 0; i < kh; i++)
                  for (int j = 0; j < kw; j++) {
                    int ih = oh * o.strideH() - o.padH() + i * o.dilationH();
                    int iw = ow * o.strideW() - o.padW() + j * o.dilationW();
                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                    int c = (co / og) * cg + ci;
                    visit.at(((b * cin + c) * h + ih) * w + iw, ((co * cg + ci) * kh + i) * kw + j,
                        ((b * cout + co) * outH + oh) * outW + ow);
                  }
    }

    interface Visit { void at(int xi, int wi, int yi); }

    double[] forward(float[] x, float[] wt, float[] bias) {
      double[] y = new double[n * cout * outH * outW];
      each((xi, wi, yi) -> y[yi] += (double) x[xi] * wt[wi]);
      if (bias != null) for (int i = 0; i < y.length; i++) y[i] += bias[(i / (outH * outW)) % cout];
      return y;
    }

    double[] inputGrad(float[] gy, float[] wt) {
      double[] dx = new double[n * cin * h * w];
      each((xi, wi, yi) -> dx[xi] += (double) gy[yi] * wt[wi]);
      return dx;
    }

    double[] weightGrad(float[] x, float[] gy) {
      double[] dw = new double[cout * (cin / groups) * kh * kw];
      each((xi, wi, yi) -> dw[wi] += (double) gy[yi] * x[xi]);
      return dw;
    }

    double[] biasGrad(float[] gy) {
      double[] db = new double[cout];
      for (int i = 0; i < gy.length; i++) db[(i / (outH * outW)) % cout] += gy[i];
      return db;
    }
  }

  // Batch 0 with a huge image: the CPU driver sized a column buffer for one image (here 3*3*3 *
  // 39998^2 floats, 173 GB) before finding no image to convolve. Now nothing is allocated.
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchOfHugeImagesAllocatesNothing(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 0, 3, 40_000, 40_000).requiresGrad(true);
      Tensor w = Tensor.uniform(d, 5, -1f, 1f, 4, 3, 3, 3).requiresGrad(true);
      Tensor b = Tensor.uniform(d, 6, -1f, 1f, 4).requiresGrad(true);
      Tensor y = Conv.conv2d(x, w, b);
      assertArrayEquals(new int[] {0, 4, 39_998, 39_998}, y.dims());
      y.backward(Tensor.zeros(d, y.dims()));
      assertArrayEquals(new int[] {0, 3, 40_000, 40_000}, x.grad().dims());
      assertArrayEquals(new float[4 * 27], w.grad().toArray());
      assertArrayEquals(new float[4], b.grad().toArray());
    }
  }
}
