// 2-D padding of the last two dims, forward and backward, as torch.nn.functional.pad (PyTorch
// 1.13, CPU: constant_pad_nd, ReflectionPad.cpp, ReplicationPadding.cpp, _pad_circular) with a
// pad of (padLeft, padRight, padTop, padBottom). Negative pads crop.
// Shapes: x, dx [planes, height, width]; y, dy [planes, outH, outW] with
// outH = height + padTop + padBottom, outW = width + padLeft + padRight (planes = N * C).
// Modes (PAD2D_* below), per dim, for output index j of an input of size S with pads p (low)
// and q (high), c = j - p:
//   constant   x[c] when 0 <= c < S, else value;
//   reflect    c mirrored about 0 and S - 1 (|p|, |q| < S, so once is enough), as
//              PyTorch, about the ORIGINAL edges even when the other side crops;
//   replicate  clamp(c, 0, S - 1);
//   circular   as PyTorch's _pad_circular: the negative pads crop first, then the crop
//              (lo = max(-p, 0), size Sc = S - max(-p, 0) - max(-q, 0)) wraps with the positive
//              ones; the Java side ensures every positive pad <= Sc.
// Thread mapping: forward, one item per output value (host: one per output row, the row's
// source found once). Backward, one item per INPUT value that gathers the output values that
// read it: per dim at most three runs of outputs (reflect and circular: up to three single
// positions; replicate: one run that covers a whole border at an edge), visited in ascending
// order, so the sum has PyTorch CPU's order and no atomics are needed; every dx value is
// written once, padding the crop region with zeros.
#include "plugkit/portable.cuh"
#if !PK_GPU
#include <stdlib.h>
#endif

#define PAD2D_CONSTANT 0
#define PAD2D_REFLECT 1
#define PAD2D_REPLICATE 2
#define PAD2D_CIRCULAR 3

// The input index output j reads along one dim, or -1 (constant mode, outside the input).
PK_INLINE int64_t pad2d_source(int64_t j, int size, int padLo, int padHi, int mode) {
  if (mode == PAD2D_CIRCULAR) {
    const int64_t lo = padLo < 0 ? -(int64_t)padLo : 0;
    const int64_t crop = size - lo - (padHi < 0 ? -(int64_t)padHi : 0);
    int64_t c = (j - (padLo > 0 ? padLo : 0)) % crop;
    return lo + (c < 0 ? c + crop : c);
  }
  int64_t c = j - padLo;
  if (mode == PAD2D_CONSTANT) return c >= 0 && c < size ? c : -1;
  if (mode == PAD2D_REPLICATE) return c < 0 ? 0 : (c >= size ? size - 1 : c);
  if (c < 0) c = -c;                          // reflect
  if (c >= size) c = 2 * (int64_t)(size - 1) - c;
  return c;
}

// The run of outputs [*from, *to) along one dim that read the input in order: output j reads
// j + *shift there (pad2d_source's value, found without it), so a row copies it in one go.
PK_INLINE void pad2d_straight_run(int size, int padLo, int padHi, int out, int mode, int64_t* from, int64_t* to,
                                  int64_t* shift) {
  const int64_t start = padLo > 0 ? padLo : 0;
  int64_t len = size;
  *shift = -(int64_t)padLo;
  if (mode == PAD2D_CIRCULAR) {  // the crop, unwrapped, after the positive low pad
    const int64_t lo = padLo < 0 ? -(int64_t)padLo : 0;
    len = size - lo - (padHi < 0 ? -(int64_t)padHi : 0);
    *shift = lo - start;
  } else if (padLo < 0) {
    len = size + padLo;  // the cropped-off inputs read by no output
  }
  int64_t end = start + (len > 0 ? len : 0);
  *from = start < out ? start : out;
  *to = end < out ? end : out;
}

// The outputs that read input index i along one dim, as up to three ascending runs
// [from[k], to[k]) of output indices within [0, out); returns how many.
PK_INLINE int pad2d_readers(int64_t i, int size, int padLo, int padHi, int out, int mode, int64_t* from,
                            int64_t* to) {
  int64_t at[3];
  int count = 0;
  if (mode == PAD2D_REPLICATE) {
    int64_t a = i == 0 ? 0 : i + padLo;
    int64_t b = i == size - 1 ? (int64_t)out : i + padLo + 1;
    if (a < 0) a = 0;
    if (b > out) b = out;
    if (a >= b) return 0;
    from[0] = a;
    to[0] = b;
    return 1;
  }
  if (mode == PAD2D_CONSTANT) {
    at[count++] = i + padLo;
  } else if (mode == PAD2D_REFLECT) {
    if (i > 0) at[count++] = -i + padLo;
    at[count++] = i + padLo;
    if (i < size - 1) at[count++] = 2 * (int64_t)(size - 1) - i + padLo;
  } else {  // circular: i inside the crop, at its wrapped positions
    const int64_t lo = padLo < 0 ? -(int64_t)padLo : 0;
    const int64_t crop = size - lo - (padHi < 0 ? -(int64_t)padHi : 0);
    if (i < lo || i >= lo + crop) return 0;
    const int64_t j = i - lo + (padLo > 0 ? padLo : 0);
    at[count++] = j - crop;
    at[count++] = j;
    at[count++] = j + crop;
  }
  int runs = 0;
  for (int k = 0; k < count; ++k) {
    if (at[k] >= 0 && at[k] < out) {
      from[runs] = at[k];
      to[runs] = at[k] + 1;
      ++runs;
    }
  }
  return runs;
}

