package io.plugkit.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainCategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.data.category.DefaultCategoryDataset;

/**
 * The per-run chart (PNG, drawn by JFreeChart, headless): one horizontal bar per case and mode, its
 * median's fraction of the relevant roof (compute-bound cases blue, memory-bound orange) and, beside
 * it when PyTorch ran, PyTorch / plugkit (above 1: plugkit faster; a line marks 1).
 */
public final class Chart {
  private Chart() {}

  public static void write(Results results, String title, Path png) throws IOException {
    System.setProperty("java.awt.headless", "true");
    DefaultCategoryDataset roof = new DefaultCategoryDataset();
    DefaultCategoryDataset ratio = new DefaultCategoryDataset();
    List<Paint> roofColors = new ArrayList<>();
    boolean anyTorch = false;
    for (Results.Row r : results.rows()) {
      String label = r.id() + " " + r.mode();
      double f = r.fractionOfRoof();
      // One series, coloured per bar by its roof; a case without a formula shows no bar.
      roof.addValue(Double.isNaN(f) ? null : (Number) f, "fraction of roof", label);
      roofColors.add(r.bound().equals("compute") ? COMPUTE : MEMORY);
      double t = r.torchRatio();
      ratio.addValue(Double.isNaN(t) ? null : (Number) t, "PyTorch / plugkit", label);
      anyTorch |= !Double.isNaN(t);
    }
    CategoryAxis cases = new CategoryAxis();
    cases.setTickLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
    cases.setMaximumCategoryLabelWidthRatio(0.6f);
    CombinedDomainCategoryPlot plot = new CombinedDomainCategoryPlot(cases);
    plot.setOrientation(PlotOrientation.HORIZONTAL);
    plot.setGap(12);
    plot.add(bars(roof, "fraction of roof (median): blue of the GEMM roof, orange of the memory roof", roofColors), 3);
    if (anyTorch) plot.add(ratioBars(ratio), 2);
    JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 13), plot, false);
    chart.setBackgroundPaint(Color.WHITE);
    int height = 160 + 16 * results.rows().size();
    ChartUtils.saveChartAsPNG(png.toFile(), chart, anyTorch ? 1300 : 1000, height);
  }

  private static final Color COMPUTE = new Color(0x2f6fb0);
  private static final Color MEMORY = new Color(0xe08a1e);
  private static final Color RATIO = new Color(0x4a9a4a);

  /** PyTorch / plugkit on a log axis, each bar drawn from parity (1) so a slower case points left. */
  private static CategoryPlot ratioBars(DefaultCategoryDataset data) {
    double lo = 1;
    double hi = 1;
    for (int c = 0; c < data.getColumnCount(); c++) {
      Number v = data.getValue(0, c);
      if (v != null && v.doubleValue() > 0 && Double.isFinite(v.doubleValue())) {
        lo = Math.min(lo, v.doubleValue());
        hi = Math.max(hi, v.doubleValue());
      }
    }
    LogAxis values = new LogAxis("PyTorch / plugkit, log scale (> 1: plugkit faster)");
    values.setBase(10);
    // Plain numbers (0.4x, 2.5x), not powers of ten.
    values.setNumberFormatOverride(new java.text.DecimalFormat("0.#x"));
    values.setRange(lo / 1.25, hi * 1.25);
    BarRenderer r = new BarRenderer();
    r.setBase(1);
    r.setBarPainter(new StandardBarPainter());
    r.setShadowVisible(false);
    r.setSeriesPaint(0, RATIO);
    CategoryPlot p = new CategoryPlot(data, null, values, r);
    p.setBackgroundPaint(Color.WHITE);
    p.setRangeGridlinePaint(Color.LIGHT_GRAY);
    p.addRangeMarker(new ValueMarker(1.0, Color.DARK_GRAY, new BasicStroke(1.2f)));
    return p;
  }

  /** Bars coloured per category by {@code colors} (one per category), or all green when it is empty. */
  private static CategoryPlot bars(DefaultCategoryDataset data, String axis, List<Paint> colors) {
    NumberAxis values = new NumberAxis(axis);
    // From 0 to past 1 at least, so the marker at 1 (the roof, or parity with PyTorch) always shows.
    double top = 1;
    for (int c = 0; c < data.getColumnCount(); c++) {
      Number v = data.getValue(0, c);
      if (v != null && Double.isFinite(v.doubleValue())) top = Math.max(top, v.doubleValue());
    }
    values.setRange(0, top * 1.05);
    BarRenderer r = new BarRenderer() {
      @Override public Paint getItemPaint(int row, int column) {
        return colors.isEmpty() ? RATIO : colors.get(column);
      }
    };
    r.setBarPainter(new StandardBarPainter());
    r.setShadowVisible(false);
    r.setItemMargin(0);
    CategoryPlot p = new CategoryPlot(data, null, values, r);
    p.setBackgroundPaint(Color.WHITE);
    p.setRangeGridlinePaint(Color.LIGHT_GRAY);
    ValueMarker one = new ValueMarker(1.0, Color.DARK_GRAY, new BasicStroke(1.2f));
    p.addRangeMarker(one);
    return p;
  }
}
