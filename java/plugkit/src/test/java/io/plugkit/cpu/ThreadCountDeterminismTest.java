package io.plugkit.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.ops.AtrousConv;
import io.plugkit.ops.Attention;
import io.plugkit.ops.AttentionGates;
import io.plugkit.ops.AttentionGates.Gate;
import io.plugkit.ops.BatchNorm;
import io.plugkit.ops.Conv;
import io.plugkit.ops.DeformConv;
import io.plugkit.ops.GridSample;
import io.plugkit.ops.Linear;
import io.plugkit.ops.Reductions;
import io.plugkit.ops.Softmax;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Every CPU op gives the same bits at any thread count: GEMMs are cut into blocks that depend on
 * the shapes only (native/pk_runtime.cpp), and kernel items own their outputs. Shapes are large
 * enough that every GEMM is cut into blocks (2 to 4) and kernels run in parallel.
 */
class ThreadCountDeterminismTest {
  private static final Device CPU = Device.cpu();
  private static final int[] THREADS = {1, 2, 3, 7};

  @AfterEach
  void restoreThreads() { CpuDriver.instance().setThreads(Runtime.getRuntime().availableProcessors()); }

  @Test
  void conv2dForwardAndBackward() {
    assertSameBitsAtEveryThreadCount("conv2d", () -> {
      Tensor x = Tensor.randn(CPU, 1, 2, 32, 40, 40).requiresGrad(true);
      Tensor w = Tensor.randn(CPU, 2, 48, 32, 3, 3).requiresGrad(true);
      Tensor b = Tensor.randn(CPU, 3, 48).requiresGrad(true);
      return withGrads(Conv.conv2d(x, w, b, Conv.Options.DEFAULT.padding(1)), x, w, b);
    });
  }

  /** The atrous kernel (the AVX-512 taps path where the CPU has it) and its multi-rate pass. */
  @Test
  void atrousConvForwardAndBackward() {
    AtrousConv.Path old = AtrousConv.forcePath(AtrousConv.Path.ATROUS);
    try {
      assertSameBitsAtEveryThreadCount("atrous_conv2d", () -> {
        Tensor x = Tensor.randn(CPU, 1, 2, 40, 23, 29).requiresGrad(true);
        Tensor w = Tensor.randn(CPU, 2, 70, 40, 3, 3).requiresGrad(true);
        Tensor b = Tensor.randn(CPU, 3, 70).requiresGrad(true);
        return withGrads(AtrousConv.conv2d(x, w, b, 6), x, w, b);
      });
      assertSameBitsAtEveryThreadCount("atrous_multi_rate", () -> {
        Tensor x = Tensor.randn(CPU, 4, 1, 24, 17, 21).requiresGrad(true);
        Tensor w0 = Tensor.randn(CPU, 5, 40, 24, 1, 1).requiresGrad(true);
        Tensor w1 = Tensor.randn(CPU, 6, 36, 24, 3, 3).requiresGrad(true);
        Tensor w2 = Tensor.randn(CPU, 7, 33, 24, 3, 3).requiresGrad(true);
        return withGrads(AtrousConv.multiRate(x, new Tensor[] {w0, w1, w2}, null, new int[] {1, 4, 9}), x, w0, w1, w2);
      });
    } finally {
      AtrousConv.forcePath(old);
    }
  }

  @Test
  void linearAndMatmulForwardAndBackward() {
    assertSameBitsAtEveryThreadCount("linear", () -> {
      Tensor x = Tensor.randn(CPU, 1, 300, 400).requiresGrad(true);
      Tensor w = Tensor.randn(CPU, 2, 600, 400).requiresGrad(true);
      Tensor b = Tensor.randn(CPU, 3, 600).requiresGrad(true);
      return withGrads(Linear.linear(x, w, b), x, w, b);
    });
    assertSameBitsAtEveryThreadCount("matmul", () -> {
      Tensor a = Tensor.randn(CPU, 4, 3, 200, 300).requiresGrad(true);
      Tensor b = Tensor.randn(CPU, 5, 3, 300, 520).requiresGrad(true);
      return withGrads(Linear.matmul(a, b), a, b);
    });
  }

