package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.io.SafeTensors;
import io.plugkit.ops.AtrousConv.Path;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AtrousConvTest {
  // FP32 sums of up to Cin*9 (or N*outH*outW) products of values in [-1, 1), against FP64 or
  // PyTorch's own FP32 order: rounding differences stay far below 1e-4.
  private static final double ATOL = 1e-4;
  private static final double RTOL = 1e-4;

  /** Runs body with every atrous/dilated conv forced onto path, restoring the setting after. */
  private static void on(Path path, Runnable body) {
    Path old = AtrousConv.forcePath(path);
    try {
      body.run();
    } finally {
      AtrousConv.forcePath(old);
    }
  }

  private static Stream<Arguments> devicesAndPaths() {
    return TestDevices.all().flatMap(d -> Stream.of(Path.ATROUS, Path.STANDARD, Path.AUTO).map(p -> Arguments.of(d, p)));
  }

  private static int[] ints(String csv) { return Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray(); }

  // ---- PyTorch fixtures ------------------------------------------------------------------------

  static Stream<Arguments> fixtureCases() {
    return devicesAndPaths().flatMap(a -> Stream.of("r12_33x33", "r24_33x33_b2", "r20_larger_than_map_s2",
        "depthwise_r6", "groups2_r3_s2", "k3x2_d52_p51").map(n -> Arguments.of(a.get()[0], a.get()[1], n)));
  }

  @ParameterizedTest(name = "{2} on {0} {1}")
  @MethodSource("fixtureCases")
  void matchesPyTorch(Device device, Path path, String name) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("atrous/" + name);
    on(path, () -> {
      try (Scope s = Scope.open()) {
        Tensor x = f.tensor("in.x", device).requiresGrad(true);
        Tensor w = f.tensor("in.weight", device).requiresGrad(true);
        boolean hasBias = f.tensors().containsKey("in.bias");
        Tensor b = hasBias ? f.tensor("in.bias", device).requiresGrad(true) : null;
        int[] st = ints(f.metadata().get("stride"));
        int[] p = ints(f.metadata().get("padding"));
        int[] dl = ints(f.metadata().get("dilation"));
        int groups = Integer.parseInt(f.metadata().get("groups"));
        Tensor y = AtrousConv.conv2d(x, w, b, Conv.Options.DEFAULT.stride(st[0], st[1]).padding(p[0], p[1])
            .dilation(dl[0], dl[1]).groups(groups));
        assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), "y shape");
        assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
        y.backward(f.tensor("in.gout", device));
        assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
        assertClose(f.get("grad.weight").toFloats(), w.grad().toArray(), ATOL, RTOL, name + " dweight");
        if (hasBias) assertClose(f.get("grad.bias").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " dbias");
      }
    });
  }

  /** 40 random geometries (tools/fixtures/fx_atrous.py random_case) through Conv.conv2d, every path. */
  @ParameterizedTest(name = "on {0} {1}")
  @MethodSource("devicesAndPaths")
  void randomGeometriesMatchPyTorch(Device device, Path path) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("atrous/fuzz");
    int count = Integer.parseInt(f.metadata().get("count"));
    on(path, () -> {
      for (int i = 0; i < count; i++) {
        String c = "c" + i + ".";
        String[] o = f.metadata().get("c" + i).split("\\|");
        int[] st = ints(o[0]);
        int[] p = ints(o[1]);
        int[] dl = ints(o[2]);
        Conv.Options options = Conv.Options.DEFAULT.stride(st[0], st[1]).padding(p[0], p[1]).dilation(dl[0], dl[1])
            .groups(Integer.parseInt(o[3]));
        String name = "case " + i + " " + f.get(c + "in.x").shape() + "*" + f.get(c + "in.weight").shape() + " " + options;
        try (Scope s = Scope.open()) {
          Tensor x = f.tensor(c + "in.x", device).requiresGrad(true);
          Tensor w = f.tensor(c + "in.weight", device).requiresGrad(true);
          boolean hasBias = f.tensors().containsKey(c + "in.bias");
          Tensor b = hasBias ? f.tensor(c + "in.bias", device).requiresGrad(true) : null;
          Tensor y = Conv.conv2d(x, w, b, options);
          assertArrayEquals(f.get(c + "out.y").shape().dims(), y.dims(), name + " y shape");
          assertClose(f.get(c + "out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
          y.backward(f.tensor(c + "in.gout", device));
          assertClose(f.get(c + "grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
          assertClose(f.get(c + "grad.weight").toFloats(), w.grad().toArray(), ATOL, RTOL, name + " dweight");
          if (hasBias) assertClose(f.get(c + "grad.bias").toFloats(), b.grad().toArray(), ATOL, RTOL, name + " dbias");
        }
      }
    });
  }

  @ParameterizedTest(name = "on {0} {1}")
  @MethodSource("devicesAndPaths")
  void multiRateMatchesPyTorch(Device device, Path path) {
    TestDevices.assumeUsable(device);
    SafeTensors.Contents f = Fixtures.load("atrous/multi_rate");
    int[] rates = ints(f.metadata().get("rates"));
    on(path, () -> {
      try (Scope s = Scope.open()) {
        Tensor x = f.tensor("in.x", device).requiresGrad(true);
        Tensor[] w = new Tensor[rates.length];
        Tensor[] b = new Tensor[rates.length];
        for (int i = 0; i < rates.length; i++) {
          w[i] = f.tensor("in.weight" + i, device).requiresGrad(true);
          b[i] = f.tensor("in.bias" + i, device).requiresGrad(true);
        }
        Tensor y = AtrousConv.multiRate(x, w, b, rates);
        assertArrayEquals(f.get("out.y").shape().dims(), y.dims(), "y shape");
        assertClose(f.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, "y");
        y.backward(f.tensor("in.gout", device));
        assertClose(f.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, "dx");
        for (int i = 0; i < rates.length; i++) {
          assertClose(f.get("grad.weight" + i).toFloats(), w[i].grad().toArray(), ATOL, RTOL, "dweight" + i);
          assertClose(f.get("grad.bias" + i).toFloats(), b[i].grad().toArray(), ATOL, RTOL, "dbias" + i);
        }
      }
    });
  }

  // ---- pure-Java reference -------------------------------------------------------------------

  /** x shape, weight shape, bias?, stride h/w, padding h/w, dilation h/w, groups. */
  private record Case(int[] xs, int[] ws, boolean bias, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    Conv.Options options() { return Conv.Options.DEFAULT.stride(sh, sw).padding(ph, pw).dilation(dh, dw).groups(groups); }

    @Override public String toString() {
      return Arrays.toString(xs) + "*" + Arrays.toString(ws) + " s" + sh + "," + sw + " p" + ph + "," + pw + " d" + dh + ","
          + dw + " g" + groups;
    }
  }

  private static final List<Case> CASES = List.of(
      new Case(new int[] {1, 16, 33, 33}, new int[] {16, 16, 3, 3}, true, 1, 1, 12, 12, 12, 12, 1),
      new Case(new int[] {1, 16, 33, 33}, new int[] {8, 16, 3, 3}, false, 1, 1, 24, 24, 24, 24, 1),
      new Case(new int[] {2, 9, 7, 5}, new int[] {10, 9, 3, 3}, true, 1, 1, 3, 3, 3, 3, 1),
      new Case(new int[] {1, 8, 5, 6}, new int[] {9, 8, 3, 3}, true, 1, 1, 9, 9, 9, 9, 1), // rate > map
      new Case(new int[] {3, 8, 9, 11}, new int[] {12, 8, 3, 3}, true, 2, 2, 2, 2, 2, 2, 1), // stride 2
      new Case(new int[] {1, 8, 10, 7}, new int[] {8, 8, 3, 3}, false, 2, 1, 1, 3, 3, 2, 1), // odd offsets
      new Case(new int[] {2, 16, 8, 7}, new int[] {16, 8, 3, 3}, true, 1, 1, 2, 2, 2, 2, 2), // groups, GEMM
      new Case(new int[] {1, 8, 6, 6}, new int[] {12, 2, 3, 3}, true, 1, 1, 2, 2, 2, 2, 4), // narrow groups
      new Case(new int[] {2, 5, 9, 8}, new int[] {5, 1, 3, 3}, true, 1, 1, 4, 4, 4, 4, 5), // depthwise
      new Case(new int[] {1, 7, 9, 10}, new int[] {7, 1, 3, 3}, false, 2, 2, 2, 2, 2, 2, 7), // depthwise s2
      new Case(new int[] {1, 8, 9, 9}, new int[] {8, 8, 3, 3}, true, 1, 1, 0, 0, 2, 2, 1), // no padding
      new Case(new int[] {1, 9, 8, 7}, new int[] {8, 9, 2, 3}, true, 1, 1, 3, 2, 3, 2, 1), // even kernel, asymmetric
      new Case(new int[] {1, 3, 6, 6}, new int[] {4, 3, 3, 3}, true, 1, 1, 1, 1, 1, 1, 1), // rate 1
      // Depthwise at rate 1: Conv.conv2d sends these here too (DO-Conv, MobileNet-style layers).
      new Case(new int[] {2, 6, 7, 9}, new int[] {6, 1, 3, 3}, true, 1, 1, 1, 1, 1, 1, 6),
      new Case(new int[] {1, 4, 8, 5}, new int[] {8, 1, 5, 5}, false, 2, 2, 2, 2, 1, 1, 4), // multiplier 2, s2
      // Column bands (row stride 1) with strided columns, a batch, and taps past the map's width.
      new Case(new int[] {3, 9, 7, 11}, new int[] {10, 9, 3, 3}, true, 1, 2, 2, 3, 2, 3, 1),
      new Case(new int[] {2, 8, 5, 9}, new int[] {9, 8, 3, 3}, false, 1, 3, 4, 3, 4, 4, 1),
      // Even kernel height with a dilation past the map: no tap's rows cover the band (zero-filled).
      new Case(new int[] {2, 8, 4, 6}, new int[] {8, 8, 2, 3}, true, 1, 1, 5, 1, 6, 1, 1));

  static Stream<Arguments> referenceCases() {
    return devicesAndPaths().flatMap(a -> CASES.stream().map(c -> Arguments.of(a.get()[0], a.get()[1], c)));
  }

  @ParameterizedTest(name = "{2} on {0} {1}")
  @MethodSource("referenceCases")
  void matchesReference(Device device, Path path, Case c) {
    TestDevices.assumeUsable(device);
    on(path, () -> checkReference(device, c));
  }

  /** The per-tap rectangles (the engine before column bands; still run for row strides > 1 and groups) too. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("rowStrideOneCases")
  void perTapRectanglesMatchReference(Case c) {
    on(Path.ATROUS, () -> {
      AtrousBands.enabled = false;
      try {
        checkReference(Device.cpu(), c);
      } finally {
        AtrousBands.enabled = true;
      }
    });
  }

  static Stream<Case> rowStrideOneCases() { return CASES.stream().filter(c -> c.sh() == 1 && c.groups() == 1); }

  private static void checkReference(Device device, Case c) {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(device, 1, -1, 1, c.xs()).requiresGrad(true);
      Tensor w = Tensor.uniform(device, 2, -1, 1, c.ws()).requiresGrad(true);
      Tensor b = c.bias() ? Tensor.uniform(device, 3, -1, 1, c.ws()[0]).requiresGrad(true) : null;
      ConvTest.Reference r = reference(c.xs(), c.ws(), c.sh(), c.sw(), c.ph(), c.pw(), c.dh(), c.dw(), c.groups());
      // AtrousConv and Conv.conv2d (which routes dilation > 1 the same way) both.
      for (boolean viaConv : new boolean[] {false, true}) {
        x.clearGrad();
        w.clearGrad();
        if (b != null) b.clearGrad();
        Tensor y = viaConv ? Conv.conv2d(x, w, b, c.options()) : AtrousConv.conv2d(x, w, b, c.options());
        assertArrayEquals(new int[] {c.xs()[0], c.ws()[0], r.outH, r.outW}, y.dims(), "y shape");
        float[] xv = x.toArray();
        float[] wv = w.toArray();
        assertClose(r.forward(xv, wv, b == null ? null : b.toArray()), y.toArray(), ATOL, RTOL, "y");
        Tensor gout = Tensor.uniform(device, 4, -1, 1, y.dims());
        y.backward(gout);
        float[] g = gout.toArray();
        assertClose(r.inputGrad(g, wv), x.grad().toArray(), ATOL, RTOL, "dx");
        assertClose(r.weightGrad(xv, g), w.grad().toArray(), ATOL, RTOL, "dweight");
        if (b != null) assertClose(r.biasGrad(g), b.grad().toArray(), ATOL, RTOL, "dbias");
      }
    }
  }

  /** multiRate equals separate convs concatenated, branch by branch, with 1x1, rates past the map and null biases. */
  @ParameterizedTest(name = "on {0} {1}")
  @MethodSource("devicesAndPaths")
  void multiRateMatchesSeparateConvs(Device device, Path path) {
    TestDevices.assumeUsable(device);
    int[] xs = {3, 9, 13, 11};
    int[][] ws = {{5, 9, 1, 1}, {6, 9, 3, 3}, {4, 9, 3, 3}, {7, 9, 3, 3}, {3, 9, 5, 3}};
    int[] rates = {1, 2, 6, 14, 3};
    boolean[] hasBias = {true, false, true, true, false};
    on(path, () -> {
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.uniform(device, 11, -1, 1, xs).requiresGrad(true);
        Tensor[] w = new Tensor[ws.length];
        Tensor[] b = new Tensor[ws.length];
        for (int i = 0; i < ws.length; i++) {
          w[i] = Tensor.uniform(device, 20 + i, -1, 1, ws[i]).requiresGrad(true);
          b[i] = hasBias[i] ? Tensor.uniform(device, 30 + i, -1, 1, ws[i][0]).requiresGrad(true) : null;
        }
        Tensor y = AtrousConv.multiRate(x, w, b, rates);
        int total = Arrays.stream(ws).mapToInt(a -> a[0]).sum();
        assertArrayEquals(new int[] {3, total, 13, 11}, y.dims(), "y shape");
        Tensor gout = Tensor.uniform(device, 40, -1, 1, y.dims());
        y.backward(gout);
        float[] xv = x.toArray();
        float[] yv = y.toArray();
        float[] g = gout.toArray();
        double[] dx = new double[xv.length];
        int off = 0;
        int plane = 13 * 11;
        for (int i = 0; i < ws.length; i++) {
          int ph = rates[i] * (ws[i][2] / 2);
          int pw = rates[i] * (ws[i][3] / 2);
          ConvTest.Reference r = reference(xs, ws[i], 1, 1, ph, pw, rates[i], rates[i], 1);
          int ci = ws[i][0];
          float[] yi = new float[3 * ci * plane];
          float[] gi = new float[yi.length];
          for (int n = 0; n < 3; n++) {
            System.arraycopy(yv, (n * total + off) * plane, yi, n * ci * plane, ci * plane);
            System.arraycopy(g, (n * total + off) * plane, gi, n * ci * plane, ci * plane);
          }
          float[] wv = w[i].toArray();
          assertClose(r.forward(xv, wv, b[i] == null ? null : b[i].toArray()), yi, ATOL, RTOL, "branch " + i + " y");
          assertClose(r.weightGrad(xv, gi), w[i].grad().toArray(), ATOL, RTOL, "branch " + i + " dweight");
          if (b[i] != null) assertClose(r.biasGrad(gi), b[i].grad().toArray(), ATOL, RTOL, "branch " + i + " dbias");
          double[] dxi = r.inputGrad(gi, wv);
          for (int k = 0; k < dx.length; k++) dx[k] += dxi[k];
          off += ci;
        }
        assertClose(dx, x.grad().toArray(), ATOL, RTOL, "dx");
      }
    });
  }

  /**
   * Wide layers, cut by channels into parts on Java threads on the CPU (at least 64 channels a
   * part, so 130 and 131 make two uneven parts at a team of 4): single conv and multiRate, every
   * gradient, against the reference.
   */
  @Test
  void channelPartsOnTheCpuMatchReference() {
    wideAndMultiRateOnFourThreads(false);  // the parts belong to the GEMM engine
  }

  /** The same wide and multi-rate cases through the direct taps path (AVX-512 CPUs). */
  @Test
  void directPathOnWideAndMultiRateMatchesReference() {
    org.junit.jupiter.api.Assumptions.assumeTrue(io.plugkit.cpu.HostLibrary.convTapsSupported(), "no AVX-512 on this CPU");
    long calls = AtrousTaps.directCalls.get();
    wideAndMultiRateOnFourThreads(true);
    assertEquals(6, AtrousTaps.directCalls.get() - calls, "direct calls (forward, dx, dweight of both cases)");
  }

  private static void wideAndMultiRateOnFourThreads(boolean directPath) {
    Device cpu = Device.cpu();
    int before = io.plugkit.cpu.CpuDriver.instance().threads();
    int parts = AtrousTaps.maxParts;
    boolean direct = AtrousTaps.useDirect;
    io.plugkit.cpu.CpuDriver.instance().setThreads(4);
    AtrousTaps.maxParts = 4;
    AtrousTaps.useDirect = directPath;
    try {
      on(Path.ATROUS, () -> {
        try (Scope s = Scope.open()) {
          int[] xs = {2, 130, 9, 8};
          int[] ws = {131, 130, 3, 3};
          Tensor x = Tensor.uniform(cpu, 51, -1, 1, xs).requiresGrad(true);
          Tensor w = Tensor.uniform(cpu, 52, -1, 1, ws).requiresGrad(true);
          Tensor b = Tensor.uniform(cpu, 53, -1, 1, 131).requiresGrad(true);
          ConvTest.Reference r = reference(xs, ws, 1, 1, 3, 3, 3, 3, 1);
          Tensor y = AtrousConv.conv2d(x, w, b, 3);
          assertClose(r.forward(x.toArray(), w.toArray(), b.toArray()), y.toArray(), ATOL, RTOL, "y");
          Tensor gout = Tensor.uniform(cpu, 54, -1, 1, y.dims());
          y.backward(gout);
          float[] g = gout.toArray();
          assertClose(r.inputGrad(g, w.toArray()), x.grad().toArray(), ATOL, RTOL, "dx");
          assertClose(r.weightGrad(x.toArray(), g), w.grad().toArray(), ATOL, RTOL, "dweight");
          assertClose(r.biasGrad(g), b.grad().toArray(), ATOL, RTOL, "dbias");

          // multiRate: the stacked centre tap (130 rows) is cut across the two branches.
          int[] xs2 = {1, 64, 7, 9};
          int[][] bw = {{70, 64, 3, 3}, {60, 64, 3, 3}};
          int[] rates = {2, 5};
          Tensor x2 = Tensor.uniform(cpu, 55, -1, 1, xs2).requiresGrad(true);
          Tensor[] w2 = {Tensor.uniform(cpu, 56, -1, 1, bw[0]).requiresGrad(true),
              Tensor.uniform(cpu, 57, -1, 1, bw[1]).requiresGrad(true)};
          Tensor m = AtrousConv.multiRate(x2, w2, null, rates);
          Tensor gm = Tensor.uniform(cpu, 58, -1, 1, m.dims());
          m.backward(gm);
          float[] mv = m.toArray();
          float[] gv = gm.toArray();
          double[] dx = new double[(int) x2.numel()];
          int plane = 7 * 9;
          for (int i = 0; i < 2; i++) {
            ConvTest.Reference ri = reference(xs2, bw[i], 1, 1, rates[i], rates[i], rates[i], rates[i], 1);
            int off = i == 0 ? 0 : 70;
            float[] yi = Arrays.copyOfRange(mv, off * plane, (off + bw[i][0]) * plane);
            float[] gi = Arrays.copyOfRange(gv, off * plane, (off + bw[i][0]) * plane);
            assertClose(ri.forward(x2.toArray(), w2[i].toArray(), null), yi, ATOL, RTOL, "multi y" + i);
            assertClose(ri.weightGrad(x2.toArray(), gi), w2[i].grad().toArray(), ATOL, RTOL, "multi dweight" + i);
            double[] dxi = ri.inputGrad(gi, w2[i].toArray());
            for (int k = 0; k < dx.length; k++) dx[k] += dxi[k];
          }
          assertClose(dx, x2.grad().toArray(), ATOL, RTOL, "multi dx");
        }
      });
    } finally {
      io.plugkit.cpu.CpuDriver.instance().setThreads(before);
      AtrousTaps.maxParts = parts;
      AtrousTaps.useDirect = direct;
    }
  }

  static Stream<Arguments> directGeometries() {
    // x dims, w dims, stride, padding, dilation (both axes), 8 channels or more (fewer take the
    // per-pixel kernel): odd sizes, output channels that are not a multiple of the 32-wide slice,
    // rows longer than a 12-pixel tile, stride 2, a rate larger than the map, asymmetric kernels.
    return Stream.of(
        Arguments.of(new int[] {2, 11, 9, 11}, new int[] {33, 11, 3, 3}, 1, 2, 2),
        Arguments.of(new int[] {1, 17, 33, 29}, new int[] {70, 17, 3, 3}, 1, 12, 12),
        Arguments.of(new int[] {3, 8, 13, 27}, new int[] {31, 8, 3, 3}, 2, 3, 3),
        Arguments.of(new int[] {1, 9, 7, 6}, new int[] {40, 9, 3, 3}, 1, 9, 9),
        Arguments.of(new int[] {2, 12, 10, 31}, new int[] {65, 12, 3, 2}, 1, 1, 4),
        Arguments.of(new int[] {1, 8, 25, 40}, new int[] {9, 8, 3, 3}, 2, 5, 5),
        // Over 256 input channels: the weight gradient re-lays x in several channel blocks.
        Arguments.of(new int[] {1, 300, 9, 7}, new int[] {20, 300, 3, 3}, 2, 2, 2),
        Arguments.of(new int[] {2, 530, 5, 6}, new int[] {33, 530, 1, 1}, 1, 0, 1));
  }

  /**
   * The direct taps path (AVX-512 CPUs) against the reference and against the GEMM engine on the
   * same inputs, every gradient; the call counter proves the direct path ran.
   */
  @ParameterizedTest(name = "x {0} w {1} stride {2} pad {3} dilation {4}")
  @MethodSource("directGeometries")
  void directTapsMatchReference(int[] xs, int[] ws, int stride, int pad, int dil) {
    org.junit.jupiter.api.Assumptions.assumeTrue(io.plugkit.cpu.HostLibrary.convTapsSupported(), "no AVX-512 on this CPU");
    Device cpu = Device.cpu();
    on(Path.ATROUS, () -> {
      try (Scope s = Scope.open()) {
        Conv.Options o = new Conv.Options(stride, stride, pad, pad, dil, dil, 1);
        ConvTest.Reference r = new ConvTest.Reference(xs, ws, o);
        Tensor x = Tensor.uniform(cpu, 61, -1, 1, xs).requiresGrad(true);
        Tensor w = Tensor.uniform(cpu, 62, -1, 1, ws).requiresGrad(true);
        Tensor b = Tensor.uniform(cpu, 63, -1, 1, ws[0]).requiresGrad(true);
        long calls = AtrousTaps.directCalls.get();
        Tensor y = AtrousConv.conv2d(x, w, b, o);
        Tensor gout = Tensor.uniform(cpu, 64, -1, 1, y.dims());
        y.backward(gout);
        assertEquals(stride == 1 ? 3 : 2, AtrousTaps.directCalls.get() - calls, "direct calls (forward, dx at stride 1, dweight)");
        float[] g = gout.toArray();
        assertClose(r.forward(x.toArray(), w.toArray(), b.toArray()), y.toArray(), ATOL, RTOL, "y");
        assertClose(r.inputGrad(g, w.toArray()), x.grad().toArray(), ATOL, RTOL, "dx");
        assertClose(r.weightGrad(x.toArray(), g), w.grad().toArray(), ATOL, RTOL, "dweight");

        boolean old = AtrousTaps.useDirect;
        AtrousTaps.useDirect = false;
        try {
          Tensor x2 = x.detach().requiresGrad(true);
          Tensor w2 = w.detach().requiresGrad(true);
          Tensor y2 = AtrousConv.conv2d(x2, w2, b, o);
          y2.backward(gout);
          assertClose(y2.toArray(), y.toArray(), ATOL, RTOL, "y against the GEMM engine");
          assertClose(x2.grad().toArray(), x.grad().toArray(), ATOL, RTOL, "dx against the GEMM engine");
          assertClose(w2.grad().toArray(), w.grad().toArray(), ATOL, RTOL, "dweight against the GEMM engine");
        } finally {
          AtrousTaps.useDirect = old;
        }
      }
    });
  }

  @ParameterizedTest(name = "on {0} {1}")
  @MethodSource("devicesAndPaths")
  void emptyBatchGivesEmptyOutputAndZeroGrads(Device device, Path path) {
    TestDevices.assumeUsable(device);
    on(path, () -> {
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.zeros(device, 0, 8, 6, 5).requiresGrad(true);
        Tensor w = Tensor.ones(device, 8, 8, 3, 3).requiresGrad(true);
        Tensor b = Tensor.ones(device, 8).requiresGrad(true);
        Tensor y = AtrousConv.conv2d(x, w, b, 4);
        assertArrayEquals(new int[] {0, 8, 6, 5}, y.dims());
        y.backward(Tensor.zeros(device, 0, 8, 6, 5));
        assertArrayEquals(new int[] {0, 8, 6, 5}, x.grad().dims());
        assertArrayEquals(new float[8 * 8 * 9], w.grad().toArray());
        assertArrayEquals(new float[8], b.grad().toArray());
        Tensor m = AtrousConv.multiRate(x, new Tensor[] {w, w}, new Tensor[] {b, null}, new int[] {2, 12});
        assertArrayEquals(new int[] {0, 16, 6, 5}, m.dims());
      }
    });
  }

  /** AUTO measures once per geometry, caches the choice, and concurrent first calls agree with the reference. */
  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void autoChoiceIsCachedAndThreadSafe(Device device) throws Exception {
    TestDevices.assumeUsable(device);
    int[] xs = {1, 8, 11, 13};
    int[] ws = {8, 8, 3, 3};
    Conv.Options o = Conv.Options.DEFAULT.dilation(5).padding(5);
    Conv2dGeometry g = new Conv2dGeometry(1, 8, 11, 13, 8, 3, 3, 1, 1, 5, 5, 5, 5, 1);
    ConvTest.Reference r = reference(xs, ws, 1, 1, 5, 5, 5, 5, 1);
    on(Path.AUTO, () -> {
      List<Future<float[]>> results = new ArrayList<>();
      ExecutorService pool = Executors.newFixedThreadPool(4);
      try {
        for (int t = 0; t < 4; t++) {
          results.add(pool.submit(() -> {
            try (Scope s = Scope.open()) {
              Tensor x = Tensor.uniform(device, 5, -1, 1, xs);
              Tensor w = Tensor.uniform(device, 6, -1, 1, ws);
              return Conv.conv2d(x, w, null, o).toArray();
            }
          }));
        }
        float[] xv;
        float[] wv;
        try (Scope s = Scope.open()) {
          xv = Tensor.uniform(device, 5, -1, 1, xs).toArray();
          wv = Tensor.uniform(device, 6, -1, 1, ws).toArray();
        }
        double[] expected = r.forward(xv, wv, null);
        for (Future<float[]> f : results) assertClose(expected, f.get(), ATOL, RTOL, "y");
      } catch (Exception e) {
        throw new AssertionError(e);
      } finally {
        pool.shutdown();
      }
    });
    assertNotNull(AtrousChoice.cached(device, g), "choice cached after the first call");
  }

  /**
   * An undilated 3x3 conv goes through the choice too, and its backward (stride 2 here, where the
   * tap kernels win the forward and lose the backward on the CPU) is chosen on its own, per set of
   * gradients asked for; either pair of paths matches the reference.
   */
  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void backwardIsChosenOnItsOwn(Device device) {
    TestDevices.assumeUsable(device);
    Case c = new Case(new int[] {2, 9, 10, 9}, new int[] {8, 9, 3, 3}, true, 2, 2, 1, 1, 1, 1, 1);
    Conv2dGeometry g = new Conv2dGeometry(2, 9, 10, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1);
    on(Path.AUTO, () -> {
      checkReference(device, c);
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.uniform(device, 1, -1, 1, c.xs());
        Tensor w = Tensor.uniform(device, 2, -1, 1, c.ws()).requiresGrad(true);
        Conv.conv2d(x, w, null, c.options()).backward(Tensor.ones(device, 2, 8, 5, 5));
      }
    });
    assertNotNull(AtrousChoice.cached(device, g), "forward choice");
    assertNotNull(AtrousChoice.cached(device, new AtrousConv.BackwardKey(g, true, true)), "backward choice, dx and dw");
    assertNotNull(AtrousChoice.cached(device, new AtrousConv.BackwardKey(g, false, true)), "backward choice, dw only");
  }

  /**
   * Thin groups at stride 1 with at least 16 planes take the host's planar kernels (a zero-padded
   * plane, 8-wide taps): depthwise, groups of 2 in and 3 out, padding past the kernel's reach (the
   * input gradient's padding is then negative: a crop) and past half the map (the weight gradient
   * keeps its row loop there). Against the reference, every gradient.
   */
  static Stream<Arguments> planarCases() {
    return TestDevices.all().flatMap(d -> Stream.of(
        new Case(new int[] {2, 16, 9, 11}, new int[] {16, 1, 3, 3}, true, 1, 1, 1, 1, 1, 1, 16),
        new Case(new int[] {2, 16, 10, 9}, new int[] {24, 2, 3, 2}, true, 1, 1, 3, 1, 2, 3, 8),
        new Case(new int[] {1, 20, 7, 6}, new int[] {20, 1, 3, 3}, false, 1, 1, 3, 3, 1, 1, 20),
        new Case(new int[] {1, 16, 5, 5}, new int[] {16, 1, 3, 3}, true, 1, 1, 4, 4, 4, 4, 16),
        new Case(new int[] {3, 8, 17, 3}, new int[] {8, 1, 5, 1}, true, 1, 1, 2, 0, 1, 1, 8))
        .map(c -> Arguments.of(d, c)));
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("planarCases")
  void thinGroupPlanarPathMatchesReference(Device device, Case c) {
    TestDevices.assumeUsable(device);
    on(Path.ATROUS, () -> checkReference(device, c));
  }

  @Test
  void rejectsBadInput() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(cpu, 1, 8, 5, 5);
      Tensor w = Tensor.zeros(cpu, 8, 8, 3, 3);
      Tensor b = Tensor.zeros(cpu, 8);
      assertRejects("rate", () -> AtrousConv.conv2d(x, w, b, 0));
      assertRejects("rate", () -> AtrousConv.conv2d(x, w, b, -3, 1, 1, 1));
      assertRejects("rate", () -> AtrousConv.conv2d(x, w, b, 4, 1, 1, 1)); // span 9 > 5 + 2
      assertRejects("rate", () -> AtrousConv.conv2d(x, Tensor.zeros(cpu, 8, 8, 2, 2), b, 6)); // even kernel, no padding
      assertRejects("stride", () -> AtrousConv.conv2d(x, w, b, 2, 0, 2, 1));
      assertRejects("padding", () -> AtrousConv.conv2d(x, w, b, 2, 1, -1, 1));
      assertRejects("groups", () -> AtrousConv.conv2d(x, Tensor.zeros(cpu, 8, 3, 3, 3), b, 2, 1, 2, 3));
      assertRejects("groups", () -> AtrousConv.conv2d(x, Tensor.zeros(cpu, 6, 2, 3, 3), null, 2, 1, 2, 4));
      assertRejects("weight", () -> AtrousConv.conv2d(x, Tensor.zeros(cpu, 8, 4, 3, 3), b, 2));
      assertRejects("bias", () -> AtrousConv.conv2d(x, w, Tensor.zeros(cpu, 7), 2));
      assertRejects("x", () -> AtrousConv.conv2d(null, w, b, 2));
      assertRejects("x", () -> AtrousConv.conv2d(Tensor.zeros(cpu, 8, 5, 5), w, b, 2));
      assertRejects("weights", () -> AtrousConv.multiRate(x, new Tensor[0], null, new int[0]));
      assertRejects("rates", () -> AtrousConv.multiRate(x, new Tensor[] {w, w}, null, new int[] {2}));
      assertRejects("rates[1]", () -> AtrousConv.multiRate(x, new Tensor[] {w, w}, null, new int[] {2, 0}));
      assertRejects("weights[0]", () -> AtrousConv.multiRate(x, new Tensor[] {Tensor.zeros(cpu, 4, 8, 2, 2)}, null,
          new int[] {2}));
      assertRejects("weights[1]", () -> AtrousConv.multiRate(x, new Tensor[] {w, Tensor.zeros(cpu, 4, 7, 3, 3)}, null,
          new int[] {2, 3}));
      assertRejects("weights[1]", () -> AtrousConv.multiRate(x, new Tensor[] {w, null}, null, new int[] {2, 3}));
      assertRejects("biases", () -> AtrousConv.multiRate(x, new Tensor[] {w}, new Tensor[] {b, b}, new int[] {2}));
      assertRejects("bias", () -> AtrousConv.multiRate(x, new Tensor[] {w}, new Tensor[] {Tensor.zeros(cpu, 3)},
          new int[] {2}));
      assertRejects("path", () -> AtrousConv.forcePath(null));
      assertEquals(Path.AUTO, AtrousConv.forcedPath());
    }
  }

  /** ConvTest's plain-loop reference (the definition) for these strides, paddings and rates. */
  private static ConvTest.Reference reference(int[] xs, int[] ws, int sh, int sw, int ph, int pw, int dh, int dw,
      int groups) {
    return new ConvTest.Reference(xs, ws, new Conv.Options(sh, sw, ph, pw, dh, dw, groups));
  }
}
