package io.plugkit.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The perf-struct layout cuDNN fills in, and the algorithm choice made from it. */
class CudnnConvolutionsTest {
  private static final Conv2dGeometry G = new Conv2dGeometry(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  private static final long MIB = 1L << 20;

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

  @Test void choosesTheFirstSuccessfulAlgorithmThatFits() {
    var convs = new CudnnConvolutions(null, 256 * MIB, false);
    var c = convs.choose(Cudnn.Direction.FORWARD, G, List.of(perf(1, 9, 0, Cudnn.DEFAULT_MATH),
        perf(2, 0, 300 * MIB, Cudnn.DEFAULT_MATH), perf(3, 0, 4096, Cudnn.DEFAULT_MATH), perf(4, 0, 0, Cudnn.DEFAULT_MATH)));
    assertEquals(new CudnnConvolutions.Choice(3, 4096, Cudnn.FMA_MATH), c);
  }

  @Test void withoutTf32TensorOpAlgorithmsArePassedOverWhileAnotherFits() {
    var convs = new CudnnConvolutions(null, 256 * MIB, false);
    var c = convs.choose(Cudnn.Direction.BACKWARD_DATA, G,
        List.of(perf(1, 0, 0, Cudnn.TENSOR_OP_MATH), perf(5, 0, 64, Cudnn.FMA_MATH)));
    assertEquals(new CudnnConvolutions.Choice(5, 64, Cudnn.FMA_MATH), c);

    var only = convs.choose(Cudnn.Direction.BACKWARD_DATA, G, List.of(perf(1, 0, 8, Cudnn.TENSOR_OP_MATH)));
    assertEquals(new CudnnConvolutions.Choice(1, 8, Cudnn.TENSOR_OP_MATH), only);
  }

  @Test void withTf32CudnnsRankingStands() {
    var convs = new CudnnConvolutions(null, 256 * MIB, true);
    var c = convs.choose(Cudnn.Direction.BACKWARD_FILTER, G,
        List.of(perf(1, 0, 0, Cudnn.TENSOR_OP_MATH), perf(5, 0, 64, Cudnn.FMA_MATH)));
    assertEquals(new CudnnConvolutions.Choice(1, 0, Cudnn.TENSOR_OP_MATH), c);
  }

  @Test void nothingFittingIsUnsupportedAndSaysHowToFixIt() {
    var convs = new CudnnConvolutions(null, MIB, false);
    var e = assertThrows(UnsupportedFeatureException.class,
        () -> convs.choose(Cudnn.Direction.FORWARD, G, List.of(perf(1, 0, 2 * MIB, Cudnn.DEFAULT_MATH))));
    assertTrue(e.getMessage().contains("no Forward convolution algorithm"), e.getMessage());
    assertTrue(e.getMessage().contains("PLUGKIT_CUDNN_WORKSPACE_MB"), e.getMessage());
  }

  @Test void versionsPrintDotted() {
    assertEquals("9.10.2", CudaDriver.dotted(91002));
    assertEquals("13.1.0", CudaDriver.dotted(130100));
  }

  private static Cudnn.AlgoPerf perf(int algo, int status, long memory, int mathType) {
    return new Cudnn.AlgoPerf(algo, status, 1f, memory, 0, mathType);
  }
}
