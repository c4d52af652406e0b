package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The perf-struct layout cuDNN fills in, the algorithm ranking made from it, and the fallback down that ranking. */
class CudnnConvolutionsTest {
  private static final Conv2dGeometry G = new Conv2dGeometry(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  private static final long MIB = 1L << 20;
  private static final List<CudnnConvolutions.Choice> RANKED = List.of(choice(7, MIB, Cudnn.FMA_MATH),
      choice(2, 64, Cudnn.FMA_MATH), choice(0, 0, Cudnn.FMA_MATH));

  @Test void perfStructMatchesTheCLayout() {
    // {int algo; int status; float time; size_t memory; int determinism; int mathType; int reserved[3];}
    assertEquals(48, Cudnn.PERF.byteSize());
    assertEquals(16, Cudnn.PERF.byteOffset(PathElement.groupElement("memory")));
    assertEquals(24, Cudnn.PERF.byteOffset(PathElement.groupElement("determinism")));
    assertEquals(28, Cudnn.PERF.byteOffset(PathElement.groupElement("mathType")));
  }

  @Test void readPerfDecodesEachStruct() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = a.allocate(Cudnn.PERF, 2);
      s.set(JAVA_INT, 48, 6);
      s.set(JAVA_INT, 52, 3);
      s.set(JAVA_FLOAT, 56, 0.5f);
      s.set(JAVA_LONG, 64, 123456789012L);
      s.set(JAVA_INT, 72, 1);
      s.set(JAVA_INT, 76, 2);
      List<Cudnn.AlgoPerf> p = Cudnn.readPerf(s, 2);
      assertEquals(new Cudnn.AlgoPerf(0, 0, 0f, 0, 0, 0), p.get(0));
      assertEquals(new Cudnn.AlgoPerf(6, 3, 0.5f, 123456789012L, 1, 2), p.get(1));
    }
  }

  @Test void ranksTheSuccessfulAlgorithmsThatFitInCudnnsOrder() {
    var convs = new CudnnConvolutions(null, 256 * MIB, false);
    var c = convs.candidates(Cudnn.Direction.FORWARD, G, List.of(perf(1, 9, 0, Cudnn.DEFAULT_MATH),
        perf(2, 0, 300 * MIB, Cudnn.DEFAULT_MATH), perf(3, 0, 4096, Cudnn.DEFAULT_MATH), perf(4, 0, 0, Cudnn.DEFAULT_MATH)));
    assertEquals(List.of(choice(3, 4096, Cudnn.FMA_MATH), choice(4, 0, Cudnn.FMA_MATH)), c);
  }

  @Test void withoutTf32TensorOpAlgorithmsComeAfterEveryOther() {
    var convs = new CudnnConvolutions(null, 256 * MIB, false);
    var c = convs.candidates(Cudnn.Direction.BACKWARD_DATA, G,
        List.of(perf(1, 0, 0, Cudnn.TENSOR_OP_MATH), perf(5, 0, 64, Cudnn.FMA_MATH)));
    assertEquals(List.of(choice(5, 64, Cudnn.FMA_MATH), choice(1, 0, Cudnn.TENSOR_OP_MATH)), c);

    var only = convs.candidates(Cudnn.Direction.BACKWARD_DATA, G, List.of(perf(1, 0, 8, Cudnn.TENSOR_OP_MATH)));
    assertEquals(List.of(choice(1, 8, Cudnn.TENSOR_OP_MATH)), only);
  }

  @Test void withTf32CudnnsRankingStands() {
    var convs = new CudnnConvolutions(null, 256 * MIB, true);
    var c = convs.candidates(Cudnn.Direction.BACKWARD_FILTER, G,
        List.of(perf(1, 0, 0, Cudnn.TENSOR_OP_MATH), perf(5, 0, 64, Cudnn.FMA_MATH)));
    assertEquals(List.of(choice(1, 0, Cudnn.TENSOR_OP_MATH), choice(5, 64, Cudnn.FMA_MATH)), c);
  }

  @Test void nothingFittingIsUnsupportedAndSaysHowToFixIt() {
    var convs = new CudnnConvolutions(null, MIB, false);
    var e = assertThrows(UnsupportedFeatureException.class,
        () -> convs.candidates(Cudnn.Direction.FORWARD, G, List.of(perf(1, 0, 2 * MIB, Cudnn.DEFAULT_MATH))));
    assertTrue(e.getMessage().contains("no Forward convolution algorithm"), e.getMessage());
    assertTrue(e.getMessage().contains("PLUGKIT_CUDNN_WORKSPACE_MB"), e.getMessage());
  }

  @Test void anAlgorithmFailingAtRunTimeFallsToTheNext() {
    List<Integer> tried = new ArrayList<>();
    var worked = CudnnConvolutions.firstThatRuns(Cudnn.Direction.FORWARD, G, RANKED, c -> {
      tried.add(c.algo());
      if (c.algo() == 7) throw cudnnError(3000, "CUDNN_STATUS_NOT_SUPPORTED");
    });
    assertEquals(List.of(7, 2), tried);
    assertEquals(RANKED.get(1), worked);
  }

  @Test void aWorkspaceTheDeviceCannotHoldFallsToTheNext() {
    var worked = CudnnConvolutions.firstThatRuns(Cudnn.Direction.BACKWARD_DATA, G, RANKED, c -> {
      if (c.workspaceBytes() > 0) throw new NativeException("CUDA driver", "cuMemAllocAsync", 2, "CUDA_ERROR_OUT_OF_MEMORY", "");
    });
    assertEquals(RANKED.get(2), worked);
  }

  @Test void anotherDriverErrorIsThrownAtOnce() {
    List<Integer> tried = new ArrayList<>();
    var e = assertThrows(NativeException.class, () -> CudnnConvolutions.firstThatRuns(Cudnn.Direction.FORWARD, G, RANKED,
        c -> {
          tried.add(c.algo());
          throw new NativeException("CUDA driver", "cuMemAllocAsync", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "");
        }));
    assertEquals(700, e.code());
    assertEquals(List.of(7), tried);
  }

  @Test void whenEveryAlgorithmFailsTheErrorListsEachOne() {
    var e = assertThrows(NativeException.class, () -> CudnnConvolutions.firstThatRuns(Cudnn.Direction.BACKWARD_FILTER, G,
        RANKED, c -> { throw cudnnError(5000 + c.algo(), "CUDNN_STATUS_EXECUTION_FAILED"); }));
    String m = e.getMessage();
    assertTrue(m.startsWith("cuDNN: cudnnConvolutionBackwardFilter failed: CUDNN_STATUS_EXECUTION_FAILED (5000): every"
        + " ranked algorithm failed for "), m);
    for (String part : List.of("algo 7 (1048576 bytes of workspace): ", "(5007)", "algo 2 (64 bytes of workspace): ",
        "(5002)", "algo 0 (0 bytes of workspace): ")) {
      assertTrue(m.contains(part), part + " in " + m);
    }
  }

  @Test void aSingleChoiceFailingKeepsItsOwnError() {
    var own = cudnnError(3000, "CUDNN_STATUS_NOT_SUPPORTED");
    var e = assertThrows(NativeException.class, () -> CudnnConvolutions.firstThatRuns(Cudnn.Direction.FORWARD, G,
        List.of(RANKED.get(0)), c -> { throw own; }));
    assertSame(own, e);
  }

  @Test void theAlgorithmThatWorkedMovesToTheFront() {
    assertEquals(List.of(RANKED.get(2), RANKED.get(0), RANKED.get(1)), CudnnConvolutions.promote(RANKED, RANKED.get(2)));
  }

  @Test void versionsPrintDotted() {
    assertEquals("9.10.2", CudaDriver.dotted(91002));
    assertEquals("13.1.0", CudaDriver.dotted(130100));
  }

  private static CudnnConvolutions.Choice choice(int algo, long workspace, int mathType) {
    return new CudnnConvolutions.Choice(algo, workspace, mathType);
  }

  private static NativeException cudnnError(int code, String name) {
    return new NativeException("cuDNN", "cudnnConvolution", code, name, "fake");
  }

  private static Cudnn.AlgoPerf perf(int algo, int status, long memory, int mathType) {
    return new Cudnn.AlgoPerf(algo, status, 1f, memory, 0, mathType);
  }
}
