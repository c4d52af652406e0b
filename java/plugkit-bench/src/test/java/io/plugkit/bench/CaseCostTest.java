package io.plugkit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.nn.Asff;
import io.plugkit.nn.Aspp;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The formulas of the atrous, ASPP, ASFF, pad2d, interpolate-mode and overhead cases. */
class CaseCostTest {
  private static final Harness.Mode FWD = Harness.Mode.FWD;
  private static final Harness.Mode FWDBWD = Harness.Mode.FWDBWD;

  /** Every (output, tap) pair of a k x k conv, dilation and padding rate (k - 1) / 2, stride 1, whose input lies inside. */
  private static long bruteTaps(int h, int w, int k, int rate) {
    int pad = rate * (k - 1) / 2;
    long t = 0;
    for (int oy = 0; oy < h; oy++) {
      for (int ox = 0; ox < w; ox++) {
        for (int ky = 0; ky < k; ky++) {
          for (int kx = 0; kx < k; kx++) {
            int iy = oy - pad + ky * rate;
            int ix = ox - pad + kx * rate;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) t++;
          }
        }
      }
    }
    return t;
  }

  @Test void validTapsMatchesBruteForce() {
    int[][] geometries = {{33, 33, 3, 6}, {33, 33, 3, 12}, {33, 33, 3, 18}, {33, 33, 3, 24}, {33, 33, 3, 32},
        {33, 33, 3, 33}, {33, 33, 3, 40}, {1, 1, 3, 1}, {1, 7, 3, 2}, {5, 9, 3, 4}, {17, 4, 3, 3}, {12, 12, 5, 2},
        {12, 12, 5, 4}, {8, 3, 7, 1}, {9, 9, 1, 5}, {65, 65, 3, 1}};
    for (int[] g : geometries) {
      long expected = bruteTaps(g[0], g[1], g[2], g[3]);
      assertEquals(expected, AtrousCases.validTaps(g[0], g[1], g[2], g[3]), java.util.Arrays.toString(g));
    }
    // Past the map only the centre tap is valid; at rate 1 each edge pixel loses 3 taps (a corner 5).
    assertEquals(33L * 33, AtrousCases.validTaps(33, 33, 33));
    assertEquals(9L * 33 * 33 - 4 * 3 * 33 + 4, AtrousCases.validTaps(33, 33, 1));
    assertThrows(IllegalArgumentException.class, () -> AtrousCases.validTaps(5, 5, 4, 1));
    assertThrows(IllegalArgumentException.class, () -> AtrousCases.validTaps(5, 5, 3, 0));
  }

  private static List<BenchCase> cases() {
    List<BenchCase> all = new ArrayList<>(AtrousCases.all());
    all.addAll(AsppCases.all());
    all.addAll(AsffCases.all());
    all.addAll(PaddingCases.all());
    all.addAll(InterpolateCases.all());
    return all;
  }

  private static BenchCase find(String id) {
    List<BenchCase> all = cases();
    all.addAll(OverheadCases.all());
    return all.stream().filter(c -> c.id().equals(id)).findFirst().orElseThrow(() -> new AssertionError(id));
  }

  @Test void everyNewCaseStatesItsWork() {
    for (BenchCase c : cases()) {
      assertTrue(c.bound() == Cost.Bound.COMPUTE || c.bound() == Cost.Bound.MEMORY, c.id());
      // pad2d and nearest move data without arithmetic: FLOPs may be 0, never unknown.
      assertTrue(c.flops(FWD) >= 0 && c.flops(FWDBWD) >= c.flops(FWD), c.id());
      assertTrue(c.bytes(FWD) > 0 && c.bytes(FWDBWD) > c.bytes(FWD), c.id());
    }
    for (BenchCase c : OverheadCases.all()) {
      assertEquals(Cost.Bound.LATENCY, c.bound(), c.id());
      assertTrue(Double.isNaN(c.flops(FWD)) && Double.isNaN(c.bytes(FWDBWD)), c.id());
    }
  }

  @Test void atrousCasesCountValidTapsOnly() {
    // Rate 12 on 33x33: 21 + 33 + 21 valid rows per axis, so 75^2 taps of 9 x 1089.
    BenchCase r12 = find("atrous_conv2d r12 8x256x33x33 -> 256 3x3");
    assertEquals(2.0 * 8 * 256 * 256 * 75 * 75, r12.flops(FWD));
    assertEquals(3 * 2.0 * 8 * 256 * 256 * 75 * 75, r12.flops(FWDBWD));
    assertEquals(Cost.Bound.COMPUTE, r12.bound());
    double in = 8.0 * 256 * 1089 + 256 * 256 * 9 + 256;
    assertEquals(4 * (in + 8.0 * 256 * 1089), r12.bytes(FWD));
    // Rate 24: 9 + 33 + 9 = 51 per axis.
    assertEquals(2.0 * 256 * 256 * 51 * 51, find("atrous_conv2d r24 1x256x33x33 -> 256 3x3").flops(FWD));
    // multiRate: the 1x1 branch over all 1089 pixels, rates 6/12/18 with 87^2, 75^2, 63^2 taps.
    BenchCase multi = find("atrous_multi_rate 1x256x33x33 1x1+r6/12/18 -> 4x256");
    assertEquals(2.0 * 256 * 256 * (1089 + 87 * 87 + 75 * 75 + 63 * 63), multi.flops(FWD));
    assertEquals(4 * (256.0 * 1089 + 256 * 256 * 28 + 4 * 256 * 1089), multi.bytes(FWD));
  }

  @Test void asppCountsBranchesPoolingAndProjection() {
    BenchCase eval1 = find("aspp r6/12/18 eval 1x256x33x33");
    double f = 2.0 * 256 * 256 * (1089 + 87 * 87 + 75 * 75 + 63 * 63 + 1) + 2.0 * 256 * 1280 * 1089;
    assertEquals(f, eval1.flops(FWD));
    assertEquals(3.11e9, f, 0.01e9); // the figure docs/benchmarks.md quotes per image
    assertEquals(3 * 8 * f, find("aspp r6/12/18 train 8x256x33x33").flops(FWDBWD), 1);
  }

  private static double numel(List<Tensor> ts) {
    double s = 0;
    for (Tensor t : ts) s += t.numel();
    return s;
  }

  @Test void parameterCountsMatchTheModules() {
    try (Scope s = Scope.open()) {
      assertEquals(numel(new Aspp(256, new int[] {6, 12, 18}, 256, Device.cpu()).parameters()), AsppCases.params(256, 3, 256));
      assertEquals(numel(new Aspp(8, new int[] {2}, 4, Device.cpu()).parameters()), AsppCases.params(8, 1, 4));
      assertEquals(numel(new Asff(1, false, false, Device.cpu()).parameters()),
          AsffCases.level1Params(Asff.REFERENCE_DIMS, Asff.REFERENCE_OUT[1], 16));
    }
  }

  @Test void asffFuseCountsSoftmaxAndWeightedSum() {
    BenchCase fuse = find("asff_fuse 8x256x26x26");
    double y = 8.0 * 256 * 676;
    double l = 8.0 * 3 * 676;
    assertEquals(5 * y + 5 * l, fuse.flops(FWD));
    assertEquals(4 * (l + 3 * y + y), fuse.bytes(FWD));
    assertEquals(4 * (3 * (l + 3 * y) + 2 * y), fuse.bytes(FWDBWD));
    assertEquals(Cost.Bound.MEMORY, fuse.bound());
  }

  @Test void pad2dBytesAndBackwardAdds() {
    // x 8x64x56x56 = 1,605,632 floats; y 8x64x62x62 = 1,968,128.
    BenchCase reflect = find("pad2d reflect 8x64x56x56 p3");
    assertEquals(4.0 * (1_605_632 + 1_968_128), reflect.bytes(FWD));
    assertEquals(4.0 * (3 * 1_605_632 + 2 * 1_968_128), reflect.bytes(FWDBWD));
    assertEquals(0.0, reflect.flops(FWD));
    assertEquals(1_968_128.0 - 1_605_632, reflect.flops(FWDBWD));
    assertEquals(0.0, find("pad2d constant 8x64x56x56 p3").flops(FWDBWD));
    // Asymmetric pads: left 1, right 2, top 3, bottom 0 on 1x1x4x5 -> 7 x 8.
    Cost c = PaddingCases.cost(1, 1, 4, 5, new int[] {1, 2, 3, 0}, io.plugkit.ops.Padding.Mode.CIRCULAR);
    assertEquals(4.0 * (20 + 56), c.bytes(FWD));
  }

  @Test void interpolateBytesAndFlops() {
    // x 8x64x28x28 = 401,408 floats, y 8x64x56x56 = 1,605,632.
    BenchCase bicubic = find("interpolate bicubic ac=T 8x64x28x28 ->56x56");
    assertEquals(4.0 * (401_408 + 1_605_632), bicubic.bytes(FWD));
    assertEquals(32.0 * 1_605_632, bicubic.flops(FWD));
    BenchCase area = find("interpolate area 8x64x56x56 ->28x28");
    assertEquals(4.0 * (1_605_632 + 401_408), area.bytes(FWD));
    assertEquals(4.0 * 401_408, area.flops(FWD));
    assertEquals(4.0 * 401_408 + 1_605_632, area.flops(FWDBWD));
    assertEquals(1_605_632.0, find("interpolate nearest-exact 8x64x28x28 ->56x56").flops(FWDBWD));
  }

  @Test void latencyRowsShowNoRoofFraction() {
    Results.Row row = new Results.Row("overhead relu", "overhead", "fwd", "latency", Double.NaN, Double.NaN,
        Harness.Timing.of(new double[] {2.0, 2.1, 2.2}), null, 100, 10);
    assertTrue(Double.isNaN(row.fractionOfRoof()));
    assertTrue(Double.isNaN(row.gflops()));
  }

  @Test void roofKeyNamesOpenblasCoretype() {
    String v = System.getenv("OPENBLAS_CORETYPE");
    String expected = v == null || v.isBlank() ? "unset" : v.trim();
    assertTrue(RunInfo.roofKey(Device.cpu(), 2).endsWith("| OPENBLAS_CORETYPE " + expected));
    assertEquals(v == null || v.isBlank() ? null : v.trim(), RunInfo.openblasCoretype());
    assertEquals(RunInfo.openblasCoretype() == null, RunInfo.openblasCoretypeNote() == null);
    assertNotEquals(RunInfo.roofKey(Device.cpu(), 1), RunInfo.roofKey(Device.cpu(), 2));
  }
}
