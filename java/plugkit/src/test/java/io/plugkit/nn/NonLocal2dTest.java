package io.plugkit.nn;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.MemoryStats;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.NonLocal2d.Mode;
import io.plugkit.testing.Fixtures;
import io.plugkit.testing.TestDevices;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class NonLocal2dTest {
  /** The cases of tools/fixtures/fx_nonlocal.py. */
  private static final List<String> CASES = List.of("embedded_sub_bn", "embedded_plain", "embedded_n1", "gaussian_sub_bn",
      "gaussian_plain", "dot_sub_bn", "dot_plain", "concat_sub_bn", "concat_plain", "concat_n1");

  private static NonLocal2d fromMetadata(Map<String, String> meta, Device d) {
    return new NonLocal2d(Integer.parseInt(meta.get("in_channels")), Integer.parseInt(meta.get("inter_channels")),
        Mode.valueOf(meta.get("mode").toUpperCase(java.util.Locale.ROOT)), meta.get("sub_sample").equals("1"),
        meta.get("bn_layer").equals("1"), d);
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void matchesPyTorchForwardAndBackward(Device d) {
    TestDevices.assumeUsable(d);
    for (String name : CASES) {
      for (boolean fused : new boolean[] {true, false}) {
        try (Scope s = Scope.open()) {
          SafeTensors.Contents weights = Fixtures.load("nonlocal/" + name + "_weights");
          NonLocal2d block = fromMetadata(weights.metadata(), d);
          if (fused && !block.isFused()) continue; // the plain-only modes run once, plain
          block.fused(fused);
          assertEquals(List.copyOf(weights.tensors().keySet()), List.copyOf(block.stateDict().keySet()), name + " state dict keys");
          block.loadStateDict(weights, true);
          SafeTensors.Contents fx = Fixtures.load("nonlocal/" + name);
          Tensor x = fx.tensor("in.x", d).requiresGrad(true);
          Tensor z = block.forward(x);
          String what = name + (fused ? " fused" : " plain");
          // Float convs, attention and batch norm over at most 42 positions: a few ulp per stage.
          assertClose(fx.get("out.z").toFloats(), z.toArray(), 1e-5, 1e-4, what + " z");
          z.backward(fx.tensor("in.gout", d));
          // Batch norm's backward divides by the batch std of small activations, which amplifies
          // rounding; the parameter gradients sum over every position.
          assertClose(fx.get("grad.x").toFloats(), x.grad().toArray(), 1e-4, 1e-3, what + " grad x");
          for (var e : block.namedParameters().entrySet()) {
            // W.0.bias feeds a training-mode batch norm, which removes any constant shift: its exact
            // gradient is 0, and what PyTorch (6e-5) and we get is rounding noise of a sum over every
            // position, in float on the GPU (one block reduction) and in double on the host.
            boolean zeroByBatchNorm = e.getKey().equals("W.0.bias") && weights.metadata().get("bn_layer").equals("1");
            assertClose(fx.get("grad." + e.getKey()).toFloats(), e.getValue().grad().toArray(),
                zeroByBatchNorm ? 5e-4 : 1e-4, 1e-3, what + " grad " + e.getKey());
          }
        }
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void startsAsIdentityWithReferenceNames(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.uniform(d, 3, -1f, 1f, 2, 6, 4, 6);
      NonLocal2d withBn = new NonLocal2d(6, Mode.EMBEDDED_GAUSSIAN, d);
      assertEquals(3, withBn.interChannels());
      assertEquals(List.of("g.0.weight", "g.0.bias", "W.0.weight", "W.0.bias", "W.1.weight", "W.1.bias", "theta.weight",
          "theta.bias", "phi.0.weight", "phi.0.bias"), List.copyOf(withBn.namedParameters().keySet()));
      assertArrayEquals(x.toArray(), withBn.forward(x).toArray(), "zero BN gamma and beta: z = x");
      NonLocal2d noBn = new NonLocal2d(6, 3, Mode.CONCATENATION, false, false, d);
      assertEquals(List.of("g.weight", "g.bias", "W.weight", "W.bias", "theta.weight", "theta.bias", "phi.weight", "phi.bias",
          "concat_project.0.weight"), List.copyOf(noBn.namedParameters().keySet()));
      assertArrayEquals(x.toArray(), noBn.forward(x).toArray(), "zero W conv: z = x");
      NonLocal2d gaussian = new NonLocal2d(6, Mode.GAUSSIAN, d);
      assertEquals(List.of("g.0.weight", "g.0.bias", "W.0.weight", "W.0.bias", "W.1.weight", "W.1.bias"),
          List.copyOf(gaussian.namedParameters().keySet()));
      assertEquals(1, new NonLocal2d(1, Mode.DOT_PRODUCT, d).interChannels(), "inter channels at least 1");
      assertFalse(new NonLocal2d(4, Mode.DOT_PRODUCT, d).isFused());
      assertTrue(gaussian.isFused());
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void fusedAgreesWithPlain(Device d) {
    TestDevices.assumeUsable(d);
    for (Mode mode : new Mode[] {Mode.EMBEDDED_GAUSSIAN, Mode.GAUSSIAN}) {
      try (Scope s = Scope.open()) {
        NonLocal2d block = new NonLocal2d(16, 8, mode, true, true, d);
        randomize(block, d);
        Tensor x0 = Tensor.uniform(d, 7, -1f, 1f, 2, 16, 18, 14);
        Tensor gout = Tensor.uniform(d, 8, -1f, 1f, 2, 16, 18, 14);
        float[][] fused = run(block.fused(true), x0, gout);
        float[][] plain = run(block.fused(false), x0, gout);
        // Same math in float, different summation order in the attention (sums of 63 keys): the
        // batch norm after it scales differences by about 1/std; 1e-4 absolute on values of order 1.
        assertClose(plain[0], fused[0], 1e-4, 1e-4, mode + " z");
        for (int i = 1; i < plain.length; i++) assertClose(plain[i], fused[i], 2e-4, 1e-3, mode + " grad " + i);
      }
    }
  }

  /** Non-zero weights everywhere (at initialisation W(y) = 0 and z = x whatever the attention does). */
  private static void randomize(Module block, Device d) {
    long seed = 40;
    for (Tensor p : block.parameters()) {
      p.copyFrom(MemorySegment.ofArray(Tensor.uniform(d, seed++, -0.8f, 0.8f, p.dims()).toArray()));
    }
  }

  /** z and the gradients of x and of every parameter, the parameters' gradients reset first. */
  private static float[][] run(NonLocal2d block, Tensor x0, Tensor gout) {
    List<Tensor> params = block.parameters();
    params.forEach(Tensor::zeroGrad);
    Tensor x = x0.copy().requiresGrad(true);
    Tensor z = block.forward(x);
    z.backward(gout);
    float[][] out = new float[params.size() + 2][];
    out[0] = z.toArray();
    out[1] = x.grad().toArray();
    for (int i = 0; i < params.size(); i++) out[i + 2] = params.get(i).grad().toArray();
    return out;
  }

  /**
   * N = 64 x 64 = 4096 positions without sub-sampling: one N x N float matrix is 64 MiB. The fused
   * block trains within a 4 MiB budget (activations are O(N * C)); the plain path at the same size
   * does hold N x N matrices, which shows the sampler sees them.
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void fusedBlockNeverHoldsTheAffinityMatrix(Device d) {
    TestDevices.assumeUsable(d);
    int side = 64;
    long affinityBytes = 4L * side * side * side * side;
    long budget = 4L << 20;
    try (Scope s = Scope.open()) {
      NonLocal2d block = new NonLocal2d(4, 2, Mode.EMBEDDED_GAUSSIAN, false, true, d);
      randomize(block, d);
      Tensor x = Tensor.uniform(d, 9, -1f, 1f, 1, 4, side, side).requiresGrad(true);
      Tensor gout = Tensor.uniform(d, 10, -1f, 1f, 1, 4, side, side);
      long[] afterForward = new long[1];
      for (boolean fused : new boolean[] {true, false}) {
        block.fused(fused);
        long base = MemoryStats.liveBytes();
        MemoryStats.resetPeak();
        try (Scope step = Scope.open()) {
          Tensor z = block.forward(x);
          afterForward[0] = MemoryStats.liveBytes(); // everything the backward will need is alive here
          z.backward(gout);
        }
        long peak = MemoryStats.peakBytes() - base;
        if (fused) {
          assertTrue(afterForward[0] - base < budget, "fused: live after forward " + (afterForward[0] - base) + " bytes");
          assertTrue(peak < budget, "fused: peak " + peak + " bytes, budget " + budget);
        } else {
          assertTrue(afterForward[0] - base > affinityBytes, "plain: live after forward " + (afterForward[0] - base) + " bytes");
        }
        block.parameters().forEach(Tensor::zeroGrad);
        x.zeroGrad();
      }
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void badInput(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      NonLocal2d block = new NonLocal2d(6, Mode.EMBEDDED_GAUSSIAN, d);
      assertMessage(() -> block.forward(Tensor.zeros(d, 2, 5, 4, 4)), "x: expected 6 channels (dim 1) but got shape [2, 5, 4, 4]");
      assertMessage(() -> block.forward(Tensor.zeros(d, 6, 4, 4)), "x: expected rank 4 but got rank 3");
      assertMessage(() -> block.forward(null), "x: expected a tensor but got null");
      assertMessage(() -> block.forward(Tensor.zeros(d, 2, 6, 1, 4)), "x: sub-sampling (max-pool 2) needs H >= 2 and W >= 2");
      assertMessage(() -> new NonLocal2d(4, Mode.DOT_PRODUCT, d).fused(true), "fused: the DOT_PRODUCT pairwise function has no softmax");
      assertMessage(() -> new NonLocal2d(0, Mode.GAUSSIAN, d), "inChannels: expected > 0 but got 0");
      assertMessage(() -> new NonLocal2d(4, 0, Mode.GAUSSIAN, true, true, d), "interChannels: expected > 0 but got 0");
      assertMessage(() -> new NonLocal2d(4, null, d), "mode: expected EMBEDDED_GAUSSIAN");
      assertMessage(() -> new NonLocal2d(4, Mode.GAUSSIAN, null), "device: expected a device but got null");
    }
  }

  private static void assertMessage(Executable call, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
  }
}
