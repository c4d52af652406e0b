package io.plugkit.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Two result files side by side. A case is flagged when its medians differ by more than the noise:
 * the threshold is max(minChange, k x sqrt(sA^2 + sB^2)), where sA and sB are the two runs' own
 * spreads (interquartile range / median of each run's repeats, {@link Harness.Timing#iqrSpread}):
 * noisy cases need a larger change to count, and one interrupted run does not blind the comparison.
 */
public final class Compare {
  public enum Verdict { SAME, SLOWER, FASTER, ONLY_A, ONLY_B }

  /** One case and mode: medians (ms; NaN when absent), B / A, the threshold used and the verdict. */
  public record Line(String key, double medianA, double medianB, double ratio, double threshold, Verdict verdict) {}

  /** The smallest change flagged, and the multiple of the combined spread that counts as noise. */
  public static final double DEFAULT_MIN_CHANGE = 0.10;
  /**
   * 2: runs minutes apart on a shared machine drift by more than one run's own spread (two runs of
   * the same code on the loaded 2-core VM differed by 1.24x at a combined spread of 21%).
   */
  public static final double DEFAULT_K = 2.0;

  private Compare() {}

  public static List<Line> compare(Results a, Results b, double minChange, double k) {
    Map<String, Results.Row> inB = new LinkedHashMap<>();
    for (Results.Row r : b.rows()) inB.put(r.key(), r);
    List<Line> lines = new ArrayList<>();
    for (Results.Row ra : a.rows()) {
      Results.Row rb = inB.remove(ra.key());
      if (rb == null) {
        lines.add(new Line(ra.key(), ra.ours().medianMs(), Double.NaN, Double.NaN, Double.NaN, Verdict.ONLY_A));
        continue;
      }
      double t = threshold(ra.ours(), rb.ours(), minChange, k);
      double ratio = rb.ours().medianMs() / ra.ours().medianMs();
      Verdict v = ratio > 1 + t ? Verdict.SLOWER : ratio < 1 / (1 + t) ? Verdict.FASTER : Verdict.SAME;
      lines.add(new Line(ra.key(), ra.ours().medianMs(), rb.ours().medianMs(), ratio, t, v));
    }
    for (Results.Row rb : inB.values()) {
      lines.add(new Line(rb.key(), Double.NaN, rb.ours().medianMs(), Double.NaN, Double.NaN, Verdict.ONLY_B));
    }
    return lines;
  }

  /** max(minChange, k x the combined relative spread); a spread that is unknown counts as 0. */
  static double threshold(Harness.Timing a, Harness.Timing b, double minChange, double k) {
    double sa = Double.isNaN(a.iqrSpread()) ? 0 : a.iqrSpread();
    double sb = Double.isNaN(b.iqrSpread()) ? 0 : b.iqrSpread();
    return Math.max(minChange, k * Math.sqrt(sa * sa + sb * sb));
  }
}
