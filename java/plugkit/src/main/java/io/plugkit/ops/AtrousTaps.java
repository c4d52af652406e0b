package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Pins;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.cpu.HostLibrary;
import io.plugkit.cpu.ThreadLimit;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;

/**
 * The engine of {@link AtrousConv}: a convolution as a list of taps, each one GEMM over the output
 * rectangle whose input lies inside the image (the rest of the tap reads padding and is skipped).
 * A tap whose rectangle spans whole rows of the image or output reads or writes it in place;
 * otherwise the rectangle is gathered into a dense matrix (or the product added back into it),
 * several images per GEMM. Addresses are raw device addresses; the caller owns every buffer.
 */
final class AtrousTaps {
  static final Kernel PACK = Kernel.of("atrous_pack_tap", PTR, PTR, I32, I32);
  static final Kernel UNPACK = Kernel.of("atrous_unpack_tap", PTR, PTR, I32, I32);
  static final Kernel PACK_ALL = Kernel.of("atrous_pack_taps", PTR, PTR, I32);
  static final Kernel UNPACK_ALL = Kernel.of("atrous_unpack_taps", PTR, PTR, I32);
  static final Kernel GATHER =
      Kernel.of("atrous_gather", PTR, PTR, I64, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel SCATTER_ADD =
      Kernel.of("atrous_scatter_add", PTR, PTR, I64, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  /** Floats per scratch buffer a chunk of images may take (two buffers): 16 MiB each. */
  private static final long CHUNK_FLOATS = 4L << 20;

  /** Channels per part at least: thinner GEMMs lose more to re-packing the shared operand than they gain. */
  private static final int MIN_PART_CHANNELS = 64;
  private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "plugkit-atrous");
    t.setDaemon(true);
    return t;
  });

  private AtrousTaps() {}

  // ---- CPU: parts on Java threads --------------------------------------------------------------
  // One call runs ~30 small kernels and GEMMs; on the CPU each is an OpenMP parallel region with
  // its barrier, and on a loaded machine a barrier waits for a descheduled team thread (a
  // 1x256x33x33 rate-12 forward measured 12 ms on one thread and 400 ms on a team of two). Cutting
  // the work by channels into parts, each run start to end on its own Java thread with its share of
  // the team, makes that one join per call. On a quiet machine the parts lose instead (thinner
  // GEMMs, each re-packing the operand they share): r12 1x256x33x33 forward 6.2 ms as one part on a
  // team of two against 8.6-10.5 ms as two parts, r24 3.9 against 5.9, multi-rate 20 against 25.
  // So one part is the default (the weight gradient excepted, see weightMaxParts); maxParts (test
  // hook, -Dplugkit.atrous.parts) allows more.

  /** Parts at most (1: every step on the calling thread's whole team). */
  static volatile int maxParts = Math.max(1, Integer.getInteger("plugkit.atrous.parts", 1));

  /** The parts to cut `channels` into for the calling thread's team (1 on CUDA). */
  private static int parts(Driver d, int channels, int groups) { return parts(d, channels, groups, maxParts); }

  /**
   * The weight gradient keeps parts (one per team thread): its GEMMs are [Cout, Cin] x K, and the
   * GEMM's own split (by columns, blocks of 256 or more) leaves a 256x256 C in one block on one
   * thread. Two parts of 128 rows: r12 1x256x33x33 forward+backward 23.2 vs 24.9 ms, multi-rate
   * 65.5 vs 70.1, r24 12.5 vs 14.1, r12 8x 152 vs 174 (/tmp harness, min of 10-15, 2 threads).
   */
  static volatile int weightMaxParts = Integer.MAX_VALUE;

  private static int parts(Driver d, int channels, int groups, int cap) {
    if (d.device().isCuda() || groups != 1) return 1;
    int team = CpuDriver.instance().threads();
    return Math.max(1, Math.min(Math.min(team, cap), channels / MIN_PART_CHANNELS));
  }

  /** [lo, hi) of part p of count cut into parts pieces (multiples of 16 where it can). */
  private static int[] cut(int count, int parts, int p) {
    int step = (count + parts - 1) / parts;
    step = Math.min(count, (step + 15) / 16 * 16);
    int lo = Math.min(count, p * step);
    int hi = p == parts - 1 ? count : Math.min(count, lo + step);
    return new int[] {lo, hi};
  }

  /** body(p) for every part; on the CPU on Java threads, each with team/parts threads of its own. */
  private static void split(Driver d, int parts, IntConsumer body) {
    if (parts == 1) {
      body.accept(0);
      return;
    }
    int each = Math.max(1, CpuDriver.instance().threads() / parts);
    List<Future<?>> futures = new ArrayList<>();
    for (int p = 1; p < parts; p++) {
      int part = p;
      futures.add(POOL.submit(() -> {
        // The hold drops the pins this thread's address() calls take, also when no driver call follows
        // them (a part whose taps all read padding): else they outlive the part on a pooled thread.
        try (Scope s = Scope.open(); ThreadLimit l = CpuDriver.limitThreads(each); Pins h = Pins.hold()) {
          body.accept(part);
        }
      }));
    }
    Throwable failure = null;
    try (ThreadLimit l = CpuDriver.limitThreads(each); Pins h = Pins.hold()) {
      body.accept(0);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    // Every part is waited for, interrupt or not: the parts write into memory the caller frees
    // once this returns.
    boolean interrupted = false;
    for (Future<?> f : futures) {
      while (true) {
        try {
          f.get();
        } catch (ExecutionException e) {
          if (failure == null) failure = e.getCause();
        } catch (InterruptedException e) {
          interrupted = true;
          continue;
        }
        break;
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
    if (failure instanceof RuntimeException r) throw r;
    if (failure instanceof Error e) throw e;
    if (failure != null) throw new IllegalStateException("atrous: a part failed", failure);
  }

  /** The taps restricted to output channels [lo, hi) (groups 1), with their weight rows. */
  private static List<Tap> rows(List<Tap> taps, int cg, int lo, int hi) {
    List<Tap> out = new ArrayList<>();
    for (Tap t : taps) {
      int s = Math.max(lo, t.outOffset());
      int e = Math.min(hi, t.outOffset() + t.rows());
      if (s < e) out.add(new Tap(t.w() + 4L * (s - t.outOffset()) * cg, e - s, s, t.offH(), t.offW()));
    }
    return out;
  }

  /**
   * Shared geometry: x [n, cin, h, w] convolved into y [n, outChannels, outH, outW] with the stride,
   * groups over both channel counts (every tap's rows are split the same way).
   */
  record Geometry(int n, int cin, int h, int w, int outChannels, int outH, int outW, int strideH, int strideW,
      int groups) {
    int cg() { return cin / groups; }

    long inPlane() { return (long) h * w; }

    long outPlane() { return (long) outH * outW; }
  }

  /**
   * One tap: weights {@code w} dense [rows, cin/groups] (group g's rows/groups rows at row
   * g*rows/groups), writing output channels [outOffset, outOffset + rows); output (oh, ow) reads
   * input (oh*strideH + offH, ow*strideW + offW).
   */
  record Tap(long w, int rows, int outOffset, int offH, int offW) {}

  /** The outputs [lo, hi) of count whose input start + q*step lies in [0, limit). */
  static int[] range(long start, int step, int limit, int count) {
    long first = start >= 0 ? 0 : (-start + step - 1) / step;
    long end = start >= limit ? 0 : (limit - start + step - 1) / step;
    int lo = (int) Math.min(first, count);
    int hi = (int) Math.min(end, count);
    return new int[] {lo, Math.max(lo, hi)};
  }

  /** The output rectangle of one tap: rows [oh0, oh0+rh), columns [ow0, ow0+rw); input starts h0, w0. */
  record Rect(int oh0, int rh, int ow0, int rw, int h0, int w0) {
    static Rect of(Geometry g, Tap t) {
      int[] rows = range(t.offH(), g.strideH(), g.h(), g.outH());
      int[] cols = range(t.offW(), g.strideW(), g.w(), g.outW());
      int oh0 = rows[0];
      int ow0 = cols[0];
      return new Rect(oh0, rows[1] - rows[0], ow0, cols[1] - cols[0], oh0 * g.strideH() + t.offH(),
          ow0 * g.strideW() + t.offW());
    }

    boolean empty() { return rh == 0 || rw == 0; }

    int area() { return rh * rw; }

    /** The input rectangle is whole consecutive rows of the image: a matrix in place. */
    boolean inputFlat(Geometry g) { return rw == g.w() && (g.strideW() == 1 || g.w() == 1) && (g.strideH() == 1 || rh == 1); }

    /** The output rectangle is whole consecutive output rows. */
    boolean outputFlat(Geometry g) { return rw == g.outW(); }
  }

  /** Useful multiply-adds of a tap list (padding taps excluded), for GFLOP/s figures. */
  static long usefulMacs(Geometry g, List<Tap> taps) {
    long macs = 0;
    for (Tap t : taps) macs += (long) Rect.of(g, t).area() * t.rows() * g.cg();
    return macs * g.n();
  }

  /** Images per chunk so a [channels, images, outH*outW] scratch fits {@link #CHUNK_FLOATS}. */
  private static int chunk(Geometry g, List<Tap> taps, int parts) {
    long ch = g.cg();
    for (Tap t : taps) ch = Math.max(ch, t.rows() / g.groups());
    return chunk(g, ch * Math.max(g.outPlane(), 1), parts);
  }

  /** Images per chunk so a scratch of `per` floats an image fits {@link #CHUNK_FLOATS}. */
  private static int chunk(Geometry g, long per, int parts) {
    return (int) Math.max(1, Math.min(g.n(), CHUNK_FLOATS / parts / Math.max(per, 1)));
  }

  /** One chunk of the band engine: images [b0, b0 + cnt) and its two scratch buffers. */
  private interface BandChunk {
    void run(List<AtrousBands.Column> cols, int b0, int cnt, long col, long tmp);
  }

  /** The band engine ({@link AtrousBands}) over the batch, in chunks whose scratch fits {@link #CHUNK_FLOATS}. */
  private static void overBands(Driver d, Geometry g, List<Tap> taps, int parts, BandChunk body) {
    List<AtrousBands.Column> cols = AtrousBands.columns(g, taps);
    long per = AtrousBands.perImage(g, cols);
    int nb = chunk(g, per, parts);
    try (Tensor col = AtrousBands.scratch(d, per * nb); Tensor tmp = AtrousBands.scratch(d, per * nb)) {
      for (int b0 = 0; b0 < g.n(); b0 += nb) body.run(cols, b0, Math.min(nb, g.n() - b0), col.address(), tmp.address());
    }
  }

  /** A matrix [rows, images * area] per chunk: either in place (per image) or a gathered buffer. */
  private record Operand(long base, int ld, long imageStride, boolean gathered) {}

  // ---- CPU with AVX-512: every tap in registers (native/pk_conv_taps.cpp) -----------------------
  // No gathered bands, no per-tap GEMM: each output tile sums all its valid taps before one store,
  // reading x in place. r12 1x256x33x33 forward 2.6 ms against 3.6-5.0 on the band engine (see
  // docs/benchmarks.md, "Taps in registers"). Dense convolutions only (groups 1); the input gradient
  // needs stride 1 (a strided transpose is not a shift). The weight gradient has a kernel of its
  // own. Callers (AtrousConv, AtrousMulti) check direct() and pass taps that read their weights in
  // place; the GEMM engine below runs otherwise.

  /** Test hook and A/B switch (-Dplugkit.atrous.direct=false): false keeps the GEMM engine on the CPU too. */
  static volatile boolean useDirect = !"false".equals(System.getProperty("plugkit.atrous.direct"));

  /** Products (forward, input gradient, weight gradient) the direct path computed (tests check it ran). */
  static final java.util.concurrent.atomic.AtomicLong directCalls = new java.util.concurrent.atomic.AtomicLong();

  /** Whether the direct path runs this geometry (the input gradient: `transposed`, stride 1 only). */
  static boolean direct(Driver d, Geometry g, boolean transposed) {
    return useDirect && !d.device().isCuda() && g.groups() == 1 && HostLibrary.convTapsSupported()
        && (!transposed || g.strideH() == 1 && g.strideW() == 1);
  }

  /** A tap of the direct path: its weight element (output channel o, input channel i) at w + 4 (o ldOut + i ldIn). */
  record Strided(Tap tap, int ldOut, int ldIn) {}

  /** Taps all laid out alike: (cin kh kw, kh kw) for a weight [Cout, Cin, kh, kw] read in place. */
  static List<Strided> strided(List<Tap> taps, int ldOut, int ldIn) {
    List<Strided> out = new ArrayList<>(taps.size());
    for (Tap t : taps) out.add(new Strided(t, ldOut, ldIn));
    return out;
  }

  /** Addresses and pk_conv_taps's 8 ints a tap (the native side derives the input gradient's transposed view). */
  private static long[] directInfo(Geometry g, List<Strided> taps, int[] info) {
    long[] w = new long[taps.size()];
    for (int i = 0; i < w.length; i++) {
      Tap t = taps.get(i).tap();
      w[i] = t.w();
      int[] f = {0, g.cin(), t.outOffset(), t.rows(), t.offH(), t.offW(), taps.get(i).ldOut(), taps.get(i).ldIn()};
      System.arraycopy(f, 0, info, 8 * i, 8);
    }
    return w;
  }

  /** The direct forward: y += every tap's product of x, plus bias (one float per output channel, or 0). */
  static void direct(Geometry g, List<Strided> taps, long x, long y, long bias) {
    int[] info = new int[8 * taps.size()];
    long[] w = directInfo(g, taps, info);
    directCalls.incrementAndGet();
    HostLibrary.convTaps(CpuDriver.instance().threads(), g.n(), x, g.h(), g.w(), g.inPlane() * g.cin(), y, g.outChannels(),
        g.outH(), g.outW(), g.outPlane() * g.outChannels(), g.strideH(), g.strideW(), w, info, bias);
  }

  /** The direct weight gradient: taps' w are the gradients, laid out as their weights (written, not added). */
  static void directWeight(Geometry g, List<Strided> taps, long x, long gy) {
    int[] info = new int[8 * taps.size()];
    long[] w = directInfo(g, taps, info);
    directCalls.incrementAndGet();
    HostLibrary.convTapsWeightGrad(CpuDriver.instance().threads(), g.n(), x, g.cin(), g.h(), g.w(), g.inPlane() * g.cin(),
        gy, g.outChannels(), g.outH(), g.outW(), g.outPlane() * g.outChannels(), g.strideH(), g.strideW(), w, info);
  }

  /**
   * The gradients of a stride-1 tap list in one call: dx += the transposed taps' product of gy
   * (unless dx is 0), and the weight gradients written through grads (laid out as taps' weights;
   * none when grads is null). On a team of two both run side by side, one thread each (see
   * pk_conv_taps_backward).
   */
  static void directBackward(Geometry g, List<Strided> taps, List<Strided> grads, long x, long gy, long dx) {
    int[] info = new int[8 * taps.size()];
    long[] w = directInfo(g, taps, info);
    long[] gw = grads == null ? null : new long[grads.size()];
    for (int i = 0; gw != null && i < gw.length; i++) gw[i] = grads.get(i).tap().w();
    directCalls.addAndGet((dx != 0 ? 1 : 0) + (gw != null ? 1 : 0));
    HostLibrary.convTapsBackward(CpuDriver.instance().threads(), g.n(), x, g.cin(), g.h(), g.w(), g.inPlane() * g.cin(),
        gy, g.outChannels(), g.outH(), g.outW(), g.outPlane() * g.outChannels(), w, gw, info, dx);
  }

  /** y (zeroed by the caller) += every tap's product. x [n, cin, h, w], y [n, outChannels, outH, outW]. */
  static void forward(Driver d, Geometry g, List<Tap> taps, long x, long y) {
    int parts = parts(d, g.outChannels(), g.groups());
    split(d, parts, p -> {
      int[] r = cut(g.outChannels(), parts, p);
      forwardPart(d, g, rows(taps, g.cg(), r[0], r[1]), x, y, parts);
    });
  }

  private static void forwardPart(Driver d, Geometry g, List<Tap> taps, long x, long y, int parts) {
    if (AtrousBands.applies(g)) {
      overBands(d, g, taps, parts, (cols, b0, cnt, col, tmp) -> AtrousBands.forward(d, g, cols, x, y, b0, cnt, col, tmp));
      return;
    }
    int nb = chunk(g, taps, parts);
    int cg = g.cg();
    try (Tensor col = scratch(d, g, taps, nb); Tensor tmp = scratch(d, g, taps, nb)) {
      for (int b0 = 0; b0 < g.n(); b0 += nb) {
        int cnt = Math.min(nb, g.n() - b0);
        for (Tap t : taps) {
          Rect r = Rect.of(g, t);
          if (r.empty()) continue;
          int og = t.rows() / g.groups();
          for (int gi = 0; gi < g.groups(); gi++) {
            long a = t.w() + 4L * gi * og * cg;
            long xBase = x + 4L * ((long) b0 * g.cin() + (long) gi * cg) * g.inPlane();
            long yBase = y + 4L * ((long) b0 * g.outChannels() + t.outOffset() + (long) gi * og) * g.outPlane();
            Operand bIn = input(d, g, r, xBase, cg, cnt, col.address());
            boolean cFlat = r.outputFlat(g);
            Operand c = cFlat ? new Operand(yBase + 4L * r.oh0() * g.outW(), (int) g.outPlane(),
                (long) g.outChannels() * g.outPlane(), false) : new Operand(tmp.address(), cnt * r.area(), r.area(), true);
            gemm(d, false, og, cg, r.area(), cnt, a, cg, bIn, c, cFlat ? 1f : 0f);
            if (!cFlat) {
              d.launch(SCATTER_ADD, (long) og * cnt * r.rh(), tmp.address(), yBase, (long) g.outChannels() * g.outPlane(),
                  cnt, g.outH(), g.outW(), r.rh(), r.rw(), r.oh0(), r.ow0(), 1, 1);
            }
          }
        }
      }
    }
  }

  /** dx (zeroed by the caller) += every tap's transposed product with gy. */
  static void backwardData(Driver d, Geometry g, List<Tap> taps, long gy, long dx) {
    int parts = parts(d, g.cin(), g.groups());
    split(d, parts, p -> {
      int[] r = cut(g.cg(), parts, p);  // channels within each group (groups > 1: one part, all of them)
      backwardDataPart(d, g, taps, gy, dx, r[0], r[1], parts);
    });
  }

  /** Input channels [c0, c1) of each group's dx (all of them: 0, cg). */
  private static void backwardDataPart(Driver d, Geometry g, List<Tap> taps, long gy, long dx, int c0, int c1,
      int parts) {
    int nb = chunk(g, taps, parts);
    int cg = g.cg();
    if (c0 < 0 || c1 > cg || c0 > c1) { // a wrong range here writes out of bounds natively
      throw new IllegalStateException("atrous: input channels [" + c0 + ", " + c1 + ") outside a group's " + cg);
    }
    int cm = c1 - c0;
    if (cm == 0) return;
    if (AtrousBands.applies(g)) {
      overBands(d, g, taps, parts,
          (cols, b0, cnt, col, tmp) -> AtrousBands.backwardData(d, g, cols, gy, dx, c0, c1, b0, cnt, col, tmp));
      return;
    }
    try (Tensor col = scratch(d, g, taps, nb); Tensor tmp = scratch(d, g, taps, nb)) {
      for (int b0 = 0; b0 < g.n(); b0 += nb) {
        int cnt = Math.min(nb, g.n() - b0);
        for (Tap t : taps) {
          Rect r = Rect.of(g, t);
          if (r.empty()) continue;
          int og = t.rows() / g.groups();
          for (int gi = 0; gi < g.groups(); gi++) {
            long a = t.w() + 4L * gi * og * cg + 4L * c0;
            long gyBase = gy + 4L * ((long) b0 * g.outChannels() + t.outOffset() + (long) gi * og) * g.outPlane();
            long dxBase = dx + 4L * ((long) b0 * g.cin() + (long) gi * cg + c0) * g.inPlane();
            Operand bIn = output(d, g, r, gyBase, og, cnt, col.address());
            boolean cFlat = r.inputFlat(g);
            Operand c = cFlat ? new Operand(dxBase + 4L * r.h0() * g.w(), (int) g.inPlane(), (long) g.cin() * g.inPlane(), false)
                : new Operand(tmp.address(), cnt * r.area(), r.area(), true);
            gemm(d, true, cm, og, r.area(), cnt, a, cg, bIn, c, cFlat ? 1f : 0f);
            if (!cFlat) {
              d.launch(SCATTER_ADD, (long) cm * cnt * r.rh(), tmp.address(), dxBase, (long) g.cin() * g.inPlane(), cnt,
                  g.h(), g.w(), r.rh(), r.rw(), r.h0(), r.w0(), g.strideH(), g.strideW());
            }
          }
        }
      }
    }
  }

  /**
   * grads[i] (dense like taps[i].w, zeroed by the caller) += gy's rectangle times x's, summed over
   * the batch.
   */
  static void backwardWeight(Driver d, Geometry g, List<Tap> taps, long[] grads, long x, long gy) {
    int parts = parts(d, g.outChannels(), g.groups(), weightMaxParts);
    split(d, parts, p -> {
      int[] r = cut(g.outChannels(), parts, p);
      // The gradient taps move with the weight taps: a Tap whose w is the gradient's address.
      List<Tap> gradTaps = new ArrayList<>();
      for (int i = 0; i < taps.size(); i++) {
        Tap t = taps.get(i);
        gradTaps.add(new Tap(grads[i], t.rows(), t.outOffset(), t.offH(), t.offW()));
      }
      List<Tap> part = rows(gradTaps, g.cg(), r[0], r[1]);
      long[] dst = new long[part.size()];
      for (int i = 0; i < dst.length; i++) dst[i] = part.get(i).w();
      backwardWeightPart(d, g, part, dst, x, gy, parts);
    });
  }

  private static void backwardWeightPart(Driver d, Geometry g, List<Tap> taps, long[] grads, long x, long gy,
      int parts) {
    if (AtrousBands.applies(g)) {  // taps' w are the gradients here
      overBands(d, g, taps, parts,
          (cols, b0, cnt, col, tmp) -> AtrousBands.backwardWeight(d, g, cols, x, gy, b0, cnt, col, tmp));
      return;
    }
    int nb = chunk(g, taps, parts);
    int cg = g.cg();
    try (Tensor col = scratch(d, g, taps, nb); Tensor tmp = scratch(d, g, taps, nb)) {
      for (int b0 = 0; b0 < g.n(); b0 += nb) {
        int cnt = Math.min(nb, g.n() - b0);
        for (int ti = 0; ti < taps.size(); ti++) {
          Tap t = taps.get(ti);
          Rect r = Rect.of(g, t);
          if (r.empty()) continue;
          int og = t.rows() / g.groups();
          for (int gi = 0; gi < g.groups(); gi++) {
            long dw = grads[ti] + 4L * gi * og * cg;
            long xBase = x + 4L * ((long) b0 * g.cin() + (long) gi * cg) * g.inPlane();
            long gyBase = gy + 4L * ((long) b0 * g.outChannels() + t.outOffset() + (long) gi * og) * g.outPlane();
            Operand go = output(d, g, r, gyBase, og, cnt, col.address());
            Operand xi = input(d, g, r, xBase, cg, cnt, tmp.address());
            if (go.gathered() && xi.gathered()) {
              // Both gathered: the batch is one reduction dimension.
              d.gemm(false, true, og, cg, cnt * r.area(), 1f, go.base(), go.ld(), 0, xi.base(), xi.ld(), 0, 1f, dw, cg, 0, 1);
            } else {
              for (int b = 0; b < cnt; b++) {
                d.gemm(false, true, og, cg, r.area(), 1f, go.base() + 4L * b * go.imageStride(), go.ld(), 0,
                    xi.base() + 4L * b * xi.imageStride(), xi.ld(), 0, 1f, dw, cg, 0, 1);
              }
            }
          }
        }
      }
    }
  }

  /** x's rectangle for tap r ([channels, cnt images, area]), in place when it is whole image rows. */
  private static Operand input(Driver d, Geometry g, Rect r, long base, int channels, int cnt, long buffer) {
    long img = (long) g.cin() * g.inPlane();
    if (r.inputFlat(g)) return new Operand(base + 4L * r.h0() * g.w(), (int) g.inPlane(), img, false);
    d.launch(GATHER, (long) channels * cnt * r.rh(), base, buffer, img, cnt, g.h(), g.w(), r.rh(), r.rw(), r.h0(), r.w0(),
        g.strideH(), g.strideW());
    return new Operand(buffer, cnt * r.area(), r.area(), true);
  }

  /** An output-shaped tensor's rectangle (gy), in place when it is whole output rows. */
  private static Operand output(Driver d, Geometry g, Rect r, long base, int channels, int cnt, long buffer) {
    long img = (long) g.outChannels() * g.outPlane();
    if (r.outputFlat(g)) return new Operand(base + 4L * r.oh0() * g.outW(), (int) g.outPlane(), img, false);
    d.launch(GATHER, (long) channels * cnt * r.rh(), base, buffer, img, cnt, g.outH(), g.outW(), r.rh(), r.rw(), r.oh0(),
        r.ow0(), 1, 1);
    return new Operand(buffer, cnt * r.area(), r.area(), true);
  }

  /** C [m, cnt*area] (beta) += op(A) [m, k] x B [k, cnt*area]: one GEMM when both are gathered, else per image. */
  private static void gemm(Driver d, boolean transA, int m, int k, int area, int cnt, long a, int lda, Operand b, Operand c,
      float beta) {
    if (b.gathered() && c.gathered()) {
      d.gemm(transA, false, m, cnt * area, k, 1f, a, lda, 0, b.base(), b.ld(), 0, beta, c.base(), c.ld(), 0, 1);
    } else {
      d.gemm(transA, false, m, area, k, 1f, a, lda, 0, b.base(), b.ld(), b.imageStride(), beta, c.base(), c.ld(),
          c.imageStride(), cnt);
    }
  }

  private static Tensor scratch(Driver d, Geometry g, List<Tap> taps, int nb) {
    long ch = g.cg();
    for (Tap t : taps) ch = Math.max(ch, t.rows() / g.groups());
    return Tensor.empty(d.device(), (int) ch * nb, (int) Math.max(g.outPlane(), 1));
  }
}
