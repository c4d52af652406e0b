package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Aspp, DeepLabHead, Rfb and RfbS against PyTorch (torchvision 0.14's ASPP and DeepLabHead, RFBNet's
 * BasicRFB and BasicRFB_a written from the reference; tools/fixtures/fx_aspp_rfb.py): state dicts
 * loaded by name, outputs, input and parameter gradients, running statistics after a training step.
 */
class AsppRfbTest {
  // Sums of up to a few hundred products of values below ~2, then BN (which divides by a batch
  // standard deviation in training): float rounding reaches a few 1e-6 relative.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;

  private static Map<String, SafeTensors.Entry> withPrefix(SafeTensors.Contents fx, String prefix) {
    Map<String, SafeTensors.Entry> out = new LinkedHashMap<>();
    fx.tensors().forEach((k, v) -> { if (k.startsWith(prefix)) out.put(k.substring(prefix.length()), v); });
    return out;
  }

  /** Loads P.state, runs x in the given mode, compares y, dx, every stored parameter gradient and (training) the buffers. */
  static void check(Device d, SafeTensors.Contents fx, String p, Module m, boolean train, boolean loadState) {
    if (loadState) {
      Map<String, SafeTensors.Entry> state = withPrefix(fx, p + ".state.");
      assertEquals(List.copyOf(state.keySet()), List.copyOf(m.stateDict().keySet()), p + " state dict keys");
      m.loadStateDict(state, true);
    }
    m.train(train);
    Tensor x = fx.tensor(p + ".in.x", d).requiresGrad(true);
    Tensor y = m.forward(x);
    assertEquals(fx.get(p + ".out.y").shape(), y.shape(), p + " shape");
    assertClose(fx.get(p + ".out.y").toFloats(), y.toArray(), ATOL, RTOL, p + " output");
    y.backward(fx.tensor(p + ".in.gout", d));
    assertClose(fx.get(p + ".grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, p + " grad x");
    Map<String, SafeTensors.Entry> grads = withPrefix(fx, p + ".gradp.");
    assertTrue(!grads.isEmpty(), p + " has parameter gradients");
    Map<String, Tensor> params = m.namedParameters();
    grads.forEach((k, g) -> {
      Tensor t = params.get(k);
      assertNotNull(t, p + " parameter " + k);
      assertNotNull(t.grad(), p + " grad of " + k);
      assertClose(g.toFloats(), t.grad().toArray(), ATOL, RTOL, p + " grad " + k);
    });
    if (train) {
      Map<String, SafeTensors.Entry> after = withPrefix(fx, p + ".after.");
      Map<String, Tensor> buffers = m.namedBuffers();
      assertEquals(List.copyOf(after.keySet()), List.copyOf(buffers.keySet()), p + " buffers");
      after.forEach((k, b) -> {
        Tensor t = buffers.get(k);
        if (t.dtype() == DType.I64) {
          assertEquals(java.nio.ByteBuffer.wrap(b.data()).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(), t.toLongArray()[0],
              p + " " + k);
        } else {
          assertClose(b.toFloats(), t.toArray(), ATOL, RTOL, p + " after step " + k);
        }
      });
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void asppMatchesTorchvision(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents fx = Fixtures.load("aspp_rfb/modules");
    try (Scope s = Scope.open()) {
      check(d, fx, "aspp_eval", new Aspp(6, new int[] {2, 9}, 5, d), false, true);
      check(d, fx, "aspp_big_rates_b1", new Aspp(4, new int[] {1, 6, 12, 24}, 3, d), false, true);
      check(d, fx, "aspp_1x1", new Aspp(3, new int[] {2, 4}, 4, d), false, true);
      Aspp train = new Aspp(6, new int[] {3}, 4, d);
      train.dropout().p(0f);
      check(d, fx, "aspp_train", train, true, true);
      Aspp three = new Aspp(8, new int[] {1, 2, 3}, 6, d);
      three.dropout().p(0f);
      check(d, fx, "aspp_train_three_rates", three, true, true);
    }
  }

  @Test
  void asppKeysAreTorchvisions() {
    try (Scope s = Scope.open()) {
      List<String> keys = new ArrayList<>(new Aspp(4, new int[] {1, 2, 3}, 3, Device.cpu()).stateDict().keySet());
      assertEquals("convs.0.0.weight", keys.get(0));
      assertTrue(keys.contains("convs.3.1.running_var"), keys.toString());
      assertTrue(keys.contains("convs.4.1.weight"), "pooling branch conv: " + keys);
      assertTrue(keys.contains("convs.4.2.num_batches_tracked"), keys.toString());
      assertEquals("project.1.num_batches_tracked", keys.get(keys.size() - 1));
      assertArrayEquals(new int[] {3, 15, 1, 1}, new Aspp(4, new int[] {1, 2, 3}, 3, Device.cpu()).stateDict()
          .get("project.0.weight").dims());
    }
  }

  /**
   * Training with the real Dropout(0.5): every output is 0 or twice PyTorch's pre-dropout value
   * (the fixture ran with p = 0), and about half are dropped; the gradient flows through the same mask.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void asppTrainingDropsHalfOfTheProjection(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents fx = Fixtures.load("aspp_rfb/modules");
    try (Scope s = Scope.open()) {
      Aspp m = new Aspp(6, new int[] {3}, 4, d);
      m.loadStateDict(withPrefix(fx, "aspp_train.state."), true);
      m.train();
      io.plugkit.ops.Dropout.seed(2024);
      float[] y = m.forward(fx.tensor("aspp_train.in.x", d)).toArray();
      float[] ref = fx.get("aspp_train.out.y").toFloats();
      int dropped = 0;
      int nonZero = 0;
      for (int i = 0; i < y.length; i++) {
        if (ref[i] == 0f) continue;
        nonZero++;
        if (y[i] == 0f) dropped++;
        else assertEquals(2 * ref[i], y[i], 2 * (ATOL + RTOL * Math.abs(ref[i])), "kept value " + i);
      }
      assertTrue(nonZero > 40, "non-zero outputs " + nonZero);
      double sd = Math.sqrt(nonZero * 0.25);
      assertEquals(nonZero * 0.5, dropped, 5 * sd, "dropped of " + nonZero);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void rfbMatchesRfbNet(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents fx = Fixtures.load("aspp_rfb/modules");
    try (Scope s = Scope.open()) {
      check(d, fx, "rfb_s2_eval", new Rfb(16, 12, 2, 1.0f, 2, d), false, true);
      check(d, fx, "rfb_train", new Rfb(24, 24, 1, 0.1f, 1, d), true, true);
      check(d, fx, "rfbs_eval_b1", new RfbS(16, 16, 1, 1.0f, d), false, true);
      check(d, fx, "rfbs_train", new RfbS(32, 20, 1, 0.1f, d), true, true);
      check(d, fx, "rfb_visual3_eval_b1", new Rfb(16, 16, 1, 0.1f, 3, d), false, true);
    }
  }

  /** The pattern of fx_aspp_rfb.py, in the same float32 steps. */
  private static float[] pattern(long n, int k, double amp, double offset) {
    float c = (float) (amp / 1000.0);
    float o = (float) offset;
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) {
      float m = (float) ((i * 7919L + k * 104729L) % 2001 - 1000);
      v[i] = offset != 0 ? m * c + o : m * c;
    }
    return v;
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void deepLabHeadMatchesTorchvision(Device d) {
    TestDevices.assumeUsable(d);
    SafeTensors.Contents fx = Fixtures.load("aspp_rfb/deeplab_head");
    try (Scope s = Scope.open()) {
      DeepLabHead head = new DeepLabHead(8, 3, DeepLabHead.RATES, 256, d);
      List<String> expected = List.of(fx.metadata().get("keys").split(";"));
      List<String> actual = new ArrayList<>();
      head.stateDict().forEach((k, t) -> {
        StringBuilder shape = new StringBuilder();
        for (int i = 0; i < t.rank(); i++) shape.append(i == 0 ? "" : "x").append(t.dim(i));
        actual.add(k + ":" + shape);
      });
      assertEquals(expected, actual, "DeepLabHead state dict keys and shapes");
      int k = 0;
      for (Map.Entry<String, Tensor> e : head.stateDict().entrySet()) {
        Tensor t = e.getValue();
        String name = e.getKey();
        if (t.dtype() == DType.F32) {
          float[] v;
          if (t.rank() == 4) v = pattern(t.numel(), k, 1.0 / Math.sqrt(t.numel() / t.dim(0)), 0);
          else if (name.endsWith("running_var")) v = pattern(t.numel(), k, 0.4, 1.0);
          else if (name.endsWith(".weight")) v = pattern(t.numel(), k, 0.3, 1.0);
          else v = pattern(t.numel(), k, 0.3, 0);
          t.copyFrom(MemorySegment.ofArray(v));
        }
        k++;
      }
      check(d, fx, "deeplab", head, false, false);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void emptyBatchAndOddMaps(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Aspp aspp = new Aspp(3, new int[] {2, 40}, 4, d);
      aspp.eval();
      assertArrayEquals(new int[] {0, 4, 5, 7}, aspp.forward(Tensor.zeros(d, 0, 3, 5, 7)).dims());
      assertArrayEquals(new int[] {1, 4, 3, 1}, aspp.forward(Tensor.ones(d, 1, 3, 3, 1)).dims());
      Rfb rfb = new Rfb(16, 8, 2, 1f, 2, d);
      rfb.eval();
      assertArrayEquals(new int[] {2, 8, 3, 4}, rfb.forward(Tensor.ones(d, 2, 16, 5, 7)).dims());
      RfbS rfbs = new RfbS(16, 8, 1, 1f, d);
      rfbs.eval();
      assertArrayEquals(new int[] {1, 8, 1, 1}, rfbs.forward(Tensor.ones(d, 1, 16, 1, 1)).dims());
    }
  }

  @Test
  void rejectsBadArguments() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      assertRejects("atrousRates", () -> new Aspp(4, new int[0], 8, d));
      assertRejects("atrousRates", () -> new Aspp(4, null, 8, d));
      assertRejects("atrousRates", () -> new Aspp(4, new int[] {6, 0}, 8, d));
      assertRejects("atrousRates", () -> new Aspp(4, new int[] {-3}, 8, d));
      assertRejects("inChannels", () -> new Aspp(0, new int[] {1}, 8, d));
      assertRejects("outChannels", () -> new Aspp(4, new int[] {1}, 0, d));
      assertRejects("outChannels", () -> new Aspp(4, new int[] {1, 2}, 1 << 29, d));
      Aspp aspp = new Aspp(4, new int[] {1}, 2, d);
      assertRejects("x", () -> aspp.forward(Tensor.zeros(d, 1, 5, 6, 6)));
      assertRejects("x", () -> aspp.forward(Tensor.zeros(d, 4, 6, 6)));
      // Training: the pooling branch's BN sees one value per channel for a batch of one (PyTorch's error).
      assertRejects("x", () -> aspp.train().forward(Tensor.zeros(d, 1, 4, 6, 6)));
      assertRejects("numClasses", () -> new DeepLabHead(4, 0, new int[] {1}, 8, d));
      assertRejects("inPlanes", () -> new Rfb(15, 8, 1, 0.1f, 1, d));
      assertRejects("outPlanes", () -> new Rfb(16, 0, 1, 0.1f, 1, d));
      assertRejects("visual", () -> new Rfb(16, 8, 1, 0.1f, 0, d));
      assertRejects("stride", () -> new Rfb(16, 8, 0, 0.1f, 1, d));
      assertRejects("scale", () -> new Rfb(16, 8, 1, Float.NaN, 1, d));
      assertRejects("inPlanes", () -> new RfbS(12, 8, 1, 0.1f, d));
      Rfb rfb = new Rfb(16, 8, 1, 0.1f, 1, d);
      assertRejects("x", () -> rfb.forward(Tensor.zeros(d, 1, 8, 6, 6)));
      RfbS strided = new RfbS(16, 8, 2, 0.1f, d);
      assertRejects("stride", () -> strided.forward(Tensor.zeros(d, 2, 16, 6, 6)));
    }
  }

}
