package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.Cbam.SpatialOrder;
import io.plugkit.nn.SqueezeExcite.Mlp;
import io.plugkit.nn.SqueezeExcite.Rounding;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SE and CBAM checkpoints in other ports' layouts (tools/fixtures/fx_se_cbam_layouts.py: the classic
 * SENet port, Linear fc1/fc2, CBAM's reference code, a Keras-style CBAM port, a whole network) loaded
 * through the layout options and StateDictMapping, forward and backward against PyTorch.
 */
class SeCbamLayoutsTest {
  // The same float chain as AttentionModulesTest (pooling, two small GEMMs, BN, gates): a few ulp per op.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;

  @TempDir Path tmp;

  /**
   * Runs {@code m} (weights already loaded) on the fixture's in.x and checks y, grad x and each
   * parameter's gradient, found in the fixture under the saved name {@code mapping} maps to it.
   */
  private static void check(Module m, String fixture, StateDictMapping mapping, Device d) {
    SafeTensors.Contents fx = Fixtures.load(fixture);
    m.train(Boolean.parseBoolean(fx.metadata().get("training")));
    Tensor x = fx.tensor("in.x", d).requiresGrad(true);
    Tensor y = m.forward(x);
    assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, fixture + " y");
    y.backward(fx.tensor("in.gout", d));
    assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, fixture + " grad x");
    Map<String, StateDictMapping.Source> names = mapping.apply(prefixed(fx, "grad.")).entries();
    for (var e : m.namedParameters().entrySet()) {
      StateDictMapping.Source src = names.get(e.getKey());
      assertTrue(src != null, fixture + ": no gradient maps to " + e.getKey() + " (" + names.keySet() + ")");
      // Parameter gradients sum over the batch and every pixel.
      assertClose(fx.get("grad." + src.key()).toFloats(), e.getValue().grad().toArray(), 1e-4, 1e-4,
          fixture + " grad " + e.getKey());
    }
  }

  /** The fixture's entries under {@code prefix}, prefix stripped, by shape (grad.x left out). */
  private static Map<String, Shape> prefixed(SafeTensors.Contents fx, String prefix) {
    Map<String, Shape> out = new LinkedHashMap<>();
    for (var e : fx.tensors().entrySet()) {
      if (e.getKey().startsWith(prefix) && !e.getKey().equals(prefix + "x")) out.put(e.getKey().substring(prefix.length()), e.getValue().shape());
    }
    return out;
  }

  private Path resourceFile(String name) throws IOException {
    Path p = tmp.resolve(name.replace('/', '_') + ".safetensors");
    try (InputStream in = getClass().getClassLoader().getResourceAsStream("fixtures/" + name + ".safetensors")) {
      Files.write(p, in.readAllBytes());
    }
    return p;
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void classicSenetPortLoadsAsSaved(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // C = 36, r = 8: C // r = 4 (timm's rounding would make 8).
      SqueezeExcite se = new SqueezeExcite(36, SqueezeExcite.Options.CLASSIC_SENET.rdRatio(1.0 / 8), d);
      assertEquals(List.of("fc.0.weight", "fc.2.weight"), List.copyOf(se.stateDict().keySet()));
      assertEquals(Shape.of(4, 36), se.stateDict().get("fc.0.weight").shape());
      se.loadStateDict(Fixtures.load("se_cbam_layouts/se_classic_weights"), true);
      check(se, "se_cbam_layouts/se_classic", StateDictMapping.identity(), d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void linearFc1Fc2WithBiases(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite.Options o = SqueezeExcite.Options.DEFAULT.mlp(Mlp.LINEAR_FC1_FC2).rdRatio(0.25).rounding(Rounding.FLOOR);
      SqueezeExcite se = new SqueezeExcite(10, o, d);
      assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), List.copyOf(se.stateDict().keySet()));
      se.loadStateDict(Fixtures.load("se_cbam_layouts/se_linear_bias_weights"), true);
      check(se, "se_cbam_layouts/se_linear_bias", StateDictMapping.identity(), d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void convSequentialWithBiases(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite.Options o = SqueezeExcite.Options.DEFAULT.mlp(Mlp.CONV_FC_SEQUENTIAL).rdRatio(0.25).rounding(Rounding.FLOOR);
      SqueezeExcite se = new SqueezeExcite(14, o, d);
      assertEquals(List.of("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"), List.copyOf(se.stateDict().keySet()));
      se.loadStateDict(Fixtures.load("se_cbam_layouts/se_conv_sequential_weights"), true);
      check(se, "se_cbam_layouts/se_conv_sequential", StateDictMapping.identity(), d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void cbamReferenceCodeCheckpoint(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Cbam cbam = new Cbam(24, Cbam.Options.ATTENTION_MODULE.rdRatio(1.0 / 8), d);
      assertEquals(List.of("channel.mlp.1.weight", "channel.mlp.1.bias", "channel.mlp.3.weight", "channel.mlp.3.bias",
          "spatial.conv.conv.weight", "spatial.conv.bn.weight", "spatial.conv.bn.bias", "spatial.conv.bn.running_mean",
          "spatial.conv.bn.running_var", "spatial.conv.bn.num_batches_tracked"), List.copyOf(cbam.stateDict().keySet()));
      StateDictMapping keys = Cbam.attentionModuleKeys();
      cbam.loadStateDict(Fixtures.load("se_cbam_layouts/cbam_attention_module_weights"), keys, true);
      check(cbam, "se_cbam_layouts/cbam_attention_module", keys, d);
      // Training mode: the spatial BN's running statistics moved with the reference's momentum 0.01.
      SafeTensors.Contents fx = Fixtures.load("se_cbam_layouts/cbam_attention_module");
      Map<String, Tensor> state = cbam.stateDict();
      for (String stat : List.of("running_mean", "running_var")) {
        assertClose(fx.get("after.SpatialGate.spatial.bn." + stat).toFloats(), state.get("spatial.conv.bn." + stat).toArray(),
            1e-6, 1e-5, "running " + stat);
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void kerasStyleCbamWithBiasedSpatialConvAndNoNorm(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Cbam.Options o = Cbam.Options.DEFAULT.mlp(Mlp.LINEAR_MLP_SEQUENTIAL).rdRatio(0.25).rounding(Rounding.FLOOR)
          .spatialBias(true).spatialNorm(false);
      Cbam cbam = new Cbam(12, o, d);
      StateDictMapping keys = StateDictMapping.identity().renamePrefix("ca.", "channel.").renamePrefix("sa.conv.", "spatial.conv.conv.");
      cbam.loadStateDict(Fixtures.load("se_cbam_layouts/cbam_keras_port_weights"), keys, true);
      check(cbam, "se_cbam_layouts/cbam_keras_port", keys, d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void blockOutOfAWholeNetworkFile(Device d) throws IOException {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite se = new SqueezeExcite(16, SqueezeExcite.Options.CLASSIC_SENET.rdRatio(0.25), d);
      Path file = resourceFile("se_cbam_layouts/network_se_weights");
      // Strict: the stem, the block's conv and the head lie outside the prefix, so they are not unexpected.
      se.load(file, StateDictMapping.identity().under("layer1.0.se."), true);
      check(se, "se_cbam_layouts/network_se", StateDictMapping.identity(), d);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> se.load(file, true));
      assertTrue(e.getMessage().contains("unexpected keys [stem.weight"), e.getMessage());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void linearWeightsIntoTimmConvsAndBack(Device d) throws IOException {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // The classic port's Linear fc.0 / fc.2 into timm's conv fc1 / fc2 (same math, [out, in] -> [out, in, 1, 1]).
      SqueezeExcite.Options timm = SqueezeExcite.Options.DEFAULT.bias(false).rdRatio(1.0 / 8).rounding(Rounding.FLOOR);
      StateDictMapping toConv = StateDictMapping.identity().renamePrefix("fc.0.", "fc1.").renamePrefix("fc.2.", "fc2.")
          .linearToConv("weight$");
      SqueezeExcite fromFile = new SqueezeExcite(36, timm, d);
      assertEquals(Shape.of(4, 36, 1, 1), fromFile.stateDict().get("fc1.weight").shape());
      fromFile.load(resourceFile("se_cbam_layouts/se_classic_weights"), toConv, true);
      check(fromFile, "se_cbam_layouts/se_classic", toConv, d);
      SqueezeExcite fromMemory = new SqueezeExcite(36, timm, d);
      fromMemory.loadStateDict(Fixtures.load("se_cbam_layouts/se_classic_weights"), toConv, true);
      check(fromMemory, "se_cbam_layouts/se_classic", toConv, d);
      // And back: timm's conv checkpoint (attention_gates/se_odd: C 10, rd 3, no bias) into Linear fc.0 / fc.2.
      StateDictMapping toLinear = StateDictMapping.identity().renamePrefix("fc1.", "fc.0.").renamePrefix("fc2.", "fc.2.")
          .convToLinear("weight$");
      SqueezeExcite linear = new SqueezeExcite(10, SqueezeExcite.Options.DEFAULT.rdRatio(0.25).rdDivisor(1).bias(false)
          .mlp(Mlp.LINEAR_FC_SEQUENTIAL), d);
      linear.load(resourceFile("attention_gates/se_odd_weights"), toLinear, true);
      check(linear, "attention_gates/se_odd", toLinear, d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void linearLayoutsTakeAnEmptyBatch(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // Batch 0 through the Linear reshapes ([0, C] and back to [0, C, 1, 1]) and the [max, mean] swap.
      Module[] modules = {new SqueezeExcite(16, SqueezeExcite.Options.CLASSIC_SENET.rdRatio(0.25), d),
          new Cbam(16, Cbam.Options.ATTENTION_MODULE.rdRatio(0.25), d).eval()};
      for (Module m : modules) {
        Tensor x = Tensor.zeros(d, 0, 16, 3, 2).requiresGrad(true);
        Tensor y = m.forward(x);
        assertEquals(Shape.of(0, 16, 3, 2), y.shape());
        y.backward(Tensor.zeros(d, 0, 16, 3, 2));
        assertEquals(Shape.of(0, 16, 3, 2), x.grad().shape());
      }
    }
  }

  private static SafeTensors.Entry zeros(int... dims) {
    return new SafeTensors.Entry(DType.F32, Shape.of(dims), new byte[(int) Shape.of(dims).numel() * 4]);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void strictReportListsEveryProblemBeforeAnyWrite(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite se = new SqueezeExcite(36, SqueezeExcite.Options.DEFAULT.rdChannels(4), d);
      float[] before = se.stateDict().get("fc1.weight").toArray();
      Map<String, SafeTensors.Entry> entries = new LinkedHashMap<>();
      entries.put("fc.0.weight", zeros(4, 36));   // -> fc1.weight [4, 36, 1, 1]: fits
      entries.put("fc.0.bias", zeros(5));         // -> fc1.bias: size mismatch
      entries.put("fc.2.weight", zeros(36, 4));   // not renamed: unexpected
      entries.put("head.weight", zeros(5, 2, 3)); // linearToConv of a rank-3 weight
      StateDictMapping m = StateDictMapping.identity().renamePrefix("fc.0.", "fc1.").linearToConv("weight$");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> se.loadStateDict(entries, m, true));
      String msg = e.getMessage();
      assertTrue(msg.contains("missing keys [fc2.weight, fc2.bias]"), msg);
      assertTrue(msg.contains("unexpected keys [fc.2.weight]"), msg);
      assertTrue(msg.contains("fc1.bias (saved as fc.0.bias): expected shape [4] but got [5]"), msg);
      assertTrue(msg.contains("head.weight (saved as head.weight): linearToConv expected a Linear weight [out, in] but got shape [5, 2, 3]"), msg);
      // Nothing was written, not even the entry that fit.
      assertArrayEquals(before, se.stateDict().get("fc1.weight").toArray());
      // Non-strict: missing and unexpected keys pass, but a mismatch and a failed reshape do not.
      IllegalArgumentException lax = assertThrows(IllegalArgumentException.class, () -> se.loadStateDict(entries, m, false));
      assertTrue(!lax.getMessage().contains("missing") && lax.getMessage().contains("fc1.bias"), lax.getMessage());
      // Two saved keys mapped to one name.
      Map<String, SafeTensors.Entry> twice = new LinkedHashMap<>();
      twice.put("a.weight", zeros(4, 36, 1, 1));
      twice.put("b.weight", zeros(4, 36, 1, 1));
      StateDictMapping both = StateDictMapping.identity().rename("^[ab]\\.", "fc1.");
      IllegalArgumentException c = assertThrows(IllegalArgumentException.class, () -> se.loadStateDict(twice, both, false));
      assertTrue(c.getMessage().contains("fc1.weight: saved keys a.weight and b.weight both map to it"), c.getMessage());
      assertArrayEquals(before, se.stateDict().get("fc1.weight").toArray());
    }
  }

  @Test
  void roundingAndValidation() {
    assertEquals(8, SqueezeExcite.Options.DEFAULT.rdRatio(1.0 / 8).reducedChannels(36));
    assertEquals(4, SqueezeExcite.Options.CLASSIC_SENET.rdRatio(1.0 / 8).reducedChannels(36));
    assertEquals(3, SqueezeExcite.Options.CLASSIC_SENET.rdRatio(1.0 / 3).reducedChannels(9));
    assertEquals(1, SqueezeExcite.Options.CLASSIC_SENET.reducedChannels(31));
    assertEquals(0, SqueezeExcite.Options.CLASSIC_SENET.reducedChannels(15));
    assertEquals(SpatialOrder.MEAN_MAX, Cbam.Options.DEFAULT.spatialOrder());
    assertRejects("channels, options", () -> new SqueezeExcite(15, SqueezeExcite.Options.CLASSIC_SENET, Device.cpu()));
    assertRejects("norm", () -> SqueezeExcite.Options.CLASSIC_SENET.norm(true));
    assertRejects("mlp", () -> SqueezeExcite.Options.DEFAULT.mlp(null));
    assertRejects("rounding", () -> Cbam.Options.DEFAULT.rounding(null));
    assertRejects("spatialOrder", () -> Cbam.Options.DEFAULT.spatialOrder(null));
    assertRejects("spatialBnMomentum", () -> Cbam.Options.DEFAULT.spatialBnMomentum(2f));
    assertRejects("prefix", () -> StateDictMapping.identity().under(""));
    assertRejects("from", () -> StateDictMapping.identity().renamePrefix(null, "x"));
    assertRejects("regex", () -> StateDictMapping.identity().rename("(", "x"));
    assertRejects("regex", () -> StateDictMapping.identity().linearToConv(null));
    assertRejects("saved", () -> StateDictMapping.identity().apply(null));
    assertRejects("before", () -> Cbam.attentionModuleKeys(null));
  }

  @Test
  void mappingNullsNameTheArgument() {
    try (Scope s = Scope.open()) {
      SqueezeExcite se = new SqueezeExcite(16, SqueezeExcite.Options.DEFAULT, Device.cpu());
      assertRejects("mapping", () -> se.loadStateDict(Map.of(), null, true));
      assertRejects("mapping", () -> se.load(tmp.resolve("none.safetensors"), null, true));
      assertRejects("file", () -> se.load(null, StateDictMapping.identity(), true));
      assertRejects("contents", () -> se.loadStateDict((SafeTensors.Contents) null, StateDictMapping.identity(), true));
    }
  }
}
