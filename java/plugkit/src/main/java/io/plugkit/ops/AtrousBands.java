package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import io.plugkit.ops.AtrousTaps.Geometry;
import io.plugkit.ops.AtrousTaps.Tap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link AtrousTaps}'s parts when rows have stride 1 and groups are 1: the taps of one kernel
 * column (same input columns, same output channels) read one band of x, [channels, images, rows,
 * columns], gathered once, and write one band of y, added back once; each tap is a GEMM over a run
 * of the band's rows (stride 1: consecutive, a plain matrix). Per-tap rectangles copied the same
 * samples up to kh times. A band of whole rows is the tensor itself, read or written in place. The
 * first tap whose rows cover the band writes it with beta 0, so the band is never zero-filled.
 */
final class AtrousBands {
  private static final Kernel FILL = Kernel.of("fill_f32", PTR, F32);

  private AtrousBands() {}

  /** Off: every tap gathers its own rectangle (tests compare both). */
  static volatile boolean enabled = true;

  static boolean applies(Geometry g) { return enabled && g.strideH() == 1 && g.groups() == 1; }

  /** One tap's rows: output [oh0, oh0 + rh) reads input [h0, h0 + rh). */
  private record Rows(Tap tap, int oh0, int h0, int rh) {}

  /**
   * Taps sharing input columns and output channels. Output columns [ow0, ow0 + rw) read input
   * columns w0 + q*strideW; hulls [hLo, hHi) of input rows and [oLo, oHi) of output rows; taps
   * that see only padding left out.
   */
  record Column(int outOffset, int channels, int ow0, int rw, int w0, int hLo, int hHi, int oLo, int oHi,
      List<Rows> taps) {
    int inRows() { return hHi - hLo; }

    int outRows() { return oHi - oLo; }

    boolean inputInPlace(Geometry g) { return rw == g.w() && g.strideW() == 1; }

    boolean outputInPlace(Geometry g) { return rw == g.outW(); }

    /** The taps with one covering the given hull first (it writes the band with beta 0), or null if none does. */
    List<Rows> coverFirst(int lo, int hi, boolean input) {
      for (int i = 0; i < taps.size(); i++) {
        Rows r = taps.get(i);
        int s = input ? r.h0() : r.oh0();
        if (s <= lo && s + r.rh() >= hi) {
          List<Rows> out = new ArrayList<>(taps);
          out.add(0, out.remove(i));
          return out;
        }
      }
      return null;
    }
  }

  static List<Column> columns(Geometry g, List<Tap> taps) {
    Map<List<Integer>, List<Tap>> byKey = new LinkedHashMap<>();
    for (Tap t : taps) byKey.computeIfAbsent(List.of(t.offW(), t.outOffset(), t.rows()), k -> new ArrayList<>()).add(t);
    List<Column> out = new ArrayList<>();
    for (List<Tap> list : byKey.values()) {
      Tap first = list.get(0);
      int[] cols = AtrousTaps.range(first.offW(), g.strideW(), g.w(), g.outW());
      int rw = cols[1] - cols[0];
      if (rw == 0) continue;
      List<Rows> rows = new ArrayList<>();
      int hLo = Integer.MAX_VALUE, hHi = 0, oLo = Integer.MAX_VALUE, oHi = 0;
      for (Tap t : list) {
        int[] r = AtrousTaps.range(t.offH(), 1, g.h(), g.outH());
        int rh = r[1] - r[0];
        if (rh == 0) continue;
        int h0 = r[0] + t.offH();
        rows.add(new Rows(t, r[0], h0, rh));
        hLo = Math.min(hLo, h0);
        hHi = Math.max(hHi, h0 + rh);
        oLo = Math.min(oLo, r[0]);
        oHi = Math.max(oHi, r[1]);
      }
      if (rows.isEmpty()) continue;
      out.add(new Column(first.outOffset(), first.rows(), cols[0], rw, cols[0] * g.strideW() + first.offW(), hLo, hHi,
          oLo, oHi, rows));
    }
    return out;
  }

  /** Floats per image either scratch buffer takes: the largest band, input-shaped (all cin) or output-shaped. */
  static long perImage(Geometry g, List<Column> cols) {
    long most = 1;
    for (Column c : cols) {
      most = Math.max(most, (long) c.inRows() * c.rw() * g.cin());
      most = Math.max(most, (long) c.outRows() * c.rw() * c.channels());
    }
    return most;
  }