  @Test
  void deformConv2dForwardAndBackward() {
    assertSameBitsAtEveryThreadCount("deform_conv2d", () -> {
      Tensor x = Tensor.randn(CPU, 1, 2, 32, 32, 32).requiresGrad(true);
      Tensor offset = Tensor.randn(CPU, 2, 2, 18, 32, 32).requiresGrad(true);
      Tensor w = Tensor.randn(CPU, 3, 64, 32, 3, 3).requiresGrad(true);
      Tensor b = Tensor.randn(CPU, 4, 64).requiresGrad(true);
      Tensor mask = Tensor.uniform(CPU, 5, 0f, 1f, 2, 9, 32, 32).requiresGrad(true);
      return withGrads(DeformConv.deformConv2d(x, offset, w, b, mask, new int[] {1}, new int[] {1}, new int[] {1}),
          x, offset, w, b, mask);
    });
  }

  /** The other kernels with reductions: each output's sum is walked by one item, in a fixed order. */
  @Test
  void reductionsNormalizationAndSamplingForwardAndBackward() {
    assertSameBitsAtEveryThreadCount("batch_norm", () -> {
      Tensor x = Tensor.randn(CPU, 1, 8, 16, 40, 40).requiresGrad(true);
      Tensor w = Tensor.randn(CPU, 2, 16).requiresGrad(true);
      Tensor b = Tensor.randn(CPU, 3, 16).requiresGrad(true);
      return withGrads(BatchNorm.batchNorm(x, null, null, w, b, true, 0.1f, 1e-5f), x, w, b);
    });
    assertSameBitsAtEveryThreadCount("sum, mean, softmax", () -> {
      Tensor x = Tensor.randn(CPU, 1, 64, 3000).requiresGrad(true);
      Tensor y = Softmax.softmax(x, 1);
      List<Tensor> out = new ArrayList<>(withGrads(y, x));
      out.add(Reductions.sum(x));
      out.add(Reductions.mean(x, new int[] {0}, false));
      return out;
    });
    assertSameBitsAtEveryThreadCount("grid_sample", () -> {
      Tensor x = Tensor.randn(CPU, 1, 4, 8, 40, 40).requiresGrad(true);
      Tensor grid = Tensor.uniform(CPU, 2, -1.1f, 1.1f, 4, 48, 48, 2).requiresGrad(true);
      return withGrads(GridSample.gridSample(x, grid, "bilinear", "zeros", false), x, grid);
    });
    assertSameBitsAtEveryThreadCount("channel and spatial gates", () -> {
      Tensor x = Tensor.randn(CPU, 1, 4, 32, 24, 24).requiresGrad(true);
      Tensor a = Tensor.randn(CPU, 2, 4, 32, 1, 1).requiresGrad(true);
      Tensor s = Tensor.randn(CPU, 3, 4, 1, 24, 24).requiresGrad(true);
      Tensor y = AttentionGates.spatialGate(AttentionGates.channelGate(x, a, Gate.SIGMOID), s, Gate.SIGMOID);
      List<Tensor> out = new ArrayList<>(withGrads(y, x, a, s));
      out.add(AttentionGates.channelMeanMax(x));
      return out;
    });
    assertSameBitsAtEveryThreadCount("attention", () -> {
      Tensor q = Tensor.randn(CPU, 1, 4, 300, 32).requiresGrad(true);
      Tensor k = Tensor.randn(CPU, 2, 4, 300, 32).requiresGrad(true);
      Tensor v = Tensor.randn(CPU, 3, 4, 300, 32).requiresGrad(true);
      return withGrads(Attention.attention(q, k, v, 0.2f), q, k, v);
    });
  }

  /** y, then the gradient of every input after backward of a fixed upstream gradient. */
  private static List<Tensor> withGrads(Tensor y, Tensor... inputs) {
    y.backward(Tensor.randn(CPU, 99, y.dims()));
    List<Tensor> out = new ArrayList<>(List.of(y));
    for (Tensor t : inputs) out.add(t.grad());
    return out;
  }

  private static void assertSameBitsAtEveryThreadCount(String op, Supplier<List<Tensor>> run) {
    List<float[]> first = null;
    for (int threads : THREADS) {
      CpuDriver.instance().setThreads(threads);
      try (Scope s = Scope.open()) {
        List<float[]> got = run.get().stream().map(Tensor::toArray).toList();
        if (first == null) {
          first = got;
          continue;
        }
        for (int i = 0; i < got.size(); i++) {
          float[] a = first.get(i);
          float[] b = got.get(i);
          assertEquals(a.length, b.length);
          for (int j = 0; j < a.length; j++) {
            if (Float.floatToRawIntBits(a[j]) != Float.floatToRawIntBits(b[j])) {
              throw new AssertionError(op + " output " + i + " (0: y, then input gradients) at " + threads
                  + " threads differs from 1 thread at element " + j + ": " + b[j] + " vs " + a[j]);
            }
          }
        }
      }
    }
  }
}
