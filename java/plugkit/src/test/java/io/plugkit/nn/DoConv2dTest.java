package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DoConv2dTest {
  /** The cases of tools/fixtures/fx_doconv.py. */
  private static final List<String> CASES = List.of("k3", "k1x3", "k1", "groups2", "stride2_dmul8", "dilation2_dmul18",
      "depthwise_dmul11", "dmul4_below_mn", "reflect_pad", "circular_pad");

  private static int meta(Map<String, String> m, String key) { return Integer.parseInt(m.get(key)); }

  private static DoConv2d fromMetadata(Map<String, String> m, Device d) {
    int kh = meta(m, "kernel_h");
    int kw = meta(m, "kernel_w");
    int dMul = m.get("d_mul").equals("none") ? kh * kw : meta(m, "d_mul");
    return new DoConv2d(meta(m, "in_channels"), meta(m, "out_channels"), kh, kw, dMul, meta(m, "groups"),
        m.get("bias").equals("1"), d)
        .stride(meta(m, "stride_h"), meta(m, "stride_w"))
        .padding(meta(m, "pad_h"), meta(m, "pad_w"))
        .dilation(meta(m, "dilation_h"), meta(m, "dilation_w"))
        .paddingMode(m.get("padding_mode"));
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorchForwardAndBackward(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents weights = Fixtures.load("doconv/" + name + "_weights");
        DoConv2d conv = fromMetadata(weights.metadata(), d);
        assertEquals(List.copyOf(weights.tensors().keySet()), List.copyOf(conv.stateDict().keySet()), name + " state dict keys");
        // The reference's initial D (zeros) and d_diag (identity blocks, zero columns after them).
        if (conv.D() != null) {
          assertArrayEquals(new float[(int) conv.D().tensor().numel()], conv.D().tensor().toArray(), name + " initial D");
          assertArrayEquals(weights.get("d_diag").toFloats(), conv.dDiag().tensor().toArray(), name + " initial d_diag");
          assertFalse(conv.dDiag().tensor().requiresGrad(), name + " d_diag is not trained");
        }
        conv.loadStateDict(weights, true);
        SafeTensors.Contents fx = Fixtures.load("doconv/" + name);
        Tensor x = fx.tensor("in.x", d).requiresGrad(true);
        Tensor y = conv.forward(x);
        // Sums of at most in/groups * M*N * D_mul = 72 float products (kernel), then 36 (conv).
        assertClose(fx.get("out.kernel").toFloats(), conv.kernel().toArray(), 1e-5, 1e-5, name + " kernel");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), 1e-5, 1e-4, name + " y");
        y.backward(fx.tensor("in.gout", d));
        // Gradients sum over every output position as well (at most 3 * 7 * 5 = 105 terms more).
        assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-4, 1e-4, name + " grad x");
        for (var e : conv.namedParameters().entrySet()) {
          if (e.getKey().equals("d_diag")) {
            assertNull(e.getValue().grad(), name + " d_diag gets no gradient");
            continue;
          }
          assertClose(fx.get("grad." + e.getKey()).toFloats(), e.getValue().grad().toArray(), 1e-4, 1e-4,
              name + " grad " + e.getKey());
        }
      }
    }
  }

  /** fold() gives a Conv2d whose output equals the unfolded module's, on every fixture config (padding modes too). */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void foldedConvEqualsUnfolded(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents weights = Fixtures.load("doconv/" + name + "_weights");
        DoConv2d conv = fromMetadata(weights.metadata(), d);
        conv.loadStateDict(weights, true);
        Tensor x = Fixtures.load("doconv/" + name).tensor("in.x", d);
        Conv2d folded = conv.fold();
        assertEquals(conv.bias() == null ? List.of("weight") : List.of("weight", "bias"),
            List.copyOf(folded.stateDict().keySet()), name + " folded names");
        assertArrayEquals(conv.kernel().toArray(), folded.weight().tensor().toArray(), name + " folded weight");
        // The same kernel values and the same conv: equal up to the conv's own rounding (exact in practice).
        assertClose(conv.forward(x).toArray(), folded.forward(x).toArray(), 1e-6, 1e-6, name + " folded y");
        // Frozen for serving, the module still composes its kernel per call and agrees with the fold.
        conv.freeze();
        folded.freeze();
        assertClose(conv.forward(x).toArray(), folded.forward(x).toArray(), 1e-6, 1e-6, name + " frozen y");
        assertClose(Fixtures.load("doconv/" + name).get("out.y").toFloats(), folded.forward(x).toArray(), 1e-5, 1e-4,
            name + " folded y vs PyTorch");
      }
    }
  }

  /**
   * Random shapes against the double-precision reference below: forward and the gradients of x, W,
   * D and bias, with an odd mix (kernel 2x3, stride (1, 2), dilation (2, 1), groups 3, D_mul 7 > 6)
   * no fixture has, and a fresh module trained one step still folding to the same outputs.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesJavaReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][] configs = { // in, out, kh, kw, dMul, groups, strideH, strideW, padH, padW, dilH, dilW, bias, n, h, w
        {6, 9, 2, 3, 7, 3, 1, 2, 0, 2, 2, 1, 1, 5, 7, 6},
        {5, 4, 3, 3, 9, 1, 2, 2, 1, 1, 1, 1, 0, 2, 8, 5},
        {3, 6, 1, 1, 1, 3, 1, 1, 1, 0, 1, 1, 1, 3, 4, 5},
        {2, 2, 4, 1, 3, 2, 1, 1, 2, 0, 1, 1, 1, 1, 6, 3},
    };
    long seed = 70;
    for (int[] c : configs) {
      try (Scope s = Scope.open()) {
        DoConv2d conv = new DoConv2d(c[0], c[1], c[2], c[3], c[4], c[5], c[12] == 1, d)
            .stride(c[6], c[7]).padding(c[8], c[9]).dilation(c[10], c[11]);
        if (conv.D() != null) randomize(conv.D().tensor(), d, seed++, 0.5f);
        Tensor x = Tensor.uniform(d, seed++, -1f, 1f, c[13], c[0], c[14], c[15]).requiresGrad(true);
        Tensor y = conv.forward(x);
        Tensor gout = Tensor.uniform(d, seed++, -1f, 1f, y.dims());
        y.backward(gout);
        Ref r = new Ref(conv, x, gout);
        String what = java.util.Arrays.toString(c);
        assertArrayEquals(new int[] {c[13], c[1], r.outH, r.outW}, y.dims(), what + " y shape");
        assertClose(r.kernel, conv.kernel().toArray(), 1e-5, 1e-5, what + " kernel");
        assertClose(r.y, y.toArray(), 1e-5, 1e-4, what + " y");
        assertClose(r.dx, x.grad().toArray(), 1e-4, 1e-4, what + " grad x");
        assertClose(r.dW, conv.W().grad().toArray(), 1e-4, 1e-4, what + " grad W");
        if (conv.D() != null) assertClose(r.dD, conv.D().grad().toArray(), 1e-4, 1e-4, what + " grad D");
        if (conv.bias() != null) assertClose(r.db, conv.bias().grad().toArray(), 1e-4, 1e-4, what + " grad bias");
        // After a training step on W and D the fold still follows the module.
        step(conv.W().tensor(), d);
        if (conv.D() != null) step(conv.D().tensor(), d);
        try (var off = io.plugkit.autograd.GradMode.disable()) {
          Tensor x2 = x.detach();
          assertClose(conv.forward(x2).toArray(), conv.fold().forward(x2).toArray(), 1e-6, 1e-6, what + " fold after step");
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatch(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      DoConv2d conv = new DoConv2d(4, 6, 3, 2, 8, 2, true, d).padding(1, 0).stride(2, 1);
      Tensor x = Tensor.zeros(d, 0, 4, 7, 5).requiresGrad(true);
      Tensor y = conv.forward(x);
      assertArrayEquals(new int[] {0, 6, 4, 4}, y.dims());
      y.backward(Tensor.zeros(d, 0, 6, 4, 4));
      for (var e : conv.namedParameters().entrySet()) {
        if (e.getKey().equals("d_diag")) continue;
        float[] g = e.getValue().grad().toArray();
        assertArrayEquals(new float[g.length], g, "batch 0: zero gradient of " + e.getKey());
      }
      assertArrayEquals(new int[] {0, 6, 4, 4}, conv.fold().forward(x.detach()).dims(), "folded, batch 0");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void parametersAndInitialisation(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      DoConv2d k3 = new DoConv2d(4, 8, 3, 3, 2, false, d);
      assertEquals(9, k3.dMul(), "D_mul defaults to M*N");
      assertEquals(List.of("W", "D", "d_diag"), List.copyOf(k3.stateDict().keySet()));
      assertArrayEquals(new int[] {8, 2, 9}, k3.W().tensor().dims());
      assertArrayEquals(new int[] {4, 9, 9}, k3.D().tensor().dims());
      // kaiming_uniform(a = sqrt(5)): |W| <= 1/sqrt(fan_in), fan_in = in/groups * D_mul = 18.
      double bound = 1 / Math.sqrt(18);
      for (float v : k3.W().tensor().toArray()) assertTrue(Math.abs(v) <= bound, "W within the kaiming bound: " + v);
      // With D = 0 and d_diag the identity, the composed kernel is W itself (reinterpreted), as the
      // paper's initialisation intends: DO-Conv starts as the conventional conv.
      assertArrayEquals(k3.W().tensor().toArray(), k3.kernel().toArray(), 1e-7f, "D = 0: kernel = W");

      DoConv2d k1 = new DoConv2d(3, 5, 1, 1, 7, 1, true, d);
      assertEquals(1, k1.dMul(), "1x1: D_mul ignored, as in the reference");
      assertEquals(List.of("W", "bias"), List.copyOf(k1.stateDict().keySet()));
      assertNull(k1.D());
      assertNull(k1.dDiag());

      DoConv2d below = new DoConv2d(2, 2, 2, 2, 3, 1, true, d);
      assertArrayEquals(new float[2 * 4 * 3], below.dDiag().tensor().toArray(), "D_mul < M*N: d_diag all zeros, as in the reference");
      DoConv2d above = new DoConv2d(1, 1, 1, 2, 5, 1, true, d);
      assertArrayEquals(new float[] {1, 0, 1, 0, 0, 0, 1, 0, 1, 0}, above.dDiag().tensor().toArray(),
          "D_mul 5, M*N 2: two identity blocks, one zero column");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void badInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      assertMessage(() -> new DoConv2d(4, 6, 3, 3, 4, true, d), "groups: expected a positive divisor of inChannels 4 and outChannels 6 but got 4");
      assertMessage(() -> new DoConv2d(6, 4, 3, 3, 0, true, d), "groups: expected a positive divisor");
      assertMessage(() -> new DoConv2d(4, 4, 0, 3, 1, true, d), "kernelH, kernelW: expected sizes > 0 but got 0x3");
      assertMessage(() -> new DoConv2d(4, 4, 3, -1, 9, 1, true, d), "kernelH, kernelW: expected sizes > 0 but got 3x-1");
      assertMessage(() -> new DoConv2d(4, 4, 0), "kernelH, kernelW: expected sizes > 0 but got 0x0");
      assertMessage(() -> new DoConv2d(4, 4, 3, 3, 0, 1, true, d), "dMul: expected >= 1 but got 0");
      assertMessage(() -> new DoConv2d(0, 4, 3, 3, 1, true, d), "inChannels, outChannels: expected > 0 but got 0, 4");
      assertMessage(() -> new DoConv2d(4, 4, 3, 3, 1, true, null), "device: expected a device but got null");
      DoConv2d conv = new DoConv2d(4, 6, 3, 3, 2, true, d);
      assertMessage(() -> conv.paddingMode("mirror"), "paddingMode: expected \"zeros\", \"reflect\", \"replicate\" or \"circular\" but got \"mirror\"");
      assertEquals(conv, conv.paddingMode("zeros"));
      assertMessage(() -> conv.stride(0), "strideH: expected > 0 but got 0");
      assertMessage(() -> conv.forward(null), "x: expected a tensor but got null");
      assertMessage(() -> conv.forward(Tensor.zeros(d, 2, 4, 5)), "x: expected rank 4");
      assertMessage(() -> conv.forward(Tensor.zeros(d, 2, 5, 5, 5)), "x: expected size 4 at dim 1 but got shape [2, 5, 5, 5]");
      assertMessage(() -> conv.forward(Tensor.zeros(d, 1, 4, 2, 2)), "x: padded input");
    }
  }

  private static void assertMessage(Executable call, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
  }

  private static void randomize(Tensor p, Device d, long seed, float scale) {
    p.copyFrom(MemorySegment.ofArray(Tensor.uniform(d, seed, -scale, scale, p.dims()).toArray()));
  }

  /** p -= 0.1 * grad, on the host. */
  private static void step(Tensor p, Device d) {
    float[] v = p.toArray();
    float[] g = p.grad().toArray();
    for (int i = 0; i < v.length; i++) v[i] -= 0.1f * g[i];
    p.copyFrom(v, 0);
  }

  /**
   * The reference's DO-Conv in double: DoW from W, D and d_diag by the reference's flat indexing
   * (W as [out/groups, in, D_mul], DoW as [out/groups, in, M*N]), a direct zero-padded grouped
   * convolution, and the gradients of sum(y * gout) by the chain rule through both.
   */
  private static final class Ref {
    final double[] kernel;
    final double[] y;
    final double[] dx;
    final double[] dW;
    final double[] dD;
    final double[] db;
    final int outH;
    final int outW;

    Ref(DoConv2d m, Tensor xt, Tensor goutT) {
      int[] wd = m.W().tensor().dims();
      int out = wd[0];
      int cpg = wd[1];
      int dMul = wd[2];
      int[] xd = xt.dims();
      int n = xd[0];
      int in = xd[1];
      int h = xd[2];
      int w = xd[3];
      int groups = in / cpg;
      int opg = out / groups;
      int[] kd = m.kernel().dims();
      int kh = kd[2];
      int kw = kd[3];
      int mn = kh * kw;
      var o = m.options();
      outH = (h + 2 * o.padH() - o.dilationH() * (kh - 1) - 1) / o.strideH() + 1;
      outW = (w + 2 * o.padW() - o.dilationW() * (kw - 1) - 1) / o.strideW() + 1;
      double[] wv = doubles(m.W().tensor());
      double[] dv = null;
      kernel = new double[out * cpg * mn];
      if (mn == 1) {
        System.arraycopy(wv, 0, kernel, 0, kernel.length);
      } else {
        dv = doubles(m.D().tensor());
        double[] diag = doubles(m.dDiag().tensor());
        for (int i = 0; i < dv.length; i++) dv[i] += diag[i];
        for (int op = 0; op < opg; op++) {
          for (int i = 0; i < in; i++) {
            for (int k = 0; k < mn; k++) {
              double acc = 0;
              for (int s = 0; s < dMul; s++) acc += dv[(i * mn + k) * dMul + s] * wv[(op * in + i) * dMul + s];
              kernel[(op * in + i) * mn + k] = acc;
            }
          }
        }
      }
      double[] x = doubles(xt);
      double[] g = doubles(goutT);
      double[] bias = m.bias() == null ? null : doubles(m.bias().tensor());
      y = new double[n * out * outH * outW];
      dx = new double[x.length];
      double[] dK = new double[kernel.length];
      db = new double[out];
      for (int b = 0; b < n; b++) {
        for (int oc = 0; oc < out; oc++) {
          int c0 = oc / opg * cpg;
          for (int oy = 0; oy < outH; oy++) {
            for (int ox = 0; ox < outW; ox++) {
              int yi = ((b * out + oc) * outH + oy) * outW + ox;
              double acc = bias == null ? 0 : bias[oc];
              double go = g[yi];
              db[oc] += go;
              for (int c = 0; c < cpg; c++) {
                for (int ky = 0; ky < kh; ky++) {
                  int iy = oy * o.strideH() - o.padH() + ky * o.dilationH();
                  if (iy < 0 || iy >= h) continue;
                  for (int kx = 0; kx < kw; kx++) {
                    int ix = ox * o.strideW() - o.padW() + kx * o.dilationW();
                    if (ix < 0 || ix >= w) continue;
                    int xi = ((b * in + c0 + c) * h + iy) * w + ix;
                    int ki = ((oc * cpg + c) * kh + ky) * kw + kx;
                    acc += x[xi] * kernel[ki];
                    dx[xi] += go * kernel[ki];
                    dK[ki] += go * x[xi];
                  }
                }
              }
              y[yi] = acc;
            }
          }
        }
      }
      if (mn == 1) {
        dW = dK;
        dD = null;
      } else {
        dW = new double[wv.length];
        dD = new double[dv.length];
        for (int op = 0; op < opg; op++) {
          for (int i = 0; i < in; i++) {
            for (int k = 0; k < mn; k++) {
              double gk = dK[(op * in + i) * mn + k];
              for (int s = 0; s < dMul; s++) {
                dW[(op * in + i) * dMul + s] += gk * dv[(i * mn + k) * dMul + s];
                dD[(i * mn + k) * dMul + s] += gk * wv[(op * in + i) * dMul + s];
              }
            }
          }
        }
      }
    }

    private static double[] doubles(Tensor t) {
      float[] f = t.toArray();
      double[] v = new double[f.length];
      for (int i = 0; i < f.length; i++) v[i] = f[i];
      return v;
    }
  }
}