  /** A band: base (at band row `row0`), row length, ld (per channel), image stride; gathered or in place. */
  private record Band(long base, int row0, int rowLen, int ld, long imageStride, boolean gathered) {
    long at(int row) { return base + 4L * (row - row0) * rowLen; }
  }

  private static Band inputBand(Driver d, Geometry g, Column c, long xChunk, int channels, int cnt, long buffer) {
    long img = (long) g.cin() * g.inPlane();
    if (c.inputInPlace(g)) return new Band(xChunk, 0, g.w(), (int) g.inPlane(), img, false);
    d.launch(AtrousTaps.GATHER, (long) channels * cnt * c.inRows(), xChunk, buffer, img, cnt, g.h(), g.w(), c.inRows(),
        c.rw(), c.hLo(), c.w0(), 1, g.strideW());
    return new Band(buffer, c.hLo(), c.rw(), cnt * c.inRows() * c.rw(), (long) c.inRows() * c.rw(), true);
  }

  private static Band outputBand(Driver d, Geometry g, Column c, long yChunk, int channels, int cnt, long buffer) {
    long img = (long) g.outChannels() * g.outPlane();
    if (c.outputInPlace(g)) return new Band(yChunk, 0, g.outW(), (int) g.outPlane(), img, false);
    d.launch(AtrousTaps.GATHER, (long) channels * cnt * c.outRows(), yChunk, buffer, img, cnt, g.outH(), g.outW(),
        c.outRows(), c.rw(), c.oLo(), c.ow0(), 1, 1);
    return new Band(buffer, c.oLo(), c.rw(), cnt * c.outRows() * c.rw(), (long) c.outRows() * c.rw(), true);
  }

  /** An empty band to be written: in place, or the buffer (not filled). */
  private static Band target(Geometry g, Column c, boolean input, long chunk, int cnt, long buffer) {
    if (input) {
      if (c.inputInPlace(g)) return new Band(chunk, 0, g.w(), (int) g.inPlane(), (long) g.cin() * g.inPlane(), false);
      return new Band(buffer, c.hLo(), c.rw(), cnt * c.inRows() * c.rw(), (long) c.inRows() * c.rw(), true);
    }
    if (c.outputInPlace(g)) {
      return new Band(chunk, 0, g.outW(), (int) g.outPlane(), (long) g.outChannels() * g.outPlane(), false);
    }
    return new Band(buffer, c.oLo(), c.rw(), cnt * c.outRows() * c.rw(), (long) c.outRows() * c.rw(), true);
  }

  /**
   * The order of c's taps writing band t (rows lo..hi of a gathered band need a first writer with
   * beta 0): the taps, a covering tap first; when none covers, the band is zero-filled first.
   */
  private static List<Rows> order(Driver d, Column c, Band t, boolean input, int channels, int cnt) {
    if (!t.gathered()) return c.taps();
    List<Rows> first = input ? c.coverFirst(c.hLo(), c.hHi(), true) : c.coverFirst(c.oLo(), c.oHi(), false);
    if (first != null) return first;
    d.launch(FILL, (long) channels * t.ld(), t.base(), 0f);
    return null;
  }

  /** C (beta) += op(A) B over one tap's rows of every image: one GEMM when the bands are whole and contiguous. */
  private static void gemm(Driver d, boolean transA, int m, int k, int rows, int cnt, long a, int lda, Band b, int bRow,
      Band c, int cRow, float beta) {
    int cols = b.rowLen() == c.rowLen() ? rows * c.rowLen() : -1;
    if (cols < 0) throw new IllegalStateException("atrous: band rows of " + b.rowLen() + " and " + c.rowLen());
    boolean whole = cnt == 1 || (b.gathered() && c.gathered() && (long) cols * cnt == (long) b.ld() && b.ld() == c.ld());
    if (whole) {
      d.gemm(transA, false, m, cols * cnt, k, 1f, a, lda, 0, b.at(bRow), b.ld(), 0, beta, c.at(cRow), c.ld(), 0, 1);
    } else {
      d.gemm(transA, false, m, cols, k, 1f, a, lda, 0, b.at(bRow), b.ld(), b.imageStride(), beta, c.at(cRow), c.ld(),
          c.imageStride(), cnt);
    }
  }

