package io.plugkit.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Kernel;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Losses;
import io.plugkit.ops.Reductions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The fast paths of a small CPU launch (docs/architecture.md, "What a launch costs") compute what
 * the slow ones did: a parallel region whose if clause is false runs its body on the calling
 * thread without a libgomp team (native/pk_runtime.cpp), sizes on both sides of PK_PAR_MIN (32768)
 * and at 1 and 2 threads; reductions among them; freed small blocks handed out again by the
 * per-thread lists (native/pk_host_memory.cpp) never overlap a live block, also when another
 * thread frees them; the cached per-kernel invoker still rejects wrong arguments before the call.
 */
class HostFastPathTest {
  private static final Device CPU = Device.cpu();

  @AfterEach
  void restoreThreads() { CpuDriver.instance().setThreads(Runtime.getRuntime().availableProcessors()); }

  @ParameterizedTest(name = "{0} threads")
  @ValueSource(ints = {1, 2})
  void elementwiseOnBothSidesOfTheParallelThreshold(int threads) {
    CpuDriver.instance().setThreads(threads);
    for (int n : new int[] {1, 2, 7, 32768, 32769, 100_003}) {
      try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
        Tensor x = Tensor.randn(CPU, n, n);
        Tensor b = Tensor.randn(CPU, n + 1, n);
        float[] xv = x.toArray();
        float[] bv = b.toArray();
        float[] relu = new float[n];
        float[] sum = new float[n];
        float[] product = new float[n];
        for (int i = 0; i < n; i++) {
          relu[i] = xv[i] < 0f ? 0f : xv[i];
          sum[i] = xv[i] + bv[i];
          product[i] = xv[i] * bv[i];
        }
        assertArrayEquals(relu, Activations.relu(x).toArray(), "relu n=" + n);
        assertArrayEquals(sum, Elementwise.add(x, b).toArray(), "add n=" + n);
        assertArrayEquals(product, Elementwise.mul(x, b).toArray(), "mul n=" + n);
      }
    }
  }

  @Test
  void reductionsGiveTheSameBitsWithAndWithoutATeam() {
    for (int n : new int[] {1, 5, 32768, 32769, 70_001}) {
      float[][] results = new float[2][];
      double expectedSum = 0;
      double expectedMse = 0;
      for (int threads = 1; threads <= 2; threads++) {
        CpuDriver.instance().setThreads(threads);
        try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
          Tensor x = Tensor.randn(CPU, 11, n);
          Tensor y = Tensor.randn(CPU, 12, n);
          if (threads == 1) {
            float[] xv = x.toArray();
            float[] yv = y.toArray();
            for (int i = 0; i < n; i++) {
              expectedSum += xv[i];
              expectedMse += (double) (xv[i] - yv[i]) * (xv[i] - yv[i]);
            }
            expectedMse /= n;
          }
          results[threads - 1] = new float[] {Reductions.sum(x).item(), Losses.mse(x, y, Losses.Reduction.MEAN).item()};
        }
      }
      assertArrayEquals(results[0], results[1], "n=" + n + ": 1 and 2 threads");
      assertEquals(expectedSum, results[0][0], 1e-4 * Math.sqrt(n) + 1e-5, "sum n=" + n);
      assertEquals(expectedMse, results[0][1], 1e-5 * expectedMse + 1e-6, "mse n=" + n);
    }
  }

  @Test
  void reusedSmallBlocksNeverOverlapLiveOnes() throws Exception {
    try (Scope outer = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      List<Tensor> live = new ArrayList<>();
      List<float[]> values = new ArrayList<>();
      // Sizes 1..300 floats: capacities on both sides of the small-block limit (1024 bytes).
      for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 900; i++) {
          int n = 1 + (i * 37) % 300;
          float[] v = new float[n];
          for (int j = 0; j < n; j++) v[j] = round * 1e6f + i * 1000f + j;
          live.add(Tensor.of(CPU, v, n));
          values.add(v);
        }
        // Free every other one, half here and half on another thread (its lists then hold them).
        List<Tensor> elsewhere = new ArrayList<>();
        for (int i = live.size() - 1; i >= 0; i -= 2) {
          Tensor t = live.remove(i);
          values.remove(i);
          if (i % 4 == 1) elsewhere.add(t);
          else t.close();
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread closer = new Thread(() -> {
          try {
            for (Tensor t : elsewhere) t.close();
          } catch (Throwable e) {
            failure.set(e);
          }
        });
        closer.start();
        closer.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
      }
      for (int i = 0; i < live.size(); i++) {
        assertArrayEquals(values.get(i), live.get(i).toArray(), "tensor " + i + " overwritten by a reused block");
      }
    }
  }

  @ParameterizedTest(name = "{0} threads")
  @ValueSource(ints = {1, 2, 3})
  void aOneThreadRegionCoversItsWholeLoopAlsoInsideATeam(int threads) throws Throwable {
    // Inside a team the body must not run directly: it would take the enclosing team's size for
    // its own and cover a slice of its loop only (native/pk_runtime.cpp).
    var lib = java.lang.foreign.SymbolLookup.libraryLookup(
        NativeLoader.extract(NativeLoader.NATIVE_RESOURCES + "libplugkit_host.so"), java.lang.foreign.Arena.global());
    var check = java.lang.foreign.Linker.nativeLinker().downcallHandle(lib.find("pk_selfcheck_serial_regions").orElseThrow(),
        java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_INT));
    assertEquals(0, (int) check.invokeExact(threads));
  }

  @Test
  void smallBlocksAre64ByteAligned() {
    for (int bytes = 1; bytes <= 2048; bytes += 7) {
      long p = HostLibrary.alloc(bytes);
      try {
        assertEquals(0, p % 64, bytes + " bytes at " + p);
      } finally {
        HostLibrary.free(p);
      }
    }
  }

  @Test
  void theCachedInvokerStillRejectsWrongArgumentsFirst() {
    Kernel relu = Kernel.of("relu_forward", ArgKind.PTR, ArgKind.PTR);
    try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      Tensor x = Tensor.of(CPU, new float[] {-2f, 3f}, 2);
      Activations.relu(x); // the invoker of relu_forward exists from here on
      var e = assertThrows(IllegalArgumentException.class, () -> CpuDriver.instance().launch(relu, 2, 1, 2L));
      assertTrue(e.getMessage().contains("argument 0 (PTR): expected Long but got Integer"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> CpuDriver.instance().launch(relu, 2, 1L));
      assertTrue(e.getMessage().contains("expected 2 arguments after n but got 1"), e.getMessage());
      assertArrayEquals(new float[] {0f, 3f}, Activations.relu(x).toArray());
    }
  }
}
