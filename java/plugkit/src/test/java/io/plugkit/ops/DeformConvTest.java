package io.plugkit.ops;

import static io.plugkit.ops.ElementwiseTest.assertMessage;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DeformConvTest {
  // Float32 against torchvision's float32 (or a double reference): each output sums at most
  // 18 products of values <= ~1 in magnitude, and bilinear weights round at ~1e-7; offset
  // gradients are differences of pixels summed over channels and outputs, so the same bound
  // with a little more headroom.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;
  private static final List<String> FIXTURES =
      List.of("v2_odd", "v1_odd", "v2_outside", "v2_integer", "v1_zero_offsets", "v2_batch0", "v2_batch33");
  private static final String[] INPUTS = {"input", "offset", "weight", "bias", "mask"};

  @AfterEach
  void restoreSettings() {
    DeformConv.setWorkspaceBytes(DeformConv.DEFAULT_WORKSPACE_BYTES);
    DeformConv.setDeterministic(false);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : FIXTURES) checkFixture(d, name, name);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchPyTorchFixturesInChunksAndDeterministically(Device d) {
    TestDevices.assumeUsable(d);
    // v2_batch33: one image's columns are 2 * 2*2 * 2*3 = 48 floats = 192 bytes, so 960 bytes
    // make forward chunks of 5 images and backward chunks of 2 (two column buffers): neither divides 33.
    DeformConv.setWorkspaceBytes(960);
    checkFixture(d, "v2_batch33", "v2_batch33 chunked");
    // A bound below one image's columns still runs, one image per chunk.
    DeformConv.setWorkspaceBytes(1);
    checkFixture(d, "v2_odd", "v2_odd one image per chunk");
    DeformConv.setWorkspaceBytes(960);
    DeformConv.setDeterministic(true);
    for (String name : FIXTURES) checkFixture(d, name, name + " deterministic, chunked");
  }

  private static void checkFixture(Device d, String name, String what) {
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("deform_conv/" + name);
      Tensor[] in = new Tensor[INPUTS.length];
      for (int i = 0; i < in.length; i++) {
        String key = "in." + INPUTS[i];
        in[i] = fx.tensors().containsKey(key) ? fx.tensor(key, d).requiresGrad(true) : null;
      }
      Tensor y = DeformConv.deformConv2d(in[0], in[1], in[2], in[3], in[4], ints(fx, "stride"), ints(fx, "padding"),
          ints(fx, "dilation"));
      assertArrayEquals(fx.get("out.y").shape().dims(), y.dims(), what + " shape");
      assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, what + " y");
      y.backward(fx.tensor("in.gout", d));
      for (int i = 0; i < in.length; i++) {
        if (in[i] == null) continue;
        assertClose(fx.get("grad." + INPUTS[i]).toFloats(), in[i].grad().toArray(), ATOL, RTOL,
            what + " grad " + INPUTS[i]);
      }
    }
  }

  private static int[] ints(SafeTensors.Contents fx, String key) {
    return Arrays.stream(fx.metadata().get(key).split(",")).mapToInt(Integer::parseInt).toArray();
  }

  /** A random problem: n, cin, h, w, cout, kh, kw, stride, padding, dilation, groups, offset groups, v2, bias. */
  record Config(int n, int cin, int h, int w, int cout, int kh, int kw, int[] stride, int[] padding, int[] dilation,
      int groups, int offsetGroups, boolean v2, boolean bias, float offsetScale) {
    int outH() { return (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1; }
    int outW() { return (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1; }
  }

  private static final List<Config> CONFIGS = List.of(
      new Config(2, 6, 7, 8, 4, 3, 2, new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 2}, 2, 3, true, true, 2f),
      new Config(3, 4, 5, 6, 2, 2, 3, new int[] {1, 2}, new int[] {0, 2}, new int[] {2, 1}, 1, 2, false, false, 1.5f),
      new Config(1, 3, 6, 4, 6, 3, 3, new int[] {1, 1}, new int[] {1, 1}, new int[] {1, 1}, 3, 1, true, false, 5f),
      new Config(5, 2, 3, 3, 3, 1, 1, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}, 1, 2, true, true, 0.7f));

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchReference(Device d) {
    TestDevices.assumeUsable(d);
    int seed = 300;
    for (Config c : CONFIGS) {
      String what = c.toString();
      try (Scope s = Scope.open()) {
        Tensor input = Tensor.uniform(d, seed++, -1f, 1f, c.n, c.cin, c.h, c.w).requiresGrad(true);
        Tensor offset = Tensor.uniform(d, seed++, -c.offsetScale, c.offsetScale, c.n,
            2 * c.offsetGroups * c.kh * c.kw, c.outH(), c.outW()).requiresGrad(true);
        Tensor weight = Tensor.uniform(d, seed++, -1f, 1f, c.cout, c.cin / c.groups, c.kh, c.kw).requiresGrad(true);
        Tensor bias = c.bias ? Tensor.uniform(d, seed++, -1f, 1f, c.cout).requiresGrad(true) : null;
        Tensor mask = c.v2 ? Tensor.uniform(d, seed++, 0f, 1f, c.n, c.offsetGroups * c.kh * c.kw, c.outH(), c.outW())
            .requiresGrad(true) : null;
        Tensor y = DeformConv.deformConv2d(input, offset, weight, bias, mask, c.stride, c.padding, c.dilation);
        Tensor gout = Tensor.uniform(d, seed++, -1f, 1f, y.dims());
        DeformConvRef.Result r = DeformConvRef.run(problem(input, offset, weight, bias, mask, c), doubles(gout));
        assertClose(r.y(), y.toArray(), ATOL, RTOL, what + " y");
        y.backward(gout);
        assertClose(r.dInput(), input.grad().toArray(), ATOL, RTOL, what + " grad input");
        assertClose(r.dOffset(), offset.grad().toArray(), ATOL, RTOL, what + " grad offset");
        assertClose(r.dWeight(), weight.grad().toArray(), ATOL, RTOL, what + " grad weight");
        if (bias != null) assertClose(r.dBias(), bias.grad().toArray(), ATOL, RTOL, what + " grad bias");
        if (mask != null) assertClose(r.dMask(), mask.grad().toArray(), ATOL, RTOL, what + " grad mask");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void computesOnlyTheGradientsAskedFor(Device d) {
    TestDevices.assumeUsable(d);
    Config c = CONFIGS.get(0);
    try (Scope s = Scope.open()) {
      Tensor input = Tensor.uniform(d, 1, -1f, 1f, c.n, c.cin, c.h, c.w);
      Tensor offset = Tensor.uniform(d, 2, -2f, 2f, c.n, 2 * c.offsetGroups * c.kh * c.kw, c.outH(), c.outW());
      Tensor weight = Tensor.uniform(d, 3, -1f, 1f, c.cout, c.cin / c.groups, c.kh, c.kw);
      Tensor bias = Tensor.uniform(d, 4, -1f, 1f, c.cout);
      Tensor mask = Tensor.uniform(d, 5, 0f, 1f, c.n, c.offsetGroups * c.kh * c.kw, c.outH(), c.outW()).requiresGrad(true);
      Tensor y = DeformConv.deformConv2d(input, offset, weight, bias, mask, c.stride, c.padding, c.dilation);
      Tensor gout = Tensor.uniform(d, 6, -1f, 1f, y.dims());
      y.backward(gout);
      DeformConvRef.Result r = DeformConvRef.run(problem(input, offset, weight, bias, mask, c), doubles(gout));
      assertClose(r.dMask(), mask.grad().toArray(), ATOL, RTOL, "mask only: grad mask");
      assertNull(input.grad());
      assertNull(offset.grad());
      assertNull(weight.grad());
      assertNull(bias.grad());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void zeroOffsetsEqualConvolution(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("deform_conv/v1_zero_offsets");
      Tensor input = fx.tensor("in.input", d);
      Tensor weight = fx.tensor("in.weight", d);
      Tensor bias = fx.tensor("in.bias", d);
      Tensor offset = Tensor.zeros(d, fx.get("in.offset").shape().dims());
      int[] stride = ints(fx, "stride"), padding = ints(fx, "padding"), dilation = ints(fx, "dilation");
      Tensor y = DeformConv.deformConv2d(input, offset, weight, bias, null, stride, padding, dilation);
      assertClose(fx.get("out.conv").toFloats(), y.toArray(), ATOL, RTOL, "against F.conv2d");
      DeformConvRef.Problem p = new DeformConvRef.Problem(doubles(input), input.dims(), doubles(offset), doubles(weight),
          weight.dims(), doubles(bias), null, 1, stride, padding, dilation);
      assertClose(DeformConvRef.conv(p), y.toArray(), ATOL, RTOL, "against the reference convolution");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchGivesEmptyOutputAndZeroParameterGradients(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor input = Tensor.zeros(d, 0, 4, 5, 5).requiresGrad(true);
      Tensor offset = Tensor.zeros(d, 0, 18, 5, 5).requiresGrad(true);
      Tensor weight = Tensor.ones(d, 2, 4, 3, 3).requiresGrad(true);
      Tensor bias = Tensor.ones(d, 2).requiresGrad(true);
      Tensor mask = Tensor.zeros(d, 0, 9, 5, 5).requiresGrad(true);
      Tensor y = DeformConv.deformConv2d(input, offset, weight, bias, mask, new int[] {1}, new int[] {1}, new int[] {1});
      assertArrayEquals(new int[] {0, 2, 5, 5}, y.dims());
      y.backward(Tensor.zeros(d, 0, 2, 5, 5));
      assertArrayEquals(new float[2 * 4 * 9], weight.grad().toArray());
      assertArrayEquals(new float[2], bias.grad().toArray());
      assertArrayEquals(new int[] {0, 4, 5, 5}, input.grad().dims());
      assertArrayEquals(new int[] {0, 9, 5, 5}, mask.grad().dims());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void deterministicBackwardGivesIdenticalBits(Device d) {
    TestDevices.assumeUsable(d);
    DeformConv.setDeterministic(true);
    // Offsets within +-1 pixel of a 3x3 kernel: every input pixel is hit by many samples.
    Config c = new Config(3, 8, 9, 9, 8, 3, 3, new int[] {1, 1}, new int[] {1, 1}, new int[] {1, 1}, 1, 2, true, true, 1f);
    float[][] first = null;
    for (int run = 0; run < 2; run++) {
      try (Scope s = Scope.open()) {
        Tensor input = Tensor.uniform(d, 41, -1f, 1f, c.n, c.cin, c.h, c.w).requiresGrad(true);
        Tensor offset = Tensor.uniform(d, 42, -1f, 1f, c.n, 2 * c.offsetGroups * 9, c.outH(), c.outW()).requiresGrad(true);
        Tensor weight = Tensor.uniform(d, 43, -1f, 1f, c.cout, c.cin, 3, 3).requiresGrad(true);
        Tensor mask = Tensor.uniform(d, 44, 0f, 1f, c.n, c.offsetGroups * 9, c.outH(), c.outW()).requiresGrad(true);
        Tensor y = DeformConv.deformConv2d(input, offset, weight, null, mask, c.stride, c.padding, c.dilation);
        y.backward(Tensor.uniform(d, 45, -1f, 1f, y.dims()));
        float[][] grads = {input.grad().toArray(), offset.grad().toArray(), weight.grad().toArray(), mask.grad().toArray()};
        if (first == null) {
          first = grads;
        } else {
          for (int i = 0; i < grads.length; i++) assertArrayEquals(first[i], grads[i], "gradient " + i + " bit for bit");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void nonFiniteOffsetsStayInBounds(Device d) {
    TestDevices.assumeUsable(d);
    int outHw = 16;
    float[] off = new float[18 * outHw];
    off[5] = Float.NaN;  // dy of kernel point 0 at output (1, 1), whose dx samples inside
    off[2 * outHw + 5] = Float.POSITIVE_INFINITY;  // dy of point 1 at (1, 1)
    off[3 * outHw + 10] = -1e30f;  // dx of point 1 at (2, 2)
    off[5 * outHw + 15] = 1e30f;  // dx of point 2 at (3, 3)
    off[7 * outHw + 3] = Float.NEGATIVE_INFINITY;  // dx of point 3 at (0, 3)
    int[] one = {1};
    try (Scope s = Scope.open()) {
      Tensor input = Tensor.uniform(d, 51, -1f, 1f, 1, 1, 4, 4).requiresGrad(true);
      Tensor offset = Tensor.of(d, off, 1, 18, 4, 4).requiresGrad(true);
      Tensor weight = Tensor.uniform(d, 52, -1f, 1f, 1, 1, 3, 3).requiresGrad(true);
      Tensor mask = Tensor.uniform(d, 53, 0f, 1f, 1, 9, 4, 4).requiresGrad(true);
      Tensor y = DeformConv.deformConv2d(input, offset, weight, null, mask, one, one, one);
      int[] ones = {1, 1};
      Config c = new Config(1, 1, 4, 4, 1, 3, 3, ones, ones, ones, 1, 1, true, false, 0f);
      double[] expected = DeformConvRef.run(problem(input, offset, weight, null, mask, c), new double[outHw]).y();
      // A NaN offset reads NaN (the reference's NaN too); infinite and huge ones read 0.
      assertClose(expected, y.toArray(), ATOL, RTOL, "y");
      assertEquals(1, countNaN(y.toArray()), "only the output with the NaN offset is NaN");
      y.backward(Tensor.ones(d, 1, 1, 4, 4));
      assertEquals(0, countNaN(input.grad().toArray()), "input gradient");
      float[] dOffset = offset.grad().toArray();
      assertEquals(2, countNaN(dOffset), "offset gradient: the NaN sample's dy and dx");
      assertEquals(0f, dOffset[2 * outHw + 5]);
      assertEquals(0f, dOffset[3 * outHw + 10]);
      assertEquals(1, countNaN(mask.grad().toArray()), "mask gradient");
    }
  }

  private static int countNaN(float[] v) {
    int n = 0;
    for (float f : v) if (Float.isNaN(f)) n++;
    return n;
  }

  @Test
  void rejectsBadInputsNamingTheArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 6, 7, 7);
      Tensor w = Tensor.zeros(d, 4, 3, 3, 3);
      Tensor off = Tensor.zeros(d, 2, 18, 5, 5);
      Tensor m = Tensor.zeros(d, 2, 9, 5, 5);
      Tensor b = Tensor.zeros(d, 4);
      int[] one = {1};
      int[] zero = {0};
      assertMessage(() -> DeformConv.deformConv2d(null, off, w, b, m, one, zero, one), "input: expected a tensor but got null");
      assertMessage(() -> DeformConv.deformConv2d(Tensor.zeros(d, 6, 7, 7), off, w, b, m, one, zero, one),
          "input: expected rank 4");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 18, 5, 5), w, b, m, one, zero, one),
          "offset: expected rank 4");
      assertMessage(() -> DeformConv.deformConv2d(x, off, Tensor.zeros(d, 4, 3, 3), b, m, one, zero, one),
          "weight: expected rank 4");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, Tensor.zeros(d, 4, 1), m, one, zero, one),
          "bias: expected rank 1");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, Tensor.zeros(d, 9, 5, 5), one, zero, one),
          "mask: expected rank 4");
      assertMessage(() -> DeformConv.deformConv2d(x, off, Tensor.zeros(d, 4, 3, 0, 3), b, m, one, zero, one),
          "weight: expected a kernel of size > 0");
      assertMessage(() -> DeformConv.deformConv2d(x, off, Tensor.zeros(d, 4, 4, 3, 3), b, m, one, zero, one),
          "weight: expected dim 1 (input channels per group) to divide the 6 input channels");
      assertMessage(() -> DeformConv.deformConv2d(x, off, Tensor.zeros(d, 5, 3, 3, 3), b, m, one, zero, one),
          "weight: expected the output channels (dim 0) to be divisible by groups = 2");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 2, 17, 5, 5), w, b, m, one, zero, one),
          "offset: expected dim 1 to be a positive multiple of 2 * kh * kw = 18");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 2, 0, 5, 5), w, b, m, one, zero, one),
          "offset: expected dim 1 to be a positive multiple");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 2, 72, 5, 5), w, b, Tensor.zeros(d, 2, 36, 5, 5),
          one, zero, one), "offset: expected offset groups (4) to divide the 6 input channels");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 3, 18, 5, 5), w, b, m, one, zero, one),
          "offset: expected shape [2, 18, 5, 5] (batch, channels, output size) but got [3, 18, 5, 5]");
      assertMessage(() -> DeformConv.deformConv2d(x, Tensor.zeros(d, 2, 18, 7, 7), w, b, m, one, zero, one),
          "offset: expected shape [2, 18, 5, 5]");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, Tensor.zeros(d, 2, 18, 5, 5), one, zero, one),
          "mask: expected shape [2, 9, 5, 5]");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, Tensor.zeros(d, 1, 9, 5, 5), one, zero, one),
          "mask: expected shape [2, 9, 5, 5]");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, Tensor.zeros(d, 3), m, one, zero, one),
          "bias: expected size 4 at dim 0");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, m, new int[] {0, 1}, zero, one), "stride: expected > 0");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, m, one, new int[] {-1}, one), "padding: expected >= 0");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, m, one, zero, new int[] {1, 0}), "dilation: expected > 0");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, m, new int[] {1, 1, 1}, zero, one), "stride: expected 1 or 2 values");
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, b, m, one, zero, new int[] {4}),
          "input: expected spatial size at least the dilated kernel size");
      Tensor freed = Tensor.zeros(d, 4);
      freed.close();
      assertMessage(() -> DeformConv.deformConv2d(x, off, w, freed, m, one, zero, one), "bias: expected a live tensor");
      assertMessage(() -> DeformConv.setWorkspaceBytes(0), "bytes: expected > 0 but got 0");
    }
  }

  private static DeformConvRef.Problem problem(Tensor input, Tensor offset, Tensor weight, Tensor bias, Tensor mask,
      Config c) {
    return new DeformConvRef.Problem(doubles(input), input.dims(), doubles(offset), doubles(weight), weight.dims(),
        bias == null ? null : doubles(bias), mask == null ? null : doubles(mask), c.offsetGroups, c.stride, c.padding,
        c.dilation);
  }

  private static double[] doubles(Tensor t) {
    float[] f = t.toArray();
    double[] out = new double[f.length];
    for (int i = 0; i < f.length; i++) out[i] = f[i];
    return out;
  }

  // 0 input channels made groups = 0 and threw ArithmeticException "/ by zero".
  @Test
  void zeroInputChannelsIsAnIllegalArgument() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor input = Tensor.zeros(d, 1, 0, 5, 5);
      Tensor offset = Tensor.zeros(d, 1, 18, 3, 3);
      Tensor weight = Tensor.zeros(d, 2, 1, 3, 3);
      int[] one = {1};
      int[] zero = {0};
      assertMessage(() -> DeformConv.deformConv2d(input, offset, weight, null, null, one, zero, one),
          "input: expected at least 1 input channel (dim 1) but got shape [1, 0, 5, 5]");
    }
  }
}
