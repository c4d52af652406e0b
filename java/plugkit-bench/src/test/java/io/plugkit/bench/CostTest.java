package io.plugkit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CostTest {
  /** The families that state their formulas (cases added later may run without one). */
  private static List<BenchCase> statedCases() {
    List<BenchCase> all = new ArrayList<>(CoreOpsCases.all());
    all.addAll(GridSampleCases.all());
    all.addAll(DeformConvCases.all());
    all.addAll(AttentionGateCases.all());
    all.addAll(NonLocalCases.all());
    all.addAll(DoConvCases.all());
    all.addAll(BlurPoolCases.all());
    return all;
  }

  @Test void everyExistingCaseStatesItsWorkAndBound() {
    for (BenchCase c : statedCases()) {
      assertNotEquals(Cost.Bound.UNKNOWN, c.bound(), c.id());
      for (Harness.Mode m : Harness.Mode.values()) {
        assertTrue(c.flops(m) > 0 && c.bytes(m) > 0, c.id() + " " + m);
      }
      // The backward only adds work.
      assertTrue(c.flops(Harness.Mode.FWDBWD) >= c.flops(Harness.Mode.FWD), c.id());
      assertTrue(c.bytes(Harness.Mode.FWDBWD) > c.bytes(Harness.Mode.FWD), c.id());
    }
  }

  private static BenchCase find(String id) {
    return statedCases().stream().filter(c -> c.id().equals(id)).findFirst().orElseThrow(() -> new AssertionError(id));
  }

  @Test void formulasAtKnownShapes() {
    // conv2d 8x32x56x56, 64 3x3 filters, padding 1: 2 x 8 x 64 x 56 x 56 x 32 x 9 FLOPs.
    BenchCase conv = find("conv2d 8x32x56x56 k3 p1 ->64");
    assertEquals(924_844_032.0, conv.flops(Harness.Mode.FWD));
    assertEquals(3 * 924_844_032.0, conv.flops(Harness.Mode.FWDBWD));
    // Bytes: x 802816 + w 18432 + b 64 in, y 1605632 out.
    assertEquals(4.0 * (802_816 + 18_432 + 64 + 1_605_632), conv.bytes(Harness.Mode.FWD));
    assertEquals(4.0 * (3 * (802_816 + 18_432 + 64) + 2 * 1_605_632), conv.bytes(Harness.Mode.FWDBWD));
    // grid_sample 1x64x56x56: x and grid in, y out; 8 FLOPs per output element.
    BenchCase grid = find("grid_sample bilinear zeros 1x64x56x56");
    assertEquals(Cost.Bound.MEMORY, grid.bound());
    assertEquals(4.0 * (200_704 + 6_272 + 200_704), grid.bytes(Harness.Mode.FWD));
    assertEquals(8.0 * 200_704, grid.flops(Harness.Mode.FWD));
    // deform_conv2d 1x64x28x28: GEMM 2 x 64 x 784 x 576 plus sampling 8 x 64 x 9 x 784.
    double g = 2.0 * 64 * 784 * 576;
    double s = 8.0 * 64 * 9 * 784;
    assertEquals(g + s, find("deform_conv2d v2 1x64x28x28 k3 p1").flops(Harness.Mode.FWD));
    // non-local 8x256x28x28: P 784, M 196, Ci 128.
    assertEquals(8.0 * 8 * 784 * 256 * 128 + 4.0 * 8 * 784 * 196 * 128,
        find("non_local embedded_gaussian fused 8x256x28x28").flops(Harness.Mode.FWD));
    assertEquals(Cost.Bound.MEMORY, find("do_conv2d 3x3 depthwise folded 8x64x28x28").bound());
    assertEquals(Cost.Bound.COMPUTE, find("do_conv2d 3x3 folded 8x64x28x28").bound());
  }

  @Test void aCaseWithoutFormulasStillRunsWithDashes() {
    BenchCase bare = new BenchCase("bare", "relu", "{}", d -> null);
    assertEquals(Cost.Bound.UNKNOWN, bare.bound());
    assertTrue(Double.isNaN(bare.flops(Harness.Mode.FWD)) && Double.isNaN(bare.bytes(Harness.Mode.FWDBWD)));
    Results.Row row = new Results.Row("bare", "relu", "fwd", "unknown", Double.NaN, Double.NaN,
        Harness.Timing.of(new double[] {1.0, 1.01, 1.02}), null, 100, 20);
    assertTrue(Double.isNaN(row.fractionOfRoof()));
    assertFalse(row.noisy());
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    new Table(new PrintStream(buf, true, StandardCharsets.UTF_8), false).row(1, 1, row);
    assertEquals("| 1/1 | bare | fwd | unknown | 1.010 | 1.000-1.020 | 2% | - | - | - |",
        buf.toString(StandardCharsets.UTF_8).trim());
  }

  @Test void noisyIsMoreThanTenPercentAndFractionUsesTheCasesRoof() {
    Harness.Timing t = Harness.Timing.of(new double[] {2.0, 2.0, 2.3});
    Results.Row compute = new Results.Row("c", "conv2d", "fwd", "compute", 1e9, 1e6, t, null, 100, 20);
    Results.Row memory = new Results.Row("m", "relu", "fwd", "memory", 1e6, 2e7, t, null, 100, 20);
    // (2.3 - 2.0) / 2.0 = 15% > 10%.
    assertTrue(compute.noisy());
    assertFalse(new Results.Row("q", "relu", "fwd", "memory", 1, 1, Harness.Timing.of(new double[] {2.0, 2.0, 2.19}), null, 1, 1)
        .noisy());
    // 1e9 FLOPs in 2 ms: 500 GFLOP/s, 5x a 100 GFLOP/s roof; 2e7 bytes in 2 ms: 10 GB/s, half of 20 GB/s.
    assertEquals(500, compute.gflops(), 1e-9);
    assertEquals(5.0, compute.fractionOfRoof(), 1e-12);
    assertEquals(10, memory.gbps(), 1e-9);
    assertEquals(0.5, memory.fractionOfRoof(), 1e-12);
  }
}
