package io.plugkit.ops;

import static io.plugkit.ops.ElementwiseTest.assertMessage;
import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.testing.TestDevices;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class AttentionTest {
  // Float dot products of at most 67 terms, expf and an online softmax against double: a few
  // ulp of the largest term per value; gradients sum M (or N) such products once more.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;
  private static final double GRAD_ATOL = 1e-4;
  private static final double GRAD_RTOL = 1e-3;

  /** {B, N, M, D, Dv}: odd sizes; sizes past one 64-row tile and one 64-column chunk (GPU tiling). */
  private static final int[][] SIZES = {{3, 37, 29, 5, 7}, {2, 130, 70, 67, 3}, {1, 65, 131, 2, 70}, {2, 1, 1, 1, 1}};

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesDoubleReferenceForwardAndGradients(Device d) {
    TestDevices.assumeUsable(d);
    long seed = 1;
    for (int[] size : SIZES) {
      // A large scale makes scores span ~±40: the running max must rescale, exp must not overflow.
      for (float scale : new float[] {0.7f, 12f}) {
        String what = java.util.Arrays.toString(size) + " scale " + scale;
        try (Scope s = Scope.open()) {
          int b = size[0];
          int n = size[1];
          int m = size[2];
          Tensor q = Tensor.uniform(d, seed++, -1f, 1f, b, n, size[3]).requiresGrad(true);
          Tensor k = Tensor.uniform(d, seed++, -1f, 1f, b, m, size[3]).requiresGrad(true);
          Tensor v = Tensor.uniform(d, seed++, -1f, 1f, b, m, size[4]).requiresGrad(true);
          Tensor gout = Tensor.uniform(d, seed++, -1f, 1f, b, n, size[4]);
          Tensor out = Attention.attention(q, k, v, scale);
          assertArrayEquals(new int[] {b, n, size[4]}, out.dims(), what);
          out.backward(gout);
          AttentionReference ref = new AttentionReference(q.toArray(), k.toArray(), v.toArray(), gout.toArray(), b, n, m,
              size[3], size[4], scale);
          assertClose(ref.out, out.toArray(), ATOL, RTOL, what + " out");
          // dQ and dK carry the scale: the bound grows with it.
          double gradAtol = GRAD_ATOL * Math.max(1, scale);
          assertClose(ref.dq, q.grad().toArray(), gradAtol, GRAD_RTOL, what + " dq");
          assertClose(ref.dk, k.grad().toArray(), gradAtol, GRAD_RTOL, what + " dk");
          assertClose(ref.dv, v.grad().toArray(), GRAD_ATOL, GRAD_RTOL, what + " dv");
        }
      }
    }
  }

  // Logits near 5.6e6 (one float ulp is 0.5) that differ by O(1), so many keys share a row's
  // softmax: the dot products are exact integers (q = (8e6, small ints), k = (1, small ints)) and
  // the reference takes the same float logits, (float) dot * 0.7f, then works in double. A saved
  // logsumexp m + log(l) rounds log(l) to 0.5 here (P off by up to 28%); m and 1/l do not.
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void largeLogitsWithManyKeysInTheSoftmax(Device d) {
    TestDevices.assumeUsable(d);
    int b = 2;
    int n = 37;
    int m = 70;
    int dim = 3;
    int dvDim = 5;
    float scale = 0.7f;
    java.util.Random random = new java.util.Random(7);
    float[] q = new float[b * n * dim];
    float[] k = new float[b * m * dim];
    for (int i = 0; i < b * n; i++) {
      q[i * dim] = 8_000_000f;
      for (int c = 1; c < dim; c++) q[i * dim + c] = random.nextInt(7) - 3;
    }
    for (int j = 0; j < b * m; j++) {
      k[j * dim] = 1f;
      for (int c = 1; c < dim; c++) k[j * dim + c] = random.nextInt(7) - 3;
    }
    try (Scope s = Scope.open()) {
      Tensor tq = Tensor.of(d, q, b, n, dim).requiresGrad(true);
      Tensor tk = Tensor.of(d, k, b, m, dim).requiresGrad(true);
      Tensor v = Tensor.uniform(d, 71, -1f, 1f, b, m, dvDim).requiresGrad(true);
      Tensor gout = Tensor.uniform(d, 72, -1f, 1f, b, n, dvDim);
      Tensor out = Attention.attention(tq, tk, v, scale);
      out.backward(gout);
      AttentionReference ref = new AttentionReference(q, k, v.toArray(), gout.toArray(), b, n, m, dim, dvDim, scale, true);
      assertClose(ref.out, out.toArray(), ATOL, RTOL, "out");
      assertClose(ref.dv, v.grad().toArray(), GRAD_ATOL, GRAD_RTOL, "dv");
      // dQ and dK: sums of dS (|dS| <= 2) times |k| <= 3 or |q| <= 8e6, with the scale.
      assertClose(ref.dq, tq.grad().toArray(), GRAD_ATOL * 3, GRAD_RTOL, "dq");
      assertClose(ref.dk, tk.grad().toArray(), 1e-6 * 8e6, GRAD_RTOL, "dk");
    }
  }

  // |q| up to 1e4 .. 1e10 with scale 0.7 (logits up to ~1e10): the float logits themselves are
  // rounded by then, so the reference is the forward's own probabilities. With v the identity the
  // output row i is P_i, and the backward must use exactly those: dV = P^T g, dS = P (g - delta),
  // dQ = scale dS K, dK = scale dS^T Q, in double from the forward's output. Before, the backward
  // rounded the logits differently (dV off by 2e-4 at 1e4, 13 at 1e8, Inf/NaN from 1e10).
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void largeLogitsBackwardUsesTheForwardsProbabilities(Device d) {
    TestDevices.assumeUsable(d);
    int b = 2;
    int n = 37;
    int m = 70;
    int dim = 5;
    float scale = 0.7f;
    float[] eye = new float[b * m * m];
    for (int bi = 0; bi < b; bi++) {
      for (int j = 0; j < m; j++) eye[(bi * m + j) * m + j] = 1f;
    }
    long seed = 80;
    for (float mag : new float[] {1e4f, 1e6f, 1e8f, 1e10f}) {
      try (Scope s = Scope.open()) {
        Tensor q = Tensor.uniform(d, seed++, -mag, mag, b, n, dim).requiresGrad(true);
        Tensor k = Tensor.uniform(d, seed++, -1f, 1f, b, m, dim).requiresGrad(true);
        Tensor v = Tensor.of(d, eye, b, m, m).requiresGrad(true);
        Tensor gout = Tensor.uniform(d, seed++, -1f, 1f, b, n, m);
        Tensor out = Attention.attention(q, k, v, scale);
        out.backward(gout);
        float[] p = out.toArray();
        float[] g = gout.toArray();
        float[] qa = q.toArray();
        float[] ka = k.toArray();
        double[] dv = new double[b * m * m];
        double[] dq = new double[b * n * dim];
        double[] dk = new double[b * m * dim];
        for (int bi = 0; bi < b; bi++) {
          for (int i = 0; i < n; i++) {
            int row = (bi * n + i) * m;
            double delta = 0;
            for (int j = 0; j < m; j++) delta += (double) p[row + j] * g[row + j];
            for (int j = 0; j < m; j++) {
              double pij = p[row + j];
              for (int c = 0; c < m; c++) dv[(bi * m + j) * m + c] += pij * g[row + c];
              double ds = pij * (g[row + j] - delta) * scale;
              for (int c = 0; c < dim; c++) {
                dq[(bi * n + i) * dim + c] += ds * ka[(bi * m + j) * dim + c];
                dk[(bi * m + j) * dim + c] += ds * qa[(bi * n + i) * dim + c];
              }
            }
          }
        }
        String what = "|q| " + mag;
        for (float x : v.grad().toArray()) {
          if (!Float.isFinite(x)) throw new AssertionError(what + ": non-finite dv " + x);
        }
        // P is the forward's to a few ulp; dV sums N = 37 of them.
        assertClose(dv, v.grad().toArray(), 1e-6, 1e-5, what + " dv");
        // dS sums to 0 over a row: bounds relative to the terms, |dS| <= 2 times |k| <= 1 or |q| <= mag.
        assertClose(dq, q.grad().toArray(), 1e-5, 1e-4, what + " dq");
        assertClose(dk, k.grad().toArray(), 1e-5 * mag, 1e-4, what + " dk");
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void fusedAgreesWithPlainPath(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor q = Tensor.uniform(d, 11, -2f, 2f, 2, 150, 16);
      Tensor k = Tensor.uniform(d, 12, -2f, 2f, 2, 90, 16);
      Tensor v = Tensor.uniform(d, 13, -1f, 1f, 2, 90, 24);
      Tensor gout = Tensor.uniform(d, 14, -1f, 1f, 2, 150, 24);
      Tensor[] fused = run(q, k, v, gout, true);
      Tensor[] plain = run(q, k, v, gout, false);
      // Both in float, summing in different orders (tiles and online rescaling vs GEMM): values
      // of order 1, sums of 90-150 terms, so agreement to ~1e-5 absolute.
      String[] names = {"out", "dq", "dk", "dv"};
      for (int i = 0; i < 4; i++) assertClose(plain[i].toArray(), fused[i].toArray(), 3e-5, 1e-4, names[i]);
    }
  }

  private static Tensor[] run(Tensor q0, Tensor k0, Tensor v0, Tensor gout, boolean fused) {
    Tensor q = q0.copy().requiresGrad(true);
    Tensor k = k0.copy().requiresGrad(true);
    Tensor v = v0.copy().requiresGrad(true);
    Tensor out = fused ? Attention.attention(q, k, v, 0.25f) : Attention.attentionPlain(q, k, v, 0.25f);
    out.backward(gout);
    return new Tensor[] {out, q.grad(), k.grad(), v.grad()};
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void gradientsOnlyWhereAsked(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor q = Tensor.uniform(d, 21, -1f, 1f, 2, 9, 4);
      Tensor k = Tensor.uniform(d, 22, -1f, 1f, 2, 6, 4);
      Tensor v = Tensor.uniform(d, 23, -1f, 1f, 2, 6, 3).requiresGrad(true);
      Tensor gout = Tensor.uniform(d, 24, -1f, 1f, 2, 9, 3);
      Attention.attention(q, k, v, 1f).backward(gout);
      AttentionReference ref = new AttentionReference(q.toArray(), k.toArray(), v.toArray(), gout.toArray(), 2, 9, 6, 4, 3, 1);
      assertClose(ref.dv, v.grad().toArray(), GRAD_ATOL, GRAD_RTOL, "dv");
      assertNull(q.grad());
      assertNull(k.grad());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptySizes(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // No keys: the plain path's empty product, zeros; and zero gradients for q.
      Tensor q = Tensor.uniform(d, 31, -1f, 1f, 2, 3, 4).requiresGrad(true);
      Tensor out = Attention.attention(q, Tensor.zeros(d, 2, 0, 4), Tensor.zeros(d, 2, 0, 5), 1f);
      assertArrayEquals(new float[2 * 3 * 5], out.toArray());
      out.backward(Tensor.ones(d, 2, 3, 5));
      assertArrayEquals(new float[2 * 3 * 4], q.grad().toArray());
      // No queries: empty output, zero gradients for k and v.
      Tensor k = Tensor.uniform(d, 32, -1f, 1f, 2, 4, 3).requiresGrad(true);
      Tensor v = Tensor.uniform(d, 33, -1f, 1f, 2, 4, 2).requiresGrad(true);
      Tensor none = Attention.attention(Tensor.zeros(d, 2, 0, 3), k, v, 1f);
      assertArrayEquals(new int[] {2, 0, 2}, none.dims());
      none.backward(Tensor.zeros(d, 2, 0, 2));
      assertArrayEquals(new float[2 * 4 * 3], k.grad().toArray());
      assertArrayEquals(new float[2 * 4 * 2], v.grad().toArray());
      // Batch 0.
      assertArrayEquals(new int[] {0, 5, 2}, Attention.attention(Tensor.zeros(d, 0, 5, 3), Tensor.zeros(d, 0, 4, 3),
          Tensor.zeros(d, 0, 4, 2), 1f).dims());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void nanStaysInItsQueryRow(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      float[] qv = Tensor.uniform(d, 41, -1f, 1f, 1, 3, 2).toArray();
      qv[2] = Float.NaN; // query row 1
      Tensor q = Tensor.of(d, qv, 1, 3, 2);
      Tensor k = Tensor.uniform(d, 42, -1f, 1f, 1, 70, 2);
      Tensor v = Tensor.uniform(d, 43, -1f, 1f, 1, 70, 2);
      float[] out = Attention.attention(q, k, v, 1f).toArray();
      float[] plain = Attention.attentionPlain(q, k, v, 1f).toArray();
      for (int i = 0; i < out.length; i++) {
        boolean nanRow = i / 2 == 1;
        assertEquals(nanRow, Float.isNaN(out[i]), "element " + i);
        if (!nanRow) assertEquals(plain[i], out[i], 1e-6, "element " + i);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void badInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor q = Tensor.zeros(d, 2, 5, 4);
      Tensor k = Tensor.zeros(d, 2, 6, 4);
      Tensor v = Tensor.zeros(d, 2, 6, 3);
      assertMessage(() -> Attention.attention(null, k, v, 1f), "q: expected a tensor but got null");
      assertMessage(() -> Attention.attention(Tensor.zeros(d, 5, 4), k, v, 1f), "q: expected rank 3");
      assertMessage(() -> Attention.attention(q, Tensor.zeros(d, 2, 6, 4, 1), v, 1f), "k: expected rank 3");
      assertMessage(() -> Attention.attention(q, k, Tensor.zeros(d, 6, 3), 1f), "v: expected rank 3");
      assertMessage(() -> Attention.attention(q, Tensor.zeros(d, 3, 6, 4), v, 1f), "k: expected size 2 at dim 0");
      assertMessage(() -> Attention.attention(q, Tensor.zeros(d, 2, 6, 5), v, 1f), "k: expected size 4 at dim 2");
      assertMessage(() -> Attention.attention(q, k, Tensor.zeros(d, 1, 6, 3), 1f), "v: expected size 2 at dim 0");
      assertMessage(() -> Attention.attention(q, k, Tensor.zeros(d, 2, 7, 3), 1f), "v: expected size 6 at dim 1");
      assertMessage(() -> Attention.attention(q, k, v, Float.NaN), "scale: expected a finite value but got NaN");
      assertMessage(() -> Attention.attentionPlain(q, k, Tensor.zeros(d, 2, 7, 3), 1f), "v: expected size 6 at dim 1");
      Tensor freed = Tensor.zeros(d, 2, 5, 4);
      freed.close();
      assertMessage(() -> Attention.attention(freed, k, v, 1f), "q: expected a live tensor but it was freed");
    }
  }
}
