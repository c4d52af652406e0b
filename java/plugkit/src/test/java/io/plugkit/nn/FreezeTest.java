package io.plugkit.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Inference;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.testing.TestDevices;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** freeze(): eval for good, no grads, no training-mode forward, and one instance serving many threads. */
class FreezeTest {
  private static final int[] INPUT = {2, 3, 6, 5};

  /** conv -> batch norm (non-trivial running statistics) -> relu. */
  private static Sequential model(Device d) {
    Sequential m = new Sequential(new Conv2d(3, 4, 3, 3, 1, true, d).padding(1), new BatchNorm2d(4, 0.1f, 1e-5f, d), new ReLU());
    m.namedBuffers().get("1.running_mean").copyFrom(new float[] {0.5f, -0.25f, 0.1f, 0f}, 0);
    m.namedBuffers().get("1.running_var").copyFrom(new float[] {2f, 0.5f, 1f, 3f}, 0);
    m.namedParameters().get("1.weight").copyFrom(new float[] {1.5f, -1f, 0.75f, 2f}, 0);
    return m;
  }

  private static float[] input(long seed) {
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    float[] v = new float[2 * 3 * 6 * 5];
    for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 4 - 2);
    return v;
  }

  private static float[] serve(Module m, Device d, float[] in) {
    try (Inference request = Inference.open()) {
      Tensor x = Tensor.empty(d, INPUT);
      x.copyFrom(in, 0);
      Tensor y = m.forward(x);
      float[] out = new float[(int) y.numel()];
      y.copyTo(out, 0);
      return out;
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void frozenGivesEvalResultsAndCannotTrain(Device d, @TempDir Path dir) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Sequential m = model(d);
      m.eval();
      float[] evalOut;
      try (Scope step = Scope.open()) {
        evalOut = m.forward(Tensor.of(d, input(1), INPUT)).toArray();
      }
      m.save(dir.resolve("m.safetensors"));
      m.train();
      assertTrue(m.freeze() == m);

      assertArrayEquals(evalOut, serve(m, d, input(1)), "a frozen model computes what eval() computes, bit for bit");
      for (Tensor p : m.parameters()) assertFalse(p.requiresGrad(), "frozen parameters do not require grad");
      assertFalse(m.isTraining());
      assertFalse(m.get(1).isTraining(), "eval reaches every descendant");
      assertTrue(m.get(1).isFrozen());

      IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.train(true));
      assertTrue(e.getMessage().contains("frozen for inference"), e.getMessage());
      assertThrows(IllegalStateException.class, m::train);
      assertThrows(IllegalStateException.class, () -> m.get(1).train(true), "a frozen child cannot train either");
      assertFalse(m.get(1).isTraining(), "so no training-mode forward can run");
      m.eval(); // staying in eval is fine

      // A frozen module inside an unfrozen one: training the parent throws and changes nothing.
      Sequential outer = new Sequential(new ReLU(), m);
      outer.eval();
      assertThrows(IllegalStateException.class, outer::train);
      assertFalse(outer.isTraining());
      assertFalse(outer.get(0).isTraining());

      // Weights are read-only once frozen: loading would race with request threads.
      assertThrows(IllegalStateException.class, () -> m.load(dir.resolve("m.safetensors")));

      // Even with an input that requires grad, no tape reaches the frozen weights.
      try (Inference request = Inference.open()) {
        Tensor x = Tensor.of(d, input(2), INPUT).requiresGrad(true);
        assertFalse(m.forward(x).requiresGrad());
      }
    }
  }

  /**
   * 8 threads x 12 requests on one frozen model with BatchNorm: every output equals the
   * single-thread output bit for bit, and the running statistics are untouched (in training mode
   * each forward would update them, racily).
   */
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void servesManyThreadsAtOnce(Device d) throws Exception {
    TestDevices.assumeUsable(d);
    int threads = 8;
    int requests = 12;
    try (Scope s = Scope.open()) {
      Sequential m = model(d);
      m.freeze();
      Map<String, Tensor> buffers = m.namedBuffers();
      List<byte[]> before = new ArrayList<>();
      for (Tensor b : buffers.values()) before.add(b.toBytes());
      float[][] expected = new float[threads * requests][];
      for (int r = 0; r < expected.length; r++) expected[r] = serve(m, d, input(r));

      float[][] got = new float[expected.length][];
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          int first = t;
          done.add(pool.submit(() -> {
            for (int r = first; r < got.length; r += threads) got[r] = serve(m, d, input(r));
          }));
        }
        for (Future<?> f : done) f.get();
      } finally {
        pool.shutdown();
      }
      for (int r = 0; r < expected.length; r++) assertArrayEquals(expected[r], got[r], "request " + r);
      int i = 0;
      for (var b : buffers.entrySet()) assertArrayEquals(before.get(i++), b.getValue().toBytes(), b.getKey() + " unchanged");
    }
  }
}
