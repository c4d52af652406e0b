// Convolution as a list of shifted taps, computed directly on the CPU target with AVX-512: no
// gathered bands, no per-tap GEMM, every valid tap of an output tile summed in registers before one
// store. This is the CPU engine of the atrous kernel (io.plugkit.ops.AtrousTaps) where the CPU has
// AVX-512; elsewhere the caller keeps its GEMM path. Host-only, like pk_sgemm: the CUDA side of the
// atrous kernel is the GEMM engine on cuBLAS.
//
// out[b, outOff_t + o, oy, ox] += sum over taps t, i < inCount_t of
//     W_t[o, i] * in[b, inOff_t + i, oy * strideH + offH_t, ox * strideW + offW_t]
// for the (oy, ox) whose input sample lies inside the image (the rest is padding, skipped).
// W_t[o, i] = tapW[t][o * ldOut_t + i * ldIn_t], so a tap can be read transposed (input gradient).
//
// Why this shape: output channels in 32-wide slices (two zmm), pixels of one output row in tiles
// of up to 12 (24 accumulators), the input read by broadcasting single samples. The input is never
// copied (any stride or dilation is an address), the tap's weights are packed once per call into
// [inCount][32] blocks that stream from L2, and a tap runs only on the pixels of a tile where its
// sample is inside the image (rows are cut where a tap's validity changes, unless that would leave
// a run under MIN_SEGMENT columns), so padding costs nothing.
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <algorithm>
#include <vector>

