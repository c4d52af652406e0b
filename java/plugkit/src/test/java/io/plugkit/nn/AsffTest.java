package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class AsffTest {
  // A dozen convolutions, batch norms and the fusion in float against PyTorch's; training mode
  // divides by batch standard deviations of few values (batch 1, 3x5 maps).
  private static final double ATOL = 1e-4;
  private static final double RTOL = 1e-4;
  private static final double GRAD_ATOL = 2e-4;
  private static final double GRAD_RTOL = 2e-4;

  private static final String[] CASES = {"level0_train", "level0_eval", "level1_train", "level1_eval", "level2_train",
      "level2_eval", "level0_odd_eval", "level1_odd_train"};

  private static Asff fromFixture(SafeTensors.Contents weights, Device d) {
    var m = weights.metadata();
    int[] dims = Arrays.stream(m.get("dims").split(",")).mapToInt(Integer::parseInt).toArray();
    Asff asff = new Asff(Integer.parseInt(m.get("level")), dims, Integer.parseInt(m.get("out_channels")),
        m.get("rfb").equals("1"), false, d);
    asff.loadStateDict(weights, true);
    asff.train(Boolean.parseBoolean(m.get("training")));
    return asff;
  }

  /** Every level in train and eval mode: output, vis outputs, running statistics, input and parameter gradients. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorch(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      try (Scope s = Scope.open()) {
        SafeTensors.Contents w = Fixtures.load("asff/" + name + "_weights");
        SafeTensors.Contents fx = Fixtures.load("asff/" + name);
        Asff asff = fromFixture(w, d);
        assertEquals(List.copyOf(w.tensors().keySet()), List.copyOf(asff.stateDict().keySet()), name + " keys");
        Tensor[] x = new Tensor[3];
        for (int k = 0; k < 3; k++) x[k] = fx.tensor("in.x" + k, d).requiresGrad(true);
        Asff.Fused out = asff.forwardVis(x[0], x[1], x[2]);
        assertEquals(fx.get("out.y").shape(), out.out().shape(), name + " shape");
        assertClose(fx.get("out.y").toFloats(), out.out().toArray(), ATOL, RTOL, name + " y");
        assertClose(fx.get("out.weights").toFloats(), out.weights().toArray(), ATOL, RTOL, name + " weights");
        assertClose(fx.get("out.fused_sum").toFloats(), out.fusedSum().toArray(), ATOL, RTOL, name + " fused sum");
        for (var e : asff.namedBuffers().entrySet()) {
          if (e.getKey().endsWith("running_mean") || e.getKey().endsWith("running_var")) {
            assertClose(fx.get("state." + e.getKey()).toFloats(), e.getValue().toArray(), ATOL, RTOL, name + " " + e.getKey());
          }
        }
        out.out().backward(fx.tensor("in.gout", d));
        for (int k = 0; k < 3; k++) {
          assertClose(fx.get("grad.x" + k).toFloats(), x[k].grad().toArray(), GRAD_ATOL, GRAD_RTOL, name + " grad x" + k);
        }
        for (var e : asff.namedParameters().entrySet()) {
          assertClose(fx.get("grad." + e.getKey()).toFloats(), e.getValue().grad().toArray(), GRAD_ATOL, GRAD_RTOL,
              name + " grad " + e.getKey());
        }
      }
    }
  }

  /** forward and forwardVis give the same output; batch 0 (eval) gives empty outputs. */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void plainForwardAndEmptyBatch(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Asff asff = fromFixture(Fixtures.load("asff/level1_eval_weights"), d);
      SafeTensors.Contents fx = Fixtures.load("asff/level1_eval");
      Tensor y = asff.forward(fx.tensor("in.x0", d), fx.tensor("in.x1", d), fx.tensor("in.x2", d));
      assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, "forward y");
      Tensor e0 = Tensor.zeros(d, 0, 4, 2, 3).requiresGrad(true);
      Tensor e1 = Tensor.zeros(d, 0, 6, 4, 6);
      Tensor e2 = Tensor.zeros(d, 0, 3, 8, 12);
      Tensor empty = asff.forward(e0, e1, e2);
      assertEquals(Shape.of(0, 3, 4, 6), empty.shape());
      empty.backward(Tensor.zeros(d, 0, 3, 4, 6));
      assertEquals(e0.shape(), e0.grad().shape());
    }
  }

  /** The reference's blocks (dims 512/256/256): its state dict keys, in its order, and shapes. */
  @Test
  void referenceBlocksHaveTheReferenceKeys() {
    String[][] children = {
        {"stride_level_1", "stride_level_2", "expand"},
        {"compress_level_0", "stride_level_2", "expand"},
        {"compress_level_0", "expand"}};
    for (int level = 0; level < 3; level++) {
      for (boolean rfb : new boolean[] {false, true}) {
        try (Scope s = Scope.open()) {
          Asff asff = new Asff(level, rfb, false, Device.cpu());
          List<String> expected = new ArrayList<>();
          List<String> blocks = new ArrayList<>(List.of(children[level]));
          blocks.addAll(List.of("weight_level_0", "weight_level_1", "weight_level_2"));
          for (String b : blocks) {
            for (String k : new String[] {"conv.weight", "batch_norm.weight", "batch_norm.bias", "batch_norm.running_mean",
                "batch_norm.running_var", "batch_norm.num_batches_tracked"}) {
              expected.add(b + "." + k);
            }
          }
          expected.add("weight_levels.weight");
          expected.add("weight_levels.bias");
          // Parameters come before buffers within each module, so compare as sets plus counts.
          assertEquals(expected.stream().sorted().toList(), asff.stateDict().keySet().stream().sorted().toList());
          int inter = Asff.REFERENCE_DIMS[level];
          int c = rfb ? 8 : 16;
          assertEquals(Shape.of(Asff.REFERENCE_OUT[level], inter, 3, 3), asff.stateDict().get("expand.conv.weight").shape());
          assertEquals(Shape.of(c, inter, 1, 1), asff.stateDict().get("weight_level_1.conv.weight").shape());
          assertEquals(Shape.of(3, 3 * c, 1, 1), asff.stateDict().get("weight_levels.weight").shape());
          if (level == 0) assertEquals(Shape.of(512, 256, 3, 3), asff.stateDict().get("stride_level_2.conv.weight").shape());
          if (level > 0) assertEquals(Shape.of(inter, 512, 1, 1), asff.stateDict().get("compress_level_0.conv.weight").shape());
        }
      }
    }
  }

  @Test
  void rejectsBadInput() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      assertRejects("level", () -> new Asff(3, false, false, d));
      assertRejects("level", () -> new Asff(-1, new int[] {4, 4, 4}, 4, false, false, d));
      assertRejects("dims", () -> new Asff(0, new int[] {4, 4}, 4, false, false, d));
      assertRejects("dims", () -> new Asff(0, new int[] {4, 0, 4}, 4, false, false, d));
      assertRejects("dims", () -> new Asff(0, null, 4, false, false, d));
      assertRejects("outChannels", () -> new Asff(1, new int[] {4, 4, 4}, 0, false, false, d));
      Asff asff = new Asff(1, new int[] {4, 6, 3}, 5, false, false, d);
      Tensor x0 = Tensor.zeros(d, 2, 4, 3, 5);
      Tensor x1 = Tensor.zeros(d, 2, 6, 6, 10);
      Tensor x2 = Tensor.zeros(d, 2, 3, 12, 20);
      assertRejects("x0", () -> asff.forward(null, x1, x2));
      assertRejects("x0", () -> asff.forward(Tensor.zeros(d, 2, 5, 3, 5), x1, x2));
      assertRejects("x0", () -> asff.forward(Tensor.zeros(d, 2, 4, 15), x1, x2));
      assertRejects("x0", () -> asff.forward(Tensor.empty(d, DType.I64, Shape.of(2, 4, 3, 5)), x1, x2));
      assertRejects("x1", () -> asff.forward(x0, Tensor.zeros(d, 3, 6, 6, 10), x2));  // batch
      assertRejects("x1", () -> asff.forward(x0, Tensor.zeros(d, 2, 4, 6, 10), x2));  // channels
      assertRejects("x1", () -> asff.forward(x0, Tensor.zeros(d, 2, 6, 6, 9), x2));   // upsampled x0 is 6x10
      assertRejects("x2", () -> asff.forward(x0, x1, Tensor.zeros(d, 2, 3, 12, 18)));  // halves to 6x9, not 6x10
      assertRejects("x2", () -> asff.forward(x0, x1, Tensor.zeros(d, 2, 3, 6, 10)));   // halves to 3x5
      asff.forward(x0, x1, Tensor.zeros(d, 2, 3, 11, 19));  // halves, rounding up, to 6x10: the reference fuses it too
      assertRejects("x2", () -> asff.forward(x0, x1, Tensor.zeros(d, 1, 3, 12, 20)));
      assertRejects("x2", () -> asff.forward(x0, x1, Tensor.zeros(d, 2, 6, 12, 20)));
      assertRejects("x", () -> asff.forward(x0));
    }
  }
}
