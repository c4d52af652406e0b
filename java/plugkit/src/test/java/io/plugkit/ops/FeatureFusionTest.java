package io.plugkit.ops;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class FeatureFusionTest {
  // Outputs are convex combinations of values in [-1, 1): a few ulps. Logit gradients sum C
  // products of values below 1 (37 channels at most here), then a difference of such sums.
  private static final double ATOL = 2e-6;
  private static final double RTOL = 1e-5;
  private static final double GRAD_ATOL = 1e-5;
  private static final double GRAD_RTOL = 1e-4;

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : new String[] {"odd", "batch1_wide", "saturated"}) {
      SafeTensors.Contents fx = Fixtures.load("asff/fuse_" + name);
      try (Scope s = Scope.open()) {
        Tensor logits = fx.tensor("in.logits", d).requiresGrad(true);
        Tensor[] f = new Tensor[3];
        for (int k = 0; k < 3; k++) f[k] = fx.tensor("in.f" + k, d).requiresGrad(true);
        Tensor y = FeatureFusion.asff(logits, f[0], f[1], f[2]);
        assertEquals(fx.get("out.y").shape(), y.shape(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
        y.backward(fx.tensor("in.gout", d));
        assertClose(fx.get("grad.logits").toFloats(), logits.grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad logits");
        for (int k = 0; k < 3; k++) {
          assertClose(fx.get("grad.f" + k).toFloats(), f[k].grad().toArray(), ATOL, RTOL, name + " grad f" + k);
        }
      }
    }
  }

  /** The reference against PyTorch, so it can stand in for shapes the fixtures do not cover. */
  @Test
  void referenceMatchesPyTorch() {
    SafeTensors.Contents fx = Fixtures.load("asff/fuse_odd");
    int[] s = fx.get("in.f0").shape().dims();
    float[] logits = fx.get("in.logits").toFloats();
    float[][] f = {fx.get("in.f0").toFloats(), fx.get("in.f1").toFloats(), fx.get("in.f2").toFloats()};
    int plane = s[2] * s[3];
    assertClose(AsffReference.forward(logits, f, s[0], s[1], plane), fx.get("out.y").toFloats(), ATOL, RTOL, "ref y");
    AsffReference.Grads g = AsffReference.backward(logits, f, fx.get("in.gout").toFloats(), s[0], s[1], plane);
    assertClose(g.logits(), fx.get("grad.logits").toFloats(), GRAD_ATOL, GRAD_RTOL, "ref grad logits");
    assertClose(g.f2(), fx.get("grad.f2").toFloats(), ATOL, RTOL, "ref grad f2");
  }

  private static float[] random(SplittableRandom rnd, int len, double scale) {
    float[] v = new float[len];
    for (int i = 0; i < len; i++) v[i] = (float) rnd.nextDouble(-scale, scale);
    return v;
  }

  /**
   * Odd sizes, batch 0 and 1, one channel, many channels (several host chunks), planes of more than
   * one host tile (the 12x20 and 23x29 maps), against the reference.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void randomShapesMatchReference(Device d) {
    TestDevices.assumeUsable(d);
    int[][] shapes = {{1, 4, 3, 5}, {2, 3, 6, 10}, {3, 2, 12, 20}, {1, 1, 1, 1}, {2, 70, 3, 7}, {1, 33, 23, 29}, {0, 4, 3, 5}};
    SplittableRandom rnd = new SplittableRandom(31);
    for (int[] sh : shapes) {
      int n = sh[0], c = sh[1], plane = sh[2] * sh[3];
      String what = n + "x" + c + "x" + sh[2] + "x" + sh[3];
      float[] logits = random(rnd, n * 3 * plane, 4);
      float[][] f = {random(rnd, n * c * plane, 1), random(rnd, n * c * plane, 1), random(rnd, n * c * plane, 1)};
      float[] dy = random(rnd, n * c * plane, 1);
      try (Scope s = Scope.open()) {
        Tensor tl = Tensor.of(d, logits, n, 3, sh[2], sh[3]).requiresGrad(true);
        Tensor[] tf = new Tensor[3];
        for (int k = 0; k < 3; k++) tf[k] = Tensor.of(d, f[k], n, c, sh[2], sh[3]).requiresGrad(true);
        Tensor y = FeatureFusion.asff(tl, tf[0], tf[1], tf[2]);
        assertEquals(Shape.of(n, c, sh[2], sh[3]), y.shape(), what + " shape");
        assertClose(AsffReference.forward(logits, f, n, c, plane), y.toArray(), ATOL, RTOL, what + " y");
        y.backward(Tensor.of(d, dy, n, c, sh[2], sh[3]));
        AsffReference.Grads g = AsffReference.backward(logits, f, dy, n, c, plane);
        assertClose(g.logits(), tl.grad().toArray(), GRAD_ATOL * 4, GRAD_RTOL, what + " grad logits");
        assertClose(g.f0(), tf[0].grad().toArray(), ATOL, RTOL, what + " grad f0");
        assertClose(g.f1(), tf[1].grad().toArray(), ATOL, RTOL, what + " grad f1");
        assertClose(g.f2(), tf[2].grad().toArray(), ATOL, RTOL, what + " grad f2");
        assertEquals(tl.shape(), tl.grad().shape(), what + " grad logits shape");
      }
    }
  }

  /**
   * A NaN logit makes its whole pixel NaN (every channel, and every level's gradient there), three
   * -inf logits too (exp(-inf - -inf)), as PyTorch's softmax; one -inf logit is a zero weight; the
   * other pixels stay finite.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void nanAndInfiniteLogits(Device d) {
    TestDevices.assumeUsable(d);
    float nan = Float.NaN, inf = Float.POSITIVE_INFINITY;
    // [1, 3, 1, 4]: pixel 0 NaN, 1 all -inf, 2 one -inf, 3 ordinary.
    float[] logits = {nan, -inf, -inf, 0.5f, 1, -inf, 2, -1, 3, -inf, 0, 0.25f};
    float[][] f = {{1, 2, 3, 4, 5, 6, 7, 8}, {-1, -2, -3, -4, -5, -6, -7, -8}, {0.5f, 0.5f, 0.5f, 0.5f, 2, 2, 2, 2}};
    float[] dy = {1, 0.5f, -1, 2, 0.25f, 1, 1, -0.5f};
    try (Scope s = Scope.open()) {
      Tensor tl = Tensor.of(d, logits, 1, 3, 1, 4).requiresGrad(true);
      Tensor[] tf = new Tensor[3];
      for (int k = 0; k < 3; k++) tf[k] = Tensor.of(d, f[k], 1, 2, 1, 4).requiresGrad(true);
      Tensor y = FeatureFusion.asff(tl, tf[0], tf[1], tf[2]);
      float[] out = y.toArray();
      double[] ref = AsffReference.forward(logits, f, 1, 2, 4);
      assertClose(ref, out, ATOL, RTOL, "y");
      for (int c = 0; c < 2; c++) {
        assertTrue(Float.isNaN(out[c * 4]) && Float.isNaN(out[c * 4 + 1]), "NaN pixels, channel " + c);
        assertTrue(Float.isFinite(out[c * 4 + 2]) && Float.isFinite(out[c * 4 + 3]), "finite pixels, channel " + c);
      }
      y.backward(Tensor.of(d, dy, 1, 2, 1, 4));
      AsffReference.Grads g = AsffReference.backward(logits, f, dy, 1, 2, 4);
      assertClose(g.logits(), tl.grad().toArray(), GRAD_ATOL, GRAD_RTOL, "grad logits");
      assertClose(g.f0(), tf[0].grad().toArray(), ATOL, RTOL, "grad f0");
      assertClose(g.f1(), tf[1].grad().toArray(), ATOL, RTOL, "grad f1");
      float[] gl = tl.grad().toArray();
      assertTrue(Float.isNaN(gl[0]) && Float.isNaN(gl[5]) && Float.isFinite(gl[2]) && Float.isFinite(gl[11]), "grad NaN pattern");
      // Pixel 2: logit 0 is -inf, so level 0 gets no gradient there.
      assertTrue(tf[0].grad().toArray()[2] == 0f, "a -inf logit is a zero weight");
    }
  }

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor l = Tensor.zeros(d, 2, 3, 4, 5);
      Tensor f = Tensor.zeros(d, 2, 6, 4, 5);
      assertRejects("logits", () -> FeatureFusion.asff(null, f, f, f));
      assertRejects("logits", () -> FeatureFusion.asff(Tensor.zeros(d, 2, 2, 4, 5), f, f, f));
      assertRejects("logits", () -> FeatureFusion.asff(Tensor.zeros(d, 2, 3, 20), f, f, f));
      assertRejects("logits", () -> FeatureFusion.asff(Tensor.empty(d, DType.I64, Shape.of(2, 3, 4, 5)), f, f, f));
      assertRejects("f0", () -> FeatureFusion.asff(l, Tensor.zeros(d, 1, 6, 4, 5), f, f));
      assertRejects("f0", () -> FeatureFusion.asff(l, Tensor.zeros(d, 2, 6, 5, 4), f, f));
      assertRejects("f0", () -> FeatureFusion.asff(l, Tensor.zeros(d, 2, 0, 4, 5), f, f));
      assertRejects("f1", () -> FeatureFusion.asff(l, f, Tensor.zeros(d, 2, 5, 4, 5), f));
      assertRejects("f1", () -> FeatureFusion.asff(l, f, null, f));
      assertRejects("f2", () -> FeatureFusion.asff(l, f, f, Tensor.zeros(d, 2, 6, 4, 6)));
      assertRejects("f2", () -> FeatureFusion.asff(l, f, f, Tensor.empty(d, DType.I64, Shape.of(2, 6, 4, 5))));
    }
  }
}