namespace {

constexpr int SLICE = 32;  // output channels per slice
constexpr int MAX_TILE = 12;
constexpr int MIN_SEGMENT = 8;  // narrowest run of columns with one set of valid taps that gets its own tiles
constexpr int CHUNK_PIXELS = 256;  // gy pixels of one weight-gradient chunk: 256 x 128 B = 32 KiB, in L1
constexpr int BLOCK_CHANNELS = 256;  // widest channel block of x re-laid for the weight gradient

struct TapInfo {
  int inOff, inCount, outOff, outCount, offH, offW, ldOut, ldIn;
};

// The accumulators of a tile: `MR` rows of 32 floats (two zmm each), loaded from and stored to acc.
#define PK_TILE_TARGET __attribute__((target("avx512f,fma"), always_inline)) inline

template <int MR>
PK_TILE_TARGET void loadRows(const float* acc, __m512* a0, __m512* a1) {
  for (int j = 0; j < MR; ++j) {
    a0[j] = _mm512_load_ps(acc + j * SLICE);
    a1[j] = _mm512_load_ps(acc + j * SLICE + 16);
  }
}

template <int MR>
PK_TILE_TARGET void storeRows(float* acc, const __m512* a0, const __m512* a1) {
  for (int j = 0; j < MR; ++j) {
    _mm512_store_ps(acc + j * SLICE, a0[j]);
    _mm512_store_ps(acc + j * SLICE + 16, a1[j]);
  }
}

// One step of the reduction: row j += s[j * sStride] * v[0..31] (one broadcast, two FMAs a row).
template <int MR>
PK_TILE_TARGET void step(const float* s, long sStride, const float* v, __m512* a0, __m512* a1) {
  const __m512 v0 = _mm512_load_ps(v), v1 = _mm512_load_ps(v + 16);
  for (int j = 0; j < MR; ++j) {
    const __m512 b = _mm512_set1_ps(s[j * sStride]);
    a0[j] = _mm512_fmadd_ps(b, v0, a0[j]);
    a1[j] = _mm512_fmadd_ps(b, v1, a1[j]);
  }
}

// One tile: `mr` pixels x 32 channels, added to acc over `n` (packed weight, input start) pairs.
template <int MR>
__attribute__((target("avx512f,fma"))) void tile(int n, const float* const* w, const float* const* x, const int* k,
                                                 long plane, int sw, float* acc) {
  __m512 a0[MR], a1[MR];
  loadRows<MR>(acc, a0, a1);
  for (int t = 0; t < n; ++t) {
    const float* wp = w[t];
    const float* xp = x[t];
    for (int c = k[t]; c > 0; --c, wp += SLICE, xp += plane) step<MR>(xp, sw, wp, a0, a1);
  }
  storeRows<MR>(acc, a0, a1);
}

typedef void (*tile_fn)(int, const float* const*, const float* const*, const int*, long, int, float*);

constexpr tile_fn TILES[MAX_TILE] = {&tile<1>, &tile<2>, &tile<3>, &tile<4>, &tile<5>,  &tile<6>,
                                     &tile<7>, &tile<8>, &tile<9>, &tile<10>, &tile<11>, &tile<12>};

// A 64-byte aligned block, grown when needed. The per-call scratch is one per calling thread
// (thread_local below): a fresh 2-3 MB block per call costs its page faults every time (r12
// 1x256x33x33: 9 ms a call against 2.7). A block over
// KEEP_FLOATS (a large batch's re-laid operands) is freed after the call instead of kept: a
// thread that ran one big batch should not hold its scratch for life.
constexpr size_t KEEP_FLOATS = (size_t)16 << 20;  // 64 MiB

struct PackBuffer {
  float* data = nullptr;
  size_t floats = 0;
  float* get(size_t n) {
    if (n > floats) {
      free(data);
      floats = 0;
      data = static_cast<float*>(aligned_alloc(64, (n * 4 + 63) / 64 * 64));
      if (data) floats = n;
    }
    return data;
  }
  void trim() {
    if (floats > KEEP_FLOATS) {
      free(data);
      data = nullptr;
      floats = 0;
    }
  }
  ~PackBuffer() { free(data); }
};
thread_local PackBuffer packBuffer;

// Weight-gradient tile: `mr` input channels x 32 output channels, added to acc over a window of
// `rows` x `cols` output pixels. xt is the input channels-last ([pixel][channel]: the `mr`
// channels of a pixel side by side), g the output gradient as [pixel][32] for one slice.
template <int MR>
__attribute__((target("avx512f,fma"))) void tileWeight(int rows, int cols, const float* xt, long xRow, long xStep,
                                                       const float* g, long gRow, float* acc) {
  __m512 a0[MR], a1[MR];
  loadRows<MR>(acc, a0, a1);
  for (int r = 0; r < rows; ++r) {
    const float* xp = xt + r * xRow;
    const float* gp = g + r * gRow;
    for (int c = cols; c > 0; --c, gp += SLICE, xp += xStep) step<MR>(xp, 1, gp, a0, a1);
  }
  storeRows<MR>(acc, a0, a1);
}

typedef void (*weight_fn)(int, int, const float*, long, long, const float*, long, float*);

constexpr weight_fn WEIGHT_TILES[MAX_TILE] = {
    &tileWeight<1>, &tileWeight<2>, &tileWeight<3>, &tileWeight<4>,  &tileWeight<5>,  &tileWeight<6>,
    &tileWeight<7>, &tileWeight<8>, &tileWeight<9>, &tileWeight<10>, &tileWeight<11>, &tileWeight<12>};

// Near-equal tiles of at most MAX_TILE covering [0, len): 33 -> 11 + 11 + 11, not 12 + 12 + 9.
void cutTiles(int first, int len, std::vector<int>& start, std::vector<int>& width) {
  const int parts = (len + MAX_TILE - 1) / MAX_TILE;
  for (int p = 0, x0 = first; p < parts; ++p) {
    const int w = len / parts + (p < len % parts ? 1 : 0);
    start.push_back(x0);
    width.push_back(w);
    x0 += w;
  }
}

thread_local PackBuffer weightBuffer;

int ceilDiv(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Packs each tap meeting a slice into its [inCount][32] block (zeros outside the tap's output
// channels). One item per slice with its taps in the middle loop, so a weight row comes from
// memory once and is re-read per tap from L1; the inner loop walks the source along its shorter
// stride (input channels for a weight read as it lies, output channels for the transposed read).
// Against one item per (slice, tap) walking rows 9 KB apart: forward and input gradient 0-4% faster
// (r12 1x256x33x33 and ASPP's multi-rate taps, 2 threads, A/B in one process).
void packWeights(int threads, int slices, int ntaps, const TapInfo* info, const long* tapW,
                 const std::vector<long>& blockAt, float* packed) {
  #pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (int s = 0; s < slices; ++s) {
    int maxIn = 0;
    bool rowsLong = true;
    for (int t = 0; t < ntaps; ++t) {
      const long at = blockAt[(size_t)s * ntaps + t];
      if (at < 0) continue;
      const TapInfo& ti = info[t];
      maxIn = std::max(maxIn, ti.inCount);
      rowsLong = rowsLong && ti.ldIn <= ti.ldOut;
      if (ti.outOff > s * SLICE || ti.outOff + ti.outCount < (s + 1) * SLICE) {  // channels outside the tap: zeros
        memset(packed + at, 0, sizeof(float) * ti.inCount * SLICE);
      }
    }
    const int outer = rowsLong ? SLICE : maxIn;
    for (int a = 0; a < outer; ++a) {
      for (int t = 0; t < ntaps; ++t) {
        const long at = blockAt[(size_t)s * ntaps + t];
        if (at < 0) continue;
        const TapInfo& ti = info[t];
        const float* w = reinterpret_cast<const float*>(tapW[t]);
        if (rowsLong) {  // a: output channel of the slice; input channels inner
          const int local = s * SLICE + a - ti.outOff;
          if (local < 0 || local >= ti.outCount) continue;
          const float* row = w + (long)local * ti.ldOut;
          float* dst = packed + at + a;
          for (int i = 0; i < ti.inCount; ++i) dst[(long)i * SLICE] = row[(long)i * ti.ldIn];
        } else {  // a: input channel; the slice's output channels inner
          if (a >= ti.inCount) continue;
          const int lo = std::max(0, ti.outOff - s * SLICE), hi = std::min(SLICE, ti.outOff + ti.outCount - s * SLICE);
          const float* col = w + (long)a * ti.ldIn + (long)(s * SLICE - ti.outOff) * ti.ldOut;
          float* dst = packed + at + (long)a * SLICE;
          for (int o = lo; o < hi; ++o) dst[o] = col[(long)o * ti.ldOut];
        }
      }
    }
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int pk_conv_taps_supported() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

// Returns 0 when done, 1 when this CPU lacks AVX-512 (nothing was written). `tapW` holds ntaps
// weight addresses, `tapInfo` ntaps x 8 ints (TapInfo's fields in order). bias (outC floats, or
// null) is added to every output too. out is added to, not written: the callers zero it first,
// and that is faster than writing it once. A rate-12 1x256x33x33 forward writing a reused,
// untouched-since-freed output ran 6.1 ms against 2.6 ms zero-filled first (this VM).
extern "C" __attribute__((visibility("default"))) int pk_conv_taps(
    int threads, int batch, const float* in, int inH, int inW, long inImage, float* out, int outC, int outH, int outW,
    long outImage, int strideH, int strideW, int ntaps, const long* tapW, const int* tapInfo, const float* bias) {
  if (!pk_conv_taps_supported()) return 1;
  if (batch <= 0 || outH <= 0 || outW <= 0 || ntaps <= 0) return 0;
  const TapInfo* info = reinterpret_cast<const TapInfo*>(tapInfo);
  const int slices = (outC + SLICE - 1) / SLICE;

  // Packed weights: for each slice, each tap meeting it, a [inCount][32] block (zeros outside the tap's channels).
  std::vector<long> blockAt((size_t)slices * ntaps, -1);
  long floats = 0;
  for (int s = 0; s < slices; ++s) {
    for (int t = 0; t < ntaps; ++t) {
      const TapInfo& ti = info[t];
      if (ti.outOff < (s + 1) * SLICE && ti.outOff + ti.outCount > s * SLICE && ti.inCount > 0) {
        blockAt[(size_t)s * ntaps + t] = floats;
        floats += (long)ti.inCount * SLICE;
      }
    }
  }
  float* packed = packBuffer.get((size_t)floats);
  if (!packed) return 2;
  packWeights(threads, slices, ntaps, info, tapW, blockAt, packed);
  // Column segments per slice: cut [0, outW) wherever the column validity of a tap meeting the
  // slice changes; each segment in tiles. Per slice, not for all taps at once: ASPP's branches
  // (rates 6, 12, 18) would cut each other's rows into 3-wide tiles.
  struct Tile { int slice, x0, width; };
  std::vector<Tile> tiles;
  std::vector<long> firstItem(slices + 1, 0);  // items of one image before slice s: outH x tiles of the earlier slices
  for (int s = 0; s < slices; ++s) {
    std::vector<int> cuts = {0, outW};
    for (int t = 0; t < ntaps; ++t) {
      if (blockAt[(size_t)s * ntaps + t] < 0) continue;
      int lo = ceilDiv(-info[t].offW, strideW), hi = ceilDiv(inW - info[t].offW, strideW);
      if (lo > 0 && lo < outW) cuts.push_back(lo);
      if (hi > 0 && hi < outW) cuts.push_back(hi);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    // A segment narrower than MIN_SEGMENT joins its narrower neighbour: its taps then cover only
    // part of the tile (run on that part alone, below), and the tile keeps enough pixels.
    for (bool merged = true; merged && cuts.size() > 2;) {
      merged = false;
      for (size_t c = 0; c + 1 < cuts.size(); ++c) {
        if (cuts[c + 1] - cuts[c] >= MIN_SEGMENT) continue;
        const int left = c > 0 ? cuts[c] - cuts[c - 1] : INT_MAX;
        const int right = c + 2 < cuts.size() ? cuts[c + 2] - cuts[c + 1] : INT_MAX;
        cuts.erase(cuts.begin() + (left <= right ? c : c + 1));
        merged = true;
        break;
      }
    }
    std::vector<int> x0, width;
    for (size_t c = 0; c + 1 < cuts.size(); ++c) cutTiles(cuts[c], cuts[c + 1] - cuts[c], x0, width);
    for (size_t k = 0; k < x0.size(); ++k) tiles.push_back({s, x0[k], width[k]});
    firstItem[s + 1] = firstItem[s] + (long)outH * x0.size();
  }
  std::vector<int> tileOf(slices + 1, 0);  // index in `tiles` of slice s's first tile
  for (size_t k = tiles.size(); k-- > 0;) tileOf[tiles[k].slice] = (int)k;
  tileOf[slices] = (int)tiles.size();
  const long plane = (long)inH * inW, outPlane = (long)outH * outW;
  const long perImage = firstItem[slices];
  std::vector<int> colLo(ntaps), colHi(ntaps);  // the output columns whose sample of tap t is inside the image
  for (int t = 0; t < ntaps; ++t) {
    colLo[t] = std::max(0, ceilDiv(-info[t].offW, strideW));
    colHi[t] = std::min(outW, ceilDiv(inW - info[t].offW, strideW));
  }

  #pragma omp parallel num_threads(threads) if (threads > 1)
  {
    alignas(64) float acc[MAX_TILE * SLICE];
    std::vector<const float*> wl(ntaps), xl(ntaps);
    std::vector<int> kl(ntaps);
    // Order: image, slice, row, tile: a slice's packed weights stay in L2 over its rows.
    #pragma omp for schedule(dynamic, 4)
    for (long it = 0; it < batch * perImage; ++it) {
      const int b = (int)(it / perImage);
      const long local = it % perImage;
      const int s = (int)(std::upper_bound(firstItem.begin(), firstItem.end(), local) - firstItem.begin()) - 1;
      const int count = tileOf[s + 1] - tileOf[s];
      const int oy = (int)((local - firstItem[s]) / count);
      const Tile& tl = tiles[tileOf[s] + (local - firstItem[s]) % count];
      const int x0 = tl.x0, mr = tl.width;
      memset(acc, 0, sizeof(float) * mr * SLICE);
      int n = 0;
      bool any = false;
      for (int t = 0; t < ntaps; ++t) {
        const long at = blockAt[(size_t)s * ntaps + t];
        if (at < 0) continue;
        const TapInfo& ti = info[t];
        const int iy = oy * strideH + ti.offH;
        const int lo = std::max(x0, colLo[t]), hi = std::min(x0 + mr, colHi[t]);
        if (iy < 0 || iy >= inH || lo >= hi) continue;
        const float* xp = in + b * inImage + ti.inOff * plane + (long)iy * inW + (long)lo * strideW + ti.offW;
        any = true;
        if (hi - lo < mr) {  // valid over part of the tile: that part alone
          const float* w1 = packed + at;
          TILES[hi - lo - 1](1, &w1, &xp, &ti.inCount, plane, strideW, acc + (lo - x0) * SLICE);
          continue;
        }
        wl[n] = packed + at;
        xl[n] = xp;
        kl[n] = ti.inCount;
        ++n;
      }
      if (!any && !bias) continue;
      if (n > 0) TILES[mr - 1](n, wl.data(), xl.data(), kl.data(), plane, strideW, acc);
      const int oc = outC - s * SLICE < SLICE ? outC - s * SLICE : SLICE;
      float* o = out + b * outImage + (long)s * SLICE * outPlane + (long)oy * outW + x0;
      for (int c = 0; c < oc; ++c) {
        float* row = o + c * outPlane;
        const float add = bias ? bias[s * SLICE + c] : 0.f;
        for (int j = 0; j < mr; ++j) row[j] += acc[j * SLICE + c] + add;
      }
    }
  }
  packBuffer.trim();
  return 0;
}

// The weight gradient of the same tap list: grad_t[o ldOut + i ldIn] = sum over images and the
// tap's valid output pixels of gy[b, outOff + o, oy, ox] x[b, inOff + i, iy, ix] (written, not
// added; a tap with no valid pixel gets zeros). Both operands are first re-laid per call: x
// channels-last, gy as [slice][pixel][32], so a tile's inner loop is one vector pair and `mr`
// broadcasts from one cache line. `tapW` holds the gradients' addresses. Returns as pk_conv_taps.
extern "C" __attribute__((visibility("default"))) int pk_conv_taps_weight_grad(
    int threads, int batch, const float* in, int inC, int inH, int inW, long inImage, const float* gy, int outC,
    int outH, int outW, long outImage, int strideH, int strideW, int ntaps, const long* tapW, const int* tapInfo) {
  if (!pk_conv_taps_supported()) return 1;
  if (ntaps <= 0) return 0;
  const TapInfo* info = reinterpret_cast<const TapInfo*>(tapInfo);
  const int slices = (outC + SLICE - 1) / SLICE;
  const long plane = (long)inH * inW, outPlane = (long)outH * outW;
  const long xImage = plane * inC, gImage = (long)slices * outPlane * SLICE;
  const long gtAt = ((long)batch * xImage + 15) / 16 * 16;  // 64-byte aligned: the tiles load gt aligned
  float* xt = weightBuffer.get((size_t)(gtAt + batch * gImage + 16));
  if (!xt) return 2;
  float* gt = xt + gtAt;
  // x is re-laid channels-last in blocks of whole tiles, at most BLOCK_CHANNELS wide, each
  // [pixel][block width]. Channels-last over all channels put pixels inC floats apart, a page apart
  // from 1024 channels on, where the prefetchers stop: a 1x1 1024 -> 256 weight gradient at 33x33
  // took 5.8 ms against the forward's 1.9 (2.2 in blocks). Blocks of one tile (12 channels) took
  // 2.8 ms there and were 2-4% slower at 256 channels.
  std::vector<int> tStart, tWidth, bStart, bWidth, blockOf(inC);
  cutTiles(0, inC, tStart, tWidth);
  for (size_t q = 0; q < tStart.size(); ++q) {
    if (bStart.empty() || bWidth.back() + tWidth[q] > BLOCK_CHANNELS) {
      bStart.push_back(tStart[q]);
      bWidth.push_back(0);
    }
    bWidth.back() += tWidth[q];
  }
  for (size_t q = 0; q < bStart.size(); ++q) {
    for (int c = bStart[q]; c < bStart[q] + bWidth[q]; ++c) blockOf[c] = (int)q;
  }
  #pragma omp parallel num_threads(threads) if (threads > 1)
  {
    #pragma omp for schedule(static) nowait
    for (long bp = 0; bp < (long)batch * inH; ++bp) {  // x -> [b][block][pixel][width], a row of pixels at a time
      const long b = bp / inH, y = bp % inH;
      for (int c = 0; c < inC; ++c) {
        const int q = blockOf[c], w = bWidth[q];
        const float* src = in + b * inImage + c * plane + y * inW;
        float* dst = xt + b * xImage + plane * bStart[q] + y * inW * w + (c - bStart[q]);
        for (int x = 0; x < inW; ++x) dst[(long)x * w] = src[x];
      }
    }
    #pragma omp for schedule(static)
    for (long bs = 0; bs < (long)batch * slices; ++bs) {  // gy -> [b][slice][pixel][32], zeros past outC
      const long b = bs / slices, s = bs % slices;
      float* dst = gt + b * gImage + s * outPlane * SLICE;
      for (int o = 0; o < SLICE; ++o) {
        const long ch = s * SLICE + o;
        const float* src = gy + b * outImage + ch * outPlane;
        if (ch < outC) {
          for (long p = 0; p < outPlane; ++p) dst[p * SLICE + o] = src[p];
        } else {
          for (long p = 0; p < outPlane; ++p) dst[p * SLICE + o] = 0.f;
        }
      }
    }
  }

  // Items: (tap, slice meeting the tap's output channels). Each walks its window in chunks of rows
  // whose gy slice (pixels x 128 B) stays in L1 while every input-channel tile passes over it, the
  // tiles' sums parked in `sums` between chunks. One item per (tap, slice, tile), each streaming
  // its whole window, took 3.9-4.0 ms for the r12 1x256x33x33 weight gradient; this 2.7-3.0.
  struct Item { int tap, slice; };
  std::vector<Item> items;
  int failed = 0;
  for (int t = 0; t < ntaps; ++t) {
    for (int s = info[t].outOff / SLICE; s * SLICE < info[t].outOff + info[t].outCount; ++s) items.push_back({t, s});
  }
  #pragma omp parallel num_threads(threads) if (threads > 1)
  {
    std::vector<int> tq, tlo, thi;  // the tap's tiles: their block, first and end channel
    PackBuffer sumsBuffer;  // this item's tile sums, [inCount][32]
    #pragma omp for schedule(dynamic, 1)
    for (size_t k = 0; k < items.size(); ++k) {
      const Item it = items[k];
      const TapInfo& ti = info[it.tap];
      tq.clear();
      tlo.clear();
      thi.clear();
      for (size_t q = 0; q < tStart.size(); ++q) {
        const int lo = std::max(tStart[q], ti.inOff), hi = std::min(tStart[q] + tWidth[q], ti.inOff + ti.inCount);
        if (lo >= hi) continue;
        tq.push_back(blockOf[lo]);
        tlo.push_back(lo);
        thi.push_back(hi);
      }
      const size_t need = (size_t)ti.inCount * SLICE;
      float* sums = sumsBuffer.get(need);
      if (!sums) {
        failed = 1;
        continue;
      }
      memset(sums, 0, need * 4);
      const int oy0 = std::max(0, ceilDiv(-ti.offH, strideH)), oy1 = std::min(outH, ceilDiv(inH - ti.offH, strideH));
      const int ox0 = std::max(0, ceilDiv(-ti.offW, strideW)), ox1 = std::min(outW, ceilDiv(inW - ti.offW, strideW));
      if (oy1 > oy0 && ox1 > ox0) {
        const int cols = ox1 - ox0, chunkRows = std::max(1, CHUNK_PIXELS / cols);
        for (int b = 0; b < batch; ++b) {
          for (int r0 = oy0; r0 < oy1; r0 += chunkRows) {
            const int rows = std::min(chunkRows, oy1 - r0);
            const long iy0 = (long)r0 * strideH + ti.offH, ix0 = (long)ox0 * strideW + ti.offW;
            const float* g = gt + b * gImage + (long)it.slice * outPlane * SLICE + ((long)r0 * outW + ox0) * SLICE;
            for (size_t k = 0; k < tq.size(); ++k) {
              const int q = tq[k], w = bWidth[q];
              const float* x = xt + b * xImage + plane * bStart[q] + (iy0 * inW + ix0) * w + (tlo[k] - bStart[q]);
              WEIGHT_TILES[thi[k] - tlo[k] - 1](rows, cols, x, (long)strideH * inW * w, (long)strideW * w, g,
                                                (long)outW * SLICE, sums + (long)(tlo[k] - ti.inOff) * SLICE);
            }
          }
        }
      }
      float* dst = reinterpret_cast<float*>(tapW[it.tap]);
      const int lo = std::max(it.slice * SLICE, ti.outOff), hi = std::min((it.slice + 1) * SLICE, ti.outOff + ti.outCount);
      for (int o = lo; o < hi; ++o) {
        for (int i = 0; i < ti.inCount; ++i) {
          dst[(long)(o - ti.outOff) * ti.ldOut + (long)i * ti.ldIn] = sums[(long)i * SLICE + (o - it.slice * SLICE)];
        }
      }
    }
  }
  weightBuffer.trim();
  return failed ? 2 : 0;
}

// The input gradient (added to dx, as pk_conv_taps) and the weight gradients (written to gradW,
// laid out as tapW) of a stride-1 tap list in one call. A team of two runs them side by side, one
// thread each: a kernel alone on a core keeps ~89% of its FMA peak, and ~79% on two (AMD EPYC
// VM), so r12 1x256x33x33 took 4.1-4.2 ms this way against 4.6-4.8 one after the other on two threads
// (A/B in one process). Side by side on two OpenMP teams instead, the first team's spinning
// workers took the cores (8.5 ms). Other team sizes run them one after the other. dx or gradW may
// be null. Returns as pk_conv_taps.
extern "C" __attribute__((visibility("default"))) int pk_conv_taps_backward(
    int threads, int batch, const float* x, int inC, int inH, int inW, long inImage, const float* gy, int outC, int outH,
    int outW, long outImage, int ntaps, const long* tapW, const long* gradW, const int* tapInfo, float* dx) {
  if (!pk_conv_taps_supported()) return 1;
  const TapInfo* info = reinterpret_cast<const TapInfo*>(tapInfo);
  std::vector<TapInfo> transposed(ntaps > 0 ? ntaps : 0);
  for (int t = 0; t < ntaps; ++t) {
    const TapInfo& f = info[t];
    transposed[t] = {f.outOff, f.outCount, f.inOff, f.inCount, -f.offH, -f.offW, f.ldIn, f.ldOut};
  }
  auto data = [&](int team) {
    return dx ? pk_conv_taps(team, batch, gy, outH, outW, outImage, dx, inC, inH, inW, inImage, 1, 1, ntaps, tapW,
                             reinterpret_cast<const int*>(transposed.data()), nullptr)
              : 0;
  };
  auto weight = [&](int team) {
    return gradW ? pk_conv_taps_weight_grad(team, batch, x, inC, inH, inW, inImage, gy, outC, outH, outW, outImage, 1, 1,
                                            ntaps, gradW, tapInfo)
                 : 0;
  };
  if (threads != 2 || !dx || !gradW) {
    const int rc = data(threads);
    return rc ? rc : weight(threads);
  }
  int rc[2] = {0, 0};
  #pragma omp parallel num_threads(2)
  {
    if (omp_get_num_threads() < 2) {  // OpenMP gave one thread (a thread limit, a nested call)
      rc[0] = data(1);
      rc[1] = weight(1);
    } else {
      rc[omp_get_thread_num()] = omp_get_thread_num() == 0 ? data(1) : weight(1);
    }
  }
  return rc[0] ? rc[0] : rc[1];
}