PK_KERNEL void pad2d_forward(int64_t n, const float* __restrict__ x, float* __restrict__ y, int height, int width,
                             int outH, int outW, int padLeft, int padRight, int padTop, int padBottom, int mode,
                             float value) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t ow = i % outW;
    const int64_t oh = (i / outW) % outH;
    const int64_t plane = i / ((int64_t)outW * outH);
    const int64_t h = pad2d_source(oh, height, padTop, padBottom, mode);
    const int64_t w = pad2d_source(ow, width, padLeft, padRight, mode);
    y[i] = h < 0 || w < 0 ? value : x[(plane * height + h) * width + w];
  }
#else
  // Host: one item per output row; its source row is found once.
  int64_t runFrom, runTo, runShift;
  pad2d_straight_run(width, padLeft, padRight, outW, mode, &runFrom, &runTo, &runShift);
  PK_FOR_WORK(r, n / outW, outW) {
    const int64_t oh = r % outH;
    const int64_t plane = r / outH;
    const int64_t h = pad2d_source(oh, height, padTop, padBottom, mode);
    float* row = y + r * outW;
    if (h < 0) {
      for (int64_t ow = 0; ow < outW; ++ow) row[ow] = value;
      continue;
    }
    const float* src = x + (plane * height + h) * width;
    // The straight run is a plain copy (vectorised); only the borders look their source up.
    for (int64_t ow = 0; ow < runFrom; ++ow) {
      const int64_t w = pad2d_source(ow, width, padLeft, padRight, mode);
      row[ow] = w < 0 ? value : src[w];
    }
    const float* run = src + runShift;
    for (int64_t ow = runFrom; ow < runTo; ++ow) row[ow] = run[ow];
    for (int64_t ow = runTo; ow < outW; ++ow) {
      const int64_t w = pad2d_source(ow, width, padLeft, padRight, mode);
      row[ow] = w < 0 ? value : src[w];
    }
  }
#endif
}

// The sum of dy over the output rectangles [rowFrom[a], rowTo[a]) x [colFrom[b], colTo[b]) that read
// one input value, in output order (PyTorch CPU's).
PK_INLINE float pad2d_gather(const float* dyp, int outW, int rows, const int64_t* rowFrom, const int64_t* rowTo,
                             int cols, const int64_t* colFrom, const int64_t* colTo) {
  float sum = 0.0f;
  for (int a = 0; a < rows; ++a)
    for (int64_t oh = rowFrom[a]; oh < rowTo[a]; ++oh)
      for (int b = 0; b < cols; ++b)
        for (int64_t ow = colFrom[b]; ow < colTo[b]; ++ow) sum += dyp[oh * outW + ow];
  return sum;
}

// dx = the gradient of x for dy; every dx value is written (no zeroing needed).
PK_KERNEL void pad2d_backward(int64_t n, const float* __restrict__ dy, float* __restrict__ dx, int height,
                              int width, int outH, int outW, int padLeft, int padRight, int padTop, int padBottom,
                              int mode) {
#if PK_GPU
  PK_FOR(i, n) {
    const int64_t w = i % width;
    const int64_t h = (i / width) % height;
    const int64_t plane = i / ((int64_t)width * height);
    int64_t rowFrom[3], rowTo[3], colFrom[3], colTo[3];
    const int rows = pad2d_readers(h, height, padTop, padBottom, outH, mode, rowFrom, rowTo);
    const int cols = pad2d_readers(w, width, padLeft, padRight, outW, mode, colFrom, colTo);
    const float* dyp = dy + plane * outH * outW;
    dx[i] = pad2d_gather(dyp, outW, rows, rowFrom, rowTo, cols, colFrom, colTo);
  }
#else
  // Host: one item per input row; the columns' readers are found once per call, the row's once
  // per row.
  int64_t* colRuns = (int64_t*)malloc(sizeof(int64_t) * 6 * width);
  int* colCount = (int*)malloc(sizeof(int) * width);
  for (int64_t w = 0; w < width; ++w) {
    colCount[w] = pad2d_readers(w, width, padLeft, padRight, outW, mode, colRuns + 6 * w, colRuns + 6 * w + 3);
  }
  PK_FOR_WORK(r, n / width, width) {
    const int64_t h = r % height;
    const int64_t plane = r / height;
    int64_t rowFrom[3], rowTo[3];
    const int rows = pad2d_readers(h, height, padTop, padBottom, outH, mode, rowFrom, rowTo);
    const float* dyp = dy + plane * outH * outW;
    float* row = dx + r * width;
    if (rows == 1 && rowTo[0] - rowFrom[0] == 1) {
      // One output row reads this input row (all but replicate's edge rows and reflect's and
      // circular's mirrored ones): a value read once is 0 + that one value, pad2d_gather's sum.
      const float* dyr = dyp + rowFrom[0] * outW;
      for (int64_t w = 0; w < width; ++w) {
        const int64_t* c = colRuns + 6 * w;
        row[w] = colCount[w] == 1 && c[3] - c[0] == 1 ? 0.0f + dyr[c[0]]
                                                     : pad2d_gather(dyp, outW, rows, rowFrom, rowTo, colCount[w], c, c + 3);
      }
      continue;
    }
    for (int64_t w = 0; w < width; ++w) {
      const int64_t* c = colRuns + 6 * w;
      row[w] = pad2d_gather(dyp, outW, rows, rowFrom, rowTo, colCount[w], c, c + 3);
    }
  }
  free(colRuns);
  free(colCount);
#endif
}
