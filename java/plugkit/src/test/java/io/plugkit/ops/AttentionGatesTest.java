package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.Cbam;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class AttentionGatesTest {
  // Gated scaling is one product per value (a float sigmoid against a double one: a few ulp); the
  // logit gradients sum up to 28 products in float against double accumulation.
  private static final double ATOL = 1e-6;
  private static final double RTOL = 1e-5;
  // Small odd planes, and a plane of 37 x 29 = 1073 pixels: more than one host tile (1024) with a
  // partial last one, and more than one GPU block stride (256).
  private static final int[][] SHAPES = {{3, 5, 4, 7}, {2, 3, 37, 29}};

  private static double gate(double a, Gate g) {
    return g == Gate.SIGMOID ? 1 / (1 + Math.exp(-a)) : Math.min(Math.max(a + 3, 0), 6) / 6;
  }

  private static double slope(double a, Gate g) {
    if (g == Gate.HARD_SIGMOID) return a > -3 && a < 3 ? 1.0 / 6 : 0;
    double s = gate(a, g);
    return s * (1 - s);
  }

  /** Channel (perPixel false: a is [N, C]) or spatial (true: a is [N, H*W]) gate: {y, dx, da}. */
  private static double[][] gateReference(float[] x, float[] a, float[] dy, int n, int c, int plane, boolean spatial, Gate g) {
    double[] y = new double[x.length];
    double[] dx = new double[x.length];
    double[] da = new double[a.length];
    for (int b = 0; b < n; b++) {
      for (int ch = 0; ch < c; ch++) {
        for (int p = 0; p < plane; p++) {
          int i = (b * c + ch) * plane + p;
          int ai = spatial ? b * plane + p : b * c + ch;
          y[i] = x[i] * gate(a[ai], g);
          dx[i] = dy[i] * gate(a[ai], g);
          da[ai] += (double) dy[i] * x[i] * slope(a[ai], g);
        }
      }
    }
    return new double[][] {y, dx, da};
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void channelMeanMaxMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] shape : SHAPES) {
      try (Scope s = Scope.open()) {
        checkChannelMeanMax(d, shape[0], shape[1], shape[2], shape[3]);
      }
    }
  }

  private static void checkChannelMeanMax(Device d, int n, int c, int h, int w) {
    int plane = h * w;
    // Values on a grid of 0.25: many channels tie for a pixel's maximum.
    float[] xs = Tensor.uniform(d, 1, -1f, 1f, n, c, h, w).toArray();
    for (int i = 0; i < xs.length; i++) xs[i] = Math.round(xs[i] * 4) / 4f;
    Tensor x = Tensor.of(d, xs, n, c, h, w).requiresGrad(true);
    Tensor dy = Tensor.uniform(d, 2, -1f, 1f, n, 2, h, w);
    float[] g = dy.toArray();
    double[] y = new double[n * 2 * plane];
    double[] dx = new double[xs.length];
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < plane; p++) {
        double sum = 0;
        float best = Float.NEGATIVE_INFINITY;
        for (int ch = 0; ch < c; ch++) {
          float v = xs[(b * c + ch) * plane + p];
          sum += v;
          best = Math.max(best, v);
        }
        int ties = 0;
        for (int ch = 0; ch < c; ch++) if (xs[(b * c + ch) * plane + p] == best) ties++;
        y[b * 2 * plane + p] = sum / c;
        y[(b * 2 + 1) * plane + p] = best;
        for (int ch = 0; ch < c; ch++) {
          int i = (b * c + ch) * plane + p;
          dx[i] = g[b * 2 * plane + p] / c + (xs[i] == best ? g[(b * 2 + 1) * plane + p] / ties : 0);
        }
      }
    }
    Tensor out = AttentionGates.channelMeanMax(x);
    assertArrayEquals(new int[] {n, 2, h, w}, out.dims());
    assertClose(y, out.toArray(), ATOL, RTOL, "mean and max");
    out.backward(dy);
    assertClose(dx, x.grad().toArray(), ATOL, RTOL, "dx: mean share plus the max's share of each tie");
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void aNaNMaximumPoisonsTheWholeMaxGradientAsAmax(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      float nan = Float.NaN;
      // One pixel, four channels: 1, NaN, 5, NaN -> the max is NaN and amax's grad / count * mask
      // is 0 / 0 for every channel, even with a zero max gradient.
      Tensor x = Tensor.of(d, new float[] {1, nan, 5, nan}, 1, 4, 1, 1).requiresGrad(true);
      Tensor y = AttentionGates.channelMeanMax(x);
      assertTrue(Float.isNaN(y.toArray()[1]), "NaN propagates to the max");
      y.backward(Tensor.of(d, new float[] {1, 0}, 1, 2, 1, 1));
      for (float v : x.grad().toArray()) assertTrue(Float.isNaN(v), "every channel's gradient is NaN");
      // The same rule over H, W: plane 0 holds a NaN, plane 1 ties at 2.
      Tensor planes = Tensor.of(d, new float[] {1, nan, 5, 0, 2, 2, -1, 0}, 1, 2, 2, 2).requiresGrad(true);
      Tensor mm = AttentionGates.globalMeanMax(planes);
      assertTrue(Float.isNaN(mm.toArray()[2]), "NaN max of plane 0");
      mm.backward(Tensor.of(d, new float[] {0, 0, 1, 4}, 2, 2, 1, 1));
      float[] g = planes.grad().toArray();
      for (int i = 0; i < 4; i++) assertTrue(Float.isNaN(g[i]), "plane 0 gradient NaN at " + i);
      assertArrayEquals(new float[] {2, 2, 0, 0}, Arrays.copyOfRange(g, 4, 8), "plane 1: the two tied maxima share 4");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void globalMeanMaxMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] shape : SHAPES) {
      try (Scope s = Scope.open()) {
        int n = shape[0], c = shape[1], plane = shape[2] * shape[3];
        // A grid of 0.25 (ties within planes), plane 0 all -inf (every pixel ties), a large plane
        // below: the lanes and the tail of the host loop both take part.
        float[] xs = Tensor.uniform(d, 7, -1f, 1f, n, c, shape[2], shape[3]).toArray();
        for (int i = 0; i < xs.length; i++) xs[i] = Math.round(xs[i] * 4) / 4f;
        if (n > 0) Arrays.fill(xs, 0, plane, Float.NEGATIVE_INFINITY);
        Tensor x = Tensor.of(d, xs, n, c, shape[2], shape[3]).requiresGrad(true);
        Tensor dy = Tensor.uniform(d, 8, -1f, 1f, 2 * n, c, 1, 1);
        float[] g = dy.toArray();
        int planes = n * c;
        double[] y = new double[2 * planes];
        double[] dx = new double[xs.length];
        for (int q = 0; q < planes; q++) {
          double sum = 0;
          float best = Float.NEGATIVE_INFINITY;
          for (int i = 0; i < plane; i++) {
            sum += xs[q * plane + i];
            best = Math.max(best, xs[q * plane + i]);
          }
          int ties = 0;
          for (int i = 0; i < plane; i++) if (xs[q * plane + i] == best) ties++;
          y[q] = sum / plane;
          y[planes + q] = best;
          for (int i = 0; i < plane; i++) {
            dx[q * plane + i] = g[q] / plane + (xs[q * plane + i] == best ? g[planes + q] / ties : 0);
          }
        }
        Tensor out = AttentionGates.globalMeanMax(x);
        assertArrayEquals(new int[] {2 * n, c, 1, 1}, out.dims());
        assertClose(y, out.toArray(), ATOL, RTOL, "mean and max");
        out.backward(dy);
        assertClose(dx, x.grad().toArray(), ATOL, RTOL, "dx: mean share plus the max's share of each tie");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void gatesMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] shape : SHAPES) {
      try (Scope s = Scope.open()) {
        checkGates(d, shape[0], shape[1], shape[2], shape[3]);
      }
    }
  }

  private static void checkGates(Device d, int n, int c, int h, int w) {
    int plane = h * w;
    for (Gate g : Gate.values()) {
      for (boolean spatial : new boolean[] {false, true}) {
        Tensor x = Tensor.uniform(d, 3, -2f, 2f, n, c, h, w).requiresGrad(true);
        Tensor a = (spatial ? Tensor.uniform(d, 4, -5f, 5f, n, 1, h, w) : Tensor.uniform(d, 4, -5f, 5f, n, c, 1, 1))
            .requiresGrad(true);
        Tensor dy = Tensor.uniform(d, 5, -1f, 1f, n, c, h, w);
        double[][] ref = gateReference(x.toArray(), a.toArray(), dy.toArray(), n, c, plane, spatial, g);
        Tensor y = spatial ? AttentionGates.spatialGate(x, a, g) : AttentionGates.channelGate(x, a, g);
        String what = (spatial ? "spatial " : "channel ") + g;
        assertClose(ref[0], y.toArray(), ATOL, RTOL, what + " y");
        y.backward(dy);
        assertClose(ref[1], x.grad().toArray(), ATOL, RTOL, what + " dx");
        assertClose(ref[2], a.grad().toArray(), ATOL, RTOL, what + " da");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void fusedGatesAgreeWithUnfusedOps(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      for (boolean spatial : new boolean[] {false, true}) {
        Tensor x = Tensor.uniform(d, 6, -2f, 2f, 3, 4, 3, 5).requiresGrad(true);
        Tensor a = (spatial ? Tensor.uniform(d, 7, -4f, 4f, 3, 1, 3, 5) : Tensor.uniform(d, 7, -4f, 4f, 3, 4, 1, 1))
            .requiresGrad(true);
        Tensor x2 = x.detach().requiresGrad(true);
        Tensor a2 = a.detach().requiresGrad(true);
        Tensor dy = Tensor.uniform(d, 8, -1f, 1f, 3, 4, 3, 5);
        Tensor fused = spatial ? AttentionGates.spatialGate(x, a, Gate.SIGMOID) : AttentionGates.channelGate(x, a, Gate.SIGMOID);
        Tensor unfused = Elementwise.mul(x2, Activations.sigmoid(a2));
        // Same float formula per value; the logit gradient sums in another order.
        assertClose(unfused.toArray(), fused.toArray(), 1e-6, 1e-6, "y");
        fused.backward(dy);
        unfused.backward(dy);
        assertClose(x2.grad().toArray(), x.grad().toArray(), 1e-6, 1e-6, "dx");
        assertClose(a2.grad().toArray(), a.grad().toArray(), 1e-6, 1e-5, "da");
      }
      Tensor x = Tensor.uniform(d, 9, -2f, 2f, 2, 6, 3, 4);
      Tensor mean = Reductions.mean(x, new int[] {1}, true);
      Tensor fused = AttentionGates.channelMeanMax(x);
      assertClose(mean.toArray(), Layout.slice(fused, 1, 0, 1).toArray(), 1e-6, 1e-6, "mean channel");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void channelGateMeanMaxEqualsItsTwoOps(Device d) {
    TestDevices.assumeUsable(d);
    for (int[] shape : SHAPES) {
      for (Gate gate : Gate.values()) {
        try (Scope s = Scope.open()) {
          // A grid of 0.5 and zero logits for channel 0: exact ties in y across channels.
          float[] xs = Tensor.uniform(d, 21, -2f, 2f, shape).toArray();
          for (int i = 0; i < xs.length; i++) xs[i] = Math.round(xs[i] * 2) / 2f;
          float[] as = Tensor.uniform(d, 22, -4f, 4f, shape[0], shape[1], 1, 1).toArray();
          for (int b = 0; b < shape[0]; b++) as[b * shape[1]] = 0f;
          Tensor x1 = Tensor.of(d, xs, shape).requiresGrad(true);
          Tensor a1 = Tensor.of(d, as, shape[0], shape[1], 1, 1).requiresGrad(true);
          Tensor x2 = Tensor.of(d, xs, shape).requiresGrad(true);
          Tensor a2 = Tensor.of(d, as, shape[0], shape[1], 1, 1).requiresGrad(true);
          Tensor gy = Tensor.uniform(d, 23, -1f, 1f, shape);
          Tensor gd = Tensor.uniform(d, 24, -1f, 1f, shape[0], 2, shape[2], shape[3]);
          Tensor[] fused = AttentionGates.channelGateMeanMax(x1, a1, gate);
          Tensor y = AttentionGates.channelGate(x2, a2, gate);
          Tensor desc = AttentionGates.channelMeanMax(y);
          assertArrayEquals(y.toArray(), fused[0].toArray(), "y");
          assertClose(desc.toArray(), fused[1].toArray(), 1e-6, 1e-6, "descriptor");
          Reductions.sum(Elementwise.add(Reductions.sum(Elementwise.mul(fused[0], gy)),
              Reductions.sum(Elementwise.mul(fused[1], gd)))).backward();
          Reductions.sum(Elementwise.add(Reductions.sum(Elementwise.mul(y, gy)),
              Reductions.sum(Elementwise.mul(desc, gd)))).backward();
          assertClose(x2.grad().toArray(), x1.grad().toArray(), 1e-6, 1e-5, "dx");
          assertClose(a2.grad().toArray(), a1.grad().toArray(), 1e-5, 1e-5, "da");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void layerNormMatchesReference(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      int rows = 5, cols = 9;
      Tensor x = Tensor.uniform(d, 10, -3f, 3f, rows, cols).requiresGrad(true);
      Tensor weight = Tensor.uniform(d, 11, -1f, 1f, cols).requiresGrad(true);
      Tensor bias = Tensor.uniform(d, 12, -1f, 1f, cols).requiresGrad(true);
      Tensor dy = Tensor.uniform(d, 13, -1f, 1f, rows, cols);
      float[] xs = x.toArray(), ws = weight.toArray(), bs = bias.toArray(), g = dy.toArray();
      double[] y = new double[rows * cols], dx = new double[rows * cols], dw = new double[cols], db = new double[cols];
      for (int r = 0; r < rows; r++) {
        double mu = 0, var = 0;
        for (int j = 0; j < cols; j++) mu += xs[r * cols + j];
        mu /= cols;
        for (int j = 0; j < cols; j++) var += Math.pow(xs[r * cols + j] - mu, 2);
        double rstd = 1 / Math.sqrt(var / cols + 1e-5);
        double sumG = 0, sumGX = 0;
        for (int j = 0; j < cols; j++) {
          double xhat = (xs[r * cols + j] - mu) * rstd;
          y[r * cols + j] = xhat * ws[j] + bs[j];
          sumG += g[r * cols + j] * ws[j];
          sumGX += g[r * cols + j] * ws[j] * xhat;
          dw[j] += g[r * cols + j] * xhat;
          db[j] += g[r * cols + j];
        }
        for (int j = 0; j < cols; j++) {
          double xhat = (xs[r * cols + j] - mu) * rstd;
          dx[r * cols + j] = rstd * (g[r * cols + j] * ws[j] - sumG / cols - xhat * sumGX / cols);
        }
      }
      Tensor out = AttentionGates.layerNorm(x, weight, bias, 1e-5f);
      // Float mean/variance of 9 values against double: a few ulp, scaled by rstd (< ~2).
      assertClose(y, out.toArray(), 1e-5, 1e-5, "y");
      out.backward(dy);
      assertClose(dx, x.grad().toArray(), 1e-5, 1e-4, "dx");
      assertClose(dw, weight.grad().toArray(), 1e-5, 1e-5, "dweight");
      assertClose(db, bias.grad().toArray(), 1e-6, 1e-6, "dbias");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorchFixtures(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SafeTensors.Contents fx = Fixtures.load("attention_gates/channel_mean_max");
      Tensor x = fx.tensor("in.x", d).requiresGrad(true);
      Tensor y = AttentionGates.channelMeanMax(x);
      assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-6, 1e-6, "channel_mean_max y");
      y.backward(fx.tensor("in.gout", d));
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-6, 1e-6, "channel_mean_max dx (ties)");
      fx = Fixtures.load("attention_gates/global_mean_max");
      x = fx.tensor("in.x", d).requiresGrad(true);
      y = AttentionGates.globalMeanMax(x);
      assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-6, 1e-6, "global_mean_max y");
      y.backward(fx.tensor("in.gout", d));
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-6, 1e-6, "global_mean_max dx (ties)");
      for (Gate g : Gate.values()) {
        for (String kind : new String[] {"channel", "spatial"}) {
          String name = kind + "_gate_" + g.name().toLowerCase();
          fx = Fixtures.load("attention_gates/" + name);
          x = fx.tensor("in.x", d).requiresGrad(true);
          Tensor a = fx.tensor("in.a", d).requiresGrad(true);
          y = kind.equals("channel") ? AttentionGates.channelGate(x, a, g) : AttentionGates.spatialGate(x, a, g);
          assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
          y.backward(fx.tensor("in.gout", d));
          assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
          assertClose(fx.get("grad.a").toFloats(), a.grad().toArray(), ATOL, RTOL, name + " da");
          // NaN and +-inf logits, exact +-3, NaN inputs: hardsigmoid(NaN) = NaN, and its gradient
          // is 0 outside (-3, 3) and at NaN even where the gate's summed gradient is NaN.
          name += "_edges";
          fx = Fixtures.load("attention_gates/" + name);
          x = fx.tensor("in.x", d).requiresGrad(true);
          a = fx.tensor("in.a", d).requiresGrad(true);
          y = kind.equals("channel") ? AttentionGates.channelGate(x, a, g) : AttentionGates.spatialGate(x, a, g);
          assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
          y.backward(fx.tensor("in.gout", d));
          assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " dx");
          assertClose(fx.get("grad.a").toFloats(), a.grad().toArray(), ATOL, RTOL, name + " da");
        }
      }
      fx = Fixtures.load("attention_gates/layer_norm");
      x = fx.tensor("in.x", d).requiresGrad(true);
      Tensor weight = fx.tensor("in.weight", d).requiresGrad(true);
      Tensor bias = fx.tensor("in.bias", d).requiresGrad(true);
      y = AttentionGates.layerNorm(x, weight, bias, 1e-5f);
      assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-5, 1e-5, "layer_norm y");
      y.backward(fx.tensor("in.gout", d));
      assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-5, 1e-4, "layer_norm dx");
      assertClose(fx.get("grad.weight").toFloats(), weight.grad().toArray(), 1e-5, 1e-5, "layer_norm dweight");
      assertClose(fx.get("grad.bias").toFloats(), bias.grad().toArray(), 1e-6, 1e-6, "layer_norm dbias");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchGivesEmptyOutputs(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 0, 3, 2, 2);
      assertArrayEquals(new int[] {0, 2, 2, 2}, AttentionGates.channelMeanMax(x).dims());
      assertArrayEquals(new int[] {0, 3, 2, 2}, AttentionGates.channelGate(x, Tensor.zeros(d, 0, 3, 1, 1), Gate.SIGMOID).dims());
      assertArrayEquals(new int[] {0, 3, 2, 2}, AttentionGates.spatialGate(x, Tensor.zeros(d, 0, 1, 2, 2), Gate.SIGMOID).dims());
      assertArrayEquals(new int[] {0, 3, 1, 1}, AttentionGates.globalMeanMax(x).dims());
      Tensor[] fused = AttentionGates.channelGateMeanMax(x, Tensor.zeros(d, 0, 3, 1, 1), Gate.SIGMOID);
      assertArrayEquals(new int[] {0, 3, 2, 2}, fused[0].dims());
      assertArrayEquals(new int[] {0, 2, 2, 2}, fused[1].dims());
      Tensor xg = Tensor.zeros(d, 0, 3, 2, 2).requiresGrad(true);
      Reductions.sum(new Cbam(3, Cbam.Options.DEFAULT, d).forward(xg)).backward();
      assertArrayEquals(new int[] {0, 3, 2, 2}, xg.grad().dims(), "CBAM on an empty batch, forward and backward");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void badInputNamesTheArgument(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(d, 2, 3, 4, 5);
      Tensor rank3 = Tensor.zeros(d, 3, 4, 5);
      Tensor ac = Tensor.zeros(d, 2, 3, 1, 1);
      Tensor as = Tensor.zeros(d, 2, 1, 4, 5);
      assertRejects("x", () -> AttentionGates.channelMeanMax(null));
      assertRejects("x", () -> AttentionGates.channelMeanMax(rank3));
      assertRejects("x", () -> AttentionGates.channelMeanMax(Tensor.zeros(d, 2, 0, 4, 5)));
      assertRejects("x", () -> AttentionGates.channelGate(rank3, ac, Gate.SIGMOID));
      assertRejects("a", () -> AttentionGates.channelGate(x, null, Gate.SIGMOID));
      assertRejects("a", () -> AttentionGates.channelGate(x, as, Gate.SIGMOID));
      assertRejects("a", () -> AttentionGates.channelGate(x, Tensor.zeros(d, 2, 4, 1, 1), Gate.SIGMOID));
      assertRejects("a", () -> AttentionGates.channelGate(x, Tensor.zeros(d, 2, 3), Gate.SIGMOID));
      assertRejects("gate", () -> AttentionGates.channelGate(x, ac, null));
      assertRejects("a", () -> AttentionGates.spatialGate(x, ac, Gate.SIGMOID));
      assertRejects("a", () -> AttentionGates.spatialGate(x, Tensor.zeros(d, 1, 1, 4, 5), Gate.SIGMOID));
      assertRejects("gate", () -> AttentionGates.spatialGate(x, as, null));
      Tensor v = Tensor.zeros(d, 2, 6);
      Tensor w6 = Tensor.ones(d, 6);
      assertRejects("weight", () -> AttentionGates.layerNorm(v, Tensor.ones(d, 5), w6, 1e-5f));
      assertRejects("bias", () -> AttentionGates.layerNorm(v, w6, null, 1e-5f));
      assertRejects("eps", () -> AttentionGates.layerNorm(v, w6, w6, 0f));
      assertRejects("x", () -> AttentionGates.layerNorm(Tensor.zeros(d, 2, 0), w6, w6, 1e-5f));
    }
  }
}
