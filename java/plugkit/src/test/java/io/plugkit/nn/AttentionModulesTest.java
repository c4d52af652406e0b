package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.SqueezeExcite.Activation;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** SqueezeExcite, Cbam and DcaChain against tools/fixtures/fx_attention_gates.py (timm's layouts). */
class AttentionModulesTest {
  // Each module chains pooling, two 1x1 convs (GEMMs over C), BN and a gate in float; the fixtures
  // run the same float ops in another summation order. Outputs are O(1): a few ulp per op.
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;

  /** Loads {@code <name>_weights}, runs the module on in.x in the fixture's mode and checks y and every gradient. */
  private static void checkAgainstFixture(Module m, String name, Device d) {
    m.loadStateDict(Fixtures.load("attention_gates/" + name + "_weights"), true);
    SafeTensors.Contents fx = Fixtures.load("attention_gates/" + name);
    m.train(Boolean.parseBoolean(fx.metadata().get("training")));
    Tensor x = fx.tensor("in.x", d).requiresGrad(true);
    Tensor y;
    if (m instanceof DcaChain chain) {
      DcaChain.Attended out = chain.forwardWithAttention(x);
      assertClose(fx.get("out.att").toFloats(), out.channel().toArray(), ATOL, RTOL, name + " attention passed on");
      out.channel().backward(fx.tensor("in.gatt", d));
      y = out.output();
    } else {
      y = m.forward(x);
    }
    assertClose(fx.get("out.y").toFloats(), y.toArray(), ATOL, RTOL, name + " y");
    y.backward(fx.tensor("in.gout", d));
    assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), ATOL, RTOL, name + " grad x");
    for (var e : m.namedParameters().entrySet()) {
      // Parameter gradients sum over the batch and every pixel (up to 2 x 35 values per entry).
      String key = e.getKey();
      assertClose(fx.get("grad." + key).toFloats(), e.getValue().grad().toArray(), 1e-4, 1e-4, name + " grad " + key);
    }
  }

  @Test
  void makeDivisibleIsTimms() {
    assertEquals(8, SqueezeExcite.makeDivisible(20 / 16.0, 8, 0));
    assertEquals(16, SqueezeExcite.makeDivisible(256 / 16.0, 8, 0));
    assertEquals(8, SqueezeExcite.makeDivisible(100 / 16.0, 8, 0));
    assertEquals(3, SqueezeExcite.makeDivisible(2.5, 1, 0));
    assertEquals(2, SqueezeExcite.makeDivisible(1.5, 1, 0));
    // The round limit adds a divisor when rounding down lost more than 10%: 11 -> 8 < 0.9 * 11.
    assertEquals(16, SqueezeExcite.makeDivisible(11, 8, 0.9));
    assertEquals(8, SqueezeExcite.makeDivisible(11, 8, 0));
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void squeezeExciteMatchesTimm(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      checkAgainstFixture(new SqueezeExcite(20, SqueezeExcite.Options.DEFAULT, d), "se_default", d);
      SqueezeExcite.Options all = SqueezeExcite.Options.DEFAULT.rdChannels(5).addMaxpool(true).norm(true)
          .act(Activation.SILU).gate(Gate.HARD_SIGMOID);
      checkAgainstFixture(new SqueezeExcite(12, all, d), "se_options", d);
      SqueezeExcite.Options odd = SqueezeExcite.Options.DEFAULT.rdRatio(0.25).rdDivisor(1).bias(false);
      checkAgainstFixture(new SqueezeExcite(10, odd, d), "se_odd", d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void cbamMatchesTimm(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      checkAgainstFixture(new Cbam(24, Cbam.Options.DEFAULT, d), "cbam_default", d);
      Cbam.Options options = Cbam.Options.DEFAULT.rdChannels(3).spatialKernelSize(3).gate(Gate.HARD_SIGMOID).mlpBias(true);
      checkAgainstFixture(new Cbam(10, options, d), "cbam_options", d);
      // A ReLU'd input with all-zero planes: amax shares the max gradient among the ties.
      checkAgainstFixture(new Cbam(8, Cbam.Options.DEFAULT.rdChannels(2), d), "cbam_relu_ties", d);
    }
  }

  private static DcaChain fixtureChain(Device d) {
    List<Module> bodies = List.of(new Conv2d(6, 8, 3, 3, 1, true, d).padding(1), new Conv2d(8, 8, 3, 3, 1, true, d).padding(1),
        new Conv2d(8, 12, 1, 1, 1, true, d));
    return DcaChain.se(bodies, new int[] {8, 8, 12}, SqueezeExcite.Options.DEFAULT.rdRatio(0.25).rdDivisor(1), d);
  }

  private static DcaChain fixtureCbamChain(Device d) {
    List<Module> bodies = List.of(new Conv2d(4, 6, 3, 3, 1, true, d).padding(1),
        new Conv2d(6, 6, 3, 3, 1, true, d).padding(1).stride(2), new Conv2d(6, 10, 1, 1, 1, true, d));
    return DcaChain.cbam(bodies, new int[] {6, 6, 10}, Cbam.Options.DEFAULT.rdRatio(0.25).spatialKernelSize(3), d);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void dcaChainMatchesTheReferenceConnection(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      checkAgainstFixture(fixtureChain(d), "dca_se", d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void dcaCbamChainMatchesTheReferenceConnections(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      // Stage 1 halves H and W (the previous spatial map is average-pooled), stage 2 projects 6 -> 10 channels.
      checkAgainstFixture(fixtureCbamChain(d), "dca_cbam", d);
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void stateDictNamesAreTimms(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite.Options norm = SqueezeExcite.Options.DEFAULT.norm(true);
      assertEquals(List.of("fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
          "bn.num_batches_tracked", "fc2.weight", "fc2.bias"), List.copyOf(new SqueezeExcite(64, norm, d).stateDict().keySet()));
      Map<String, Tensor> cbam = new Cbam(64, Cbam.Options.DEFAULT, d).stateDict();
      assertEquals(List.of("channel.fc1.weight", "channel.fc2.weight", "spatial.conv.conv.weight", "spatial.conv.bn.weight",
          "spatial.conv.bn.bias", "spatial.conv.bn.running_mean", "spatial.conv.bn.running_var",
          "spatial.conv.bn.num_batches_tracked"), List.copyOf(cbam.keySet()));
      // timm: rd = make_divisible(64 / 16, 1) = 4 for CBAM, make_divisible(64 / 16, 8) = 8 for SE.
      assertEquals(4, cbam.get("channel.fc1.weight").dim(0));
      assertEquals(8, new SqueezeExcite(64, SqueezeExcite.Options.DEFAULT, d).stateDict().get("fc1.weight").dim(0));
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void badInputNamesTheArgument(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      SqueezeExcite se = new SqueezeExcite(8, SqueezeExcite.Options.DEFAULT, d);
      Cbam cbam = new Cbam(8, Cbam.Options.DEFAULT, d);
      Tensor wrongChannels = Tensor.zeros(d, 2, 6, 4, 4);
      Tensor rank3 = Tensor.zeros(d, 8, 4, 4);
      assertRejects("x", () -> se.forward(wrongChannels));
      assertRejects("x", () -> se.forward(rank3));
      assertRejects("x", () -> se.forward(null));
      assertRejects("x", () -> cbam.forward(wrongChannels));
      assertRejects("x", () -> cbam.forward(rank3));
      assertRejects("channels", () -> new SqueezeExcite(0, SqueezeExcite.Options.DEFAULT, d));
      assertRejects("rdRatio", () -> SqueezeExcite.Options.DEFAULT.rdRatio(0));
      assertRejects("rdChannels", () -> SqueezeExcite.Options.DEFAULT.rdChannels(-1));
      assertRejects("gate", () -> SqueezeExcite.Options.DEFAULT.gate(null));
      assertRejects("spatialKernelSize", () -> Cbam.Options.DEFAULT.spatialKernelSize(4));
      assertRejects("rdDivisor", () -> Cbam.Options.DEFAULT.rdDivisor(0));
      DcaChain chain = fixtureChain(d);
      // A body whose output does not have its stage's channel count.
      DcaChain declared8 = DcaChain.se(List.of(new ReLU()), new int[] {8}, SqueezeExcite.Options.DEFAULT, d);
      assertRejects("x", () -> declared8.forward(Tensor.zeros(d, 2, 6, 4, 5)));
      Tensor x8 = Tensor.zeros(d, 2, 8, 4, 5);
      DcaChain.Attended wrongWidth = new DcaChain.Attended(x8, Tensor.zeros(d, 2, 12), null);
      assertRejects("prev", () -> chain.attention(1).forward(x8, null));
      assertRejects("prev", () -> chain.attention(1).forward(x8, wrongWidth));
      assertRejects("prev", () -> chain.attention(0).forward(x8, new DcaChain.Attended(x8, Tensor.zeros(d, 2, 8), null)));
      assertRejects("channels", () -> DcaChain.se(List.of(new ReLU()), new int[] {8, 8}, SqueezeExcite.Options.DEFAULT, d));
      // DCANet builds its own layers: another checkpoint layout would be silently ignored.
      assertRejects("options", () -> DcaChain.se(List.of(new ReLU()), new int[] {8}, SqueezeExcite.Options.CLASSIC_SENET, d));
      assertRejects("options", () -> DcaChain.cbam(List.of(new ReLU()), new int[] {8}, Cbam.Options.ATTENTION_MODULE, d));
      DcaChain cbamChain = fixtureCbamChain(d);
      Tensor x6 = Tensor.zeros(d, 2, 6, 4, 3);
      Tensor map6 = Tensor.zeros(d, 2, 6, 8, 6);
      assertRejects("prev", () -> cbamChain.attention(1).forward(x6, null));
      Tensor map5 = Tensor.zeros(d, 2, 5, 8, 6);
      assertRejects("prev.channel", () -> cbamChain.attention(1).forward(x6, new DcaChain.Attended(map6, map5, map6)));
      // A previous spatial map that does not pool to the current size (7 / 4 -> extent 1).
      Tensor map7 = Tensor.zeros(d, 2, 6, 7, 6);
      assertRejects("prev.spatial", () -> cbamChain.attention(1).forward(x6, new DcaChain.Attended(map6, map6, map7)));
    }
  }
}