  /** y (zeroed) += the taps' products, images [b0, b0 + cnt), output channels of cols. */
  static void forward(Driver d, Geometry g, List<Column> cols, long x, long y, int b0, int cnt, long col, long tmp) {
    long xChunk = x + 4L * b0 * g.cin() * g.inPlane();
    for (Column c : cols) {
      long yChunk = y + 4L * ((long) b0 * g.outChannels() + c.outOffset()) * g.outPlane();
      Band in = inputBand(d, g, c, xChunk, g.cin(), cnt, col);
      Band out = target(g, c, false, yChunk, cnt, tmp);
      List<Rows> taps = order(d, c, out, false, c.channels(), cnt);
      boolean first = taps != null && out.gathered();
      for (Rows r : taps == null ? c.taps() : taps) {
        gemm(d, false, c.channels(), g.cin(), r.rh(), cnt, r.tap().w(), g.cg(), in, r.h0(), out, r.oh0(), first ? 0f : 1f);
        first = false;
      }
      if (out.gathered()) {
        d.launch(AtrousTaps.SCATTER_ADD, (long) c.channels() * cnt * c.outRows(), tmp, yChunk,
            (long) g.outChannels() * g.outPlane(), cnt, g.outH(), g.outW(), c.outRows(), c.rw(), c.oLo(), c.ow0(), 1, 1);
      }
    }
  }

  /** dx (zeroed) channels [c0, c1) += the taps' transposed products with gy, images [b0, b0 + cnt). */
  static void backwardData(Driver d, Geometry g, List<Column> cols, long gy, long dx, int c0, int c1, int b0, int cnt,
      long col, long tmp) {
    int cm = c1 - c0;
    long dxChunk = dx + 4L * ((long) b0 * g.cin() + c0) * g.inPlane();
    for (Column c : cols) {
      long gyChunk = gy + 4L * ((long) b0 * g.outChannels() + c.outOffset()) * g.outPlane();
      Band in = outputBand(d, g, c, gyChunk, c.channels(), cnt, col);
      Band out = target(g, c, true, dxChunk, cnt, tmp);
      List<Rows> taps = order(d, c, out, true, cm, cnt);
      boolean first = taps != null && out.gathered();
      for (Rows r : taps == null ? c.taps() : taps) {
        gemm(d, true, cm, c.channels(), r.rh(), cnt, r.tap().w() + 4L * c0, g.cg(), in, r.oh0(), out, r.h0(),
            first ? 0f : 1f);
        first = false;
      }
      if (out.gathered()) {
        d.launch(AtrousTaps.SCATTER_ADD, (long) cm * cnt * c.inRows(), tmp, dxChunk, (long) g.cin() * g.inPlane(), cnt,
            g.h(), g.w(), c.inRows(), c.rw(), c.hLo(), c.w0(), 1, g.strideW());
      }
    }
  }

  /** Each tap's gradient (its w, zeroed) += gy's rows times x's, summed over images [b0, b0 + cnt). */
  static void backwardWeight(Driver d, Geometry g, List<Column> cols, long x, long gy, int b0, int cnt, long col,
      long tmp) {
    long xChunk = x + 4L * b0 * g.cin() * g.inPlane();
    for (Column c : cols) {
      long gyChunk = gy + 4L * ((long) b0 * g.outChannels() + c.outOffset()) * g.outPlane();
      Band xs = inputBand(d, g, c, xChunk, g.cin(), cnt, col);
      Band gs = outputBand(d, g, c, gyChunk, c.channels(), cnt, tmp);
      for (Rows r : c.taps()) {
        int k = r.rh() * c.rw();  // in place too: a band in place is whole rows (rw = width)
        boolean whole = cnt == 1 || (xs.gathered() && gs.gathered() && (long) k * cnt == xs.ld() && xs.ld() == gs.ld());
        if (whole) {
          d.gemm(false, true, c.channels(), g.cin(), k * cnt, 1f, gs.at(r.oh0()), gs.ld(), 0, xs.at(r.h0()),
              xs.ld(), 0, 1f, r.tap().w(), g.cg(), 0, 1);
        } else {
          for (int b = 0; b < cnt; b++) {
            d.gemm(false, true, c.channels(), g.cin(), k, 1f, gs.at(r.oh0()) + 4L * b * gs.imageStride(), gs.ld(), 0,
                xs.at(r.h0()) + 4L * b * xs.imageStride(), xs.ld(), 0, 1f, r.tap().w(), g.cg(), 0, 1);
          }
        }
      }
    }
  }

  /** A scratch tensor of `floats` floats (at least one). */
  static Tensor scratch(Driver d, long floats) {
    if (floats > Integer.MAX_VALUE) throw new IllegalStateException("atrous: band scratch of " + floats + " floats");
    return Tensor.empty(d.device(), (int) Math.max(1, floats));
  }
}
