package io.plugkit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * compare on synthetic result files: runs drawn from one noise model (each timed run the case's true
 * time times a log-normal factor with a long upper tail, as on a loaded machine) must not be flagged
 * against each other; a planted 2x slowdown of one case must be, and only that case.
 */
class CompareTest {
  private static final String[] CASES = {"conv2d a", "grid_sample b", "relu c", "non_local d", "blur_pool e", "add f"};
  private static final double[] TRUE_MS = {12.0, 0.6, 0.27, 30.0, 2.1, 0.3};

  @TempDir Path dir;

  /** One synthetic run: every case in both modes, `repeats` noisy samples each; `slowdown` scales one case. */
  private static Results run(long seed, int repeats, String slowCase, double slowdown) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Results.Row> rows = new ArrayList<>();
    for (int c = 0; c < CASES.length; c++) {
      for (String mode : new String[] {"fwd", "fwdbwd"}) {
        double base = TRUE_MS[c] * (mode.equals("fwd") ? 1 : 3) * (CASES[c].equals(slowCase) ? slowdown : 1);
        double[] ms = new double[repeats];
        for (int i = 0; i < repeats; i++) {
          // Gaussian jitter of 4%, plus a 1-in-10 interruption of up to +40% (another process took the core).
          double jitter = Math.exp(0.04 * rnd.nextGaussian());
          double hiccup = rnd.nextDouble() < 0.1 ? 1 + 0.4 * rnd.nextDouble() : 1;
          ms[i] = base * jitter * hiccup;
        }
        rows.add(new Results.Row(CASES[c], CASES[c].split(" ")[0], mode, "memory", 1e9, 1e8, Harness.Timing.of(ms), null,
            100, 20));
      }
    }
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("device", "cpu");
    Map<String, Object> roofs = new LinkedHashMap<>();
    roofs.put("gflops", 100.0);
    roofs.put("gbps", 20.0);
    info.put("roofs", roofs);
    return new Results(info, rows);
  }

  private Results roundTrip(Results r, String name) throws Exception {
    Path file = dir.resolve(name);
    r.writeJson(file);
    return Results.read(file);
  }

  @Test void identicalRunsNoiseIsNotFlagged() throws Exception {
    // Many pairs of runs of the same code: no case may be flagged in any of them.
    for (long seed = 0; seed < 50; seed++) {
      Results a = roundTrip(run(2 * seed, 10, null, 1), "a.json");
      Results b = roundTrip(run(2 * seed + 1, 10, null, 1), "b.json");
      for (Compare.Line l : Compare.compare(a, b, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) {
        assertEquals(Compare.Verdict.SAME, l.verdict(), "seed " + seed + ": " + l);
      }
    }
  }

  @Test void plantedTwoTimesSlowdownIsFlaggedAndNothingElse() throws Exception {
    for (long seed = 0; seed < 50; seed++) {
      Results a = roundTrip(run(2 * seed, 10, null, 1), "a.json");
      Results b = roundTrip(run(2 * seed + 1, 10, "grid_sample b", 2.0), "b.json");
      for (Compare.Line l : Compare.compare(a, b, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) {
        Compare.Verdict expected = l.key().startsWith("grid_sample b") ? Compare.Verdict.SLOWER : Compare.Verdict.SAME;
        assertEquals(expected, l.verdict(), "seed " + seed + ": " + l);
      }
      // The other way round it is a speed-up.
      for (Compare.Line l : Compare.compare(b, a, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) {
        if (l.key().startsWith("grid_sample b")) assertEquals(Compare.Verdict.FASTER, l.verdict(), l.toString());
      }
    }
  }

  /** Two real runs of the same code and command minutes apart on the loaded 2-core VM (10 rows, 15 repeats). */
  private static Results loadedVm(String name) throws Exception {
    return Results.read(Path.of(CompareTest.class.getResource("/compare/loaded-vm-" + name + ".json").toURI()));
  }

  /** {@code r} with every timed run of one case and mode multiplied by {@code factor}. */
  private static Results scaled(Results r, String key, double factor) {
    List<Results.Row> rows = new ArrayList<>();
    for (Results.Row row : r.rows()) {
      if (!row.key().equals(key)) { rows.add(row); continue; }
      double[] ms = row.ours().samplesMs().clone();
      for (int i = 0; i < ms.length; i++) ms[i] *= factor;
      rows.add(new Results.Row(row.id(), row.op(), row.mode(), row.bound(), row.flops(), row.bytes(), Harness.Timing.of(ms),
          row.torch(), row.roofGflops(), row.roofGbps()));
    }
    return new Results(r.run(), rows);
  }

  @Test void realRunsOfTheSameCodeAreNotFlaggedAndAPlantedSlowdownIs() throws Exception {
    Results a = loadedVm("a");
    Results b = loadedVm("b");
    assertEquals(10, a.rows().size());
    for (Compare.Line l : Compare.compare(a, b, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) {
      assertEquals(Compare.Verdict.SAME, l.verdict(), l.toString());
    }
    // Every case in turn made 2x slower in B: nothing else is flagged, and the planted case is flagged
    // exactly when the change it makes (2x on top of B / A unplanted, 0.81x-1.42x here) passes the
    // threshold from the two runs' spreads. Under this load the forward + backward rows ran bimodal
    // (some runs 1 ms, some 9 ms): their thresholds pass 100%, so compare reports that a 2x change is
    // within their noise rather than guessing. The forward of conv2d, the quietest heavy case, is caught.
    Map<String, Double> unplanted = new LinkedHashMap<>();
    for (Compare.Line l : Compare.compare(a, b, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) unplanted.put(l.key(), l.ratio());
    int flagged = 0;
    for (Results.Row planted : b.rows()) {
      for (Compare.Line l : Compare.compare(a, scaled(b, planted.key(), 2.0), Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K)) {
        if (!l.key().equals(planted.key())) {
          assertEquals(Compare.Verdict.SAME, l.verdict(), l.toString());
          continue;
        }
        assertEquals(2 * unplanted.get(l.key()), l.ratio(), 1e-9);
        assertEquals(l.ratio() > 1 + l.threshold() ? Compare.Verdict.SLOWER : Compare.Verdict.SAME, l.verdict(), l.toString());
        if (l.verdict() == Compare.Verdict.SLOWER) flagged++;
        if (l.key().equals("conv2d 8x32x56x56 k3 p1 ->64 / fwd")) assertEquals(Compare.Verdict.SLOWER, l.verdict());
      }
    }
    assertTrue(flagged >= 1);
  }

  @Test void thresholdGrowsWithTheRunsSpread() {
    Harness.Timing tight = Harness.Timing.of(new double[] {1.0, 1.01, 1.02});
    Harness.Timing loose = Harness.Timing.of(new double[] {1.0, 1.5, 2.0});
    assertEquals(0.10, Compare.threshold(tight, tight, 0.10, 1.0), 1e-12);
    // `loose`: quartiles 1.25 and 1.75 (interpolated), median 1.5, so a spread of 1/3; both loose: sqrt(2) x that.
    assertEquals(Math.sqrt(2) / 3, Compare.threshold(loose, loose, 0.10, 1.0), 1e-12);
    assertEquals(2.0, Compare.threshold(loose, loose, 0.10, 3 * Math.sqrt(2)), 1e-12);
    // One interrupted run out of ten does not widen the threshold (it would by (max - min) / median).
    double[] ms = {1.0, 1.0, 1.01, 1.01, 1.02, 1.02, 1.03, 1.03, 1.04, 9.0};
    assertEquals(0.10, Compare.threshold(Harness.Timing.of(ms), tight, 0.10, 1.0), 1e-12);
  }

  @Test void casesInOnlyOneFileAreListed() {
    Results a = run(1, 5, null, 1);
    Results b = new Results(a.run(), a.rows().subList(2, a.rows().size()));
    List<Compare.Line> lines = Compare.compare(b, a, Compare.DEFAULT_MIN_CHANGE, Compare.DEFAULT_K);
    assertEquals(2, lines.stream().filter(l -> l.verdict() == Compare.Verdict.ONLY_B).count());
  }

  @Test void commandExitsOneOnARegressionAndZeroOtherwise() throws Exception {
    Path a = dir.resolve("a.json");
    Path same = dir.resolve("same.json");
    Path slow = dir.resolve("slow.json");
    run(1, 10, null, 1).writeJson(a);
    run(2, 10, null, 1).writeJson(same);
    run(3, 10, "relu c", 2.0).writeJson(slow);
    PrintStream stdout = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      assertEquals(0, Main.commandLine().execute("compare", a.toString(), same.toString()));
      assertEquals(1, Main.commandLine().execute("compare", a.toString(), slow.toString()));
    } finally {
      System.setOut(stdout);
    }
    String text = buf.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("| relu c / fwd |") && text.contains("SLOWER"), text);
  }

  @Test void benchRejectsOtherDtypesClearly() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    var cl = Main.commandLine();
    cl.setErr(new java.io.PrintWriter(err, true, StandardCharsets.UTF_8));
    assertEquals(2, cl.execute("bench", "--dtype", "F16", "--list"));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("F32 only"), err.toString(StandardCharsets.UTF_8));
  }
}
