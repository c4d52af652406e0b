// Spatial transformer sampling (Jaderberg et al. 2015, "Spatial Transformer Networks"):
// grid_sample (bilinear, nearest, bicubic; zeros, border, reflection padding; align_corners)
// and affine_grid, forward and backward, with PyTorch 1.13 semantics (GridSampler.h/.cuh,
// AffineGridGenerator.cpp): the same float expressions in the same order, so results agree to
// rounding (the compilers may still contract a*b+c into an FMA differently).
//
// Shapes (contiguous NCHW): input [N, C, inH, inW], grid [N, outH, outW, 2] with grid[..., 0] = x
// (width) and grid[..., 1] = y (height) in [-1, 1] (values outside follow the padding mode),
// output [N, C, outH, outW]; theta [N, 2, 3].
//
// Thread mapping: one item per output location (n, h, w) that loops over the channels, so the
// source coordinates and weights are computed once per location; neighbouring items are
// neighbouring w, so output and grid accesses coalesce. The ordered input gradient is one item
// per (n, c) plane instead (see grid_sample_backward_input_ordered).
#include "plugkit/portable.cuh"

// Codes shared with io.plugkit.ops.GridSample (enum ordinals, PyTorch's own numbering).
enum { GRID_SAMPLE_BILINEAR = 0, GRID_SAMPLE_NEAREST = 1, GRID_SAMPLE_BICUBIC = 2 };
enum { GRID_SAMPLE_ZEROS = 0, GRID_SAMPLE_BORDER = 1, GRID_SAMPLE_REFLECTION = 2 };

// [-1, 1] -> pixel units: align_corners maps -1/+1 to the centres of the corner pixels
// (0 .. size-1), otherwise to their outer edges (-0.5 .. size-0.5). mult = d(result)/d(coord).
PK_INLINE float grid_sample_unnormalize(float coord, int size, int alignCorners, float* mult) {
  if (alignCorners) {
    *mult = (float)(size - 1) / 2;
    return ((coord + 1) / 2) * (float)(size - 1);
  }
  *mult = (float)size / 2;
  return ((coord + 1) * (float)size - 1) / 2;
}

// Non-finite grid values (PyTorch 1.13's CPU kernel, GridSamplerKernel.cpp, checked by running it;
// fixtures edge_*): a NaN or infinite source coordinate never becomes an index (the cast would be
// undefined; PyTorch's int32 conversion gives INT_MIN, out of bounds). With zeros padding a
// non-finite coordinate reads nothing, but bilinear and bicubic still multiply the zeros by their
// NaN weights: the output is NaN, and so is each grid gradient that multiplies those weights.
// Border and reflection clip NaN to 0 (reflection turns +-inf into NaN first, border clamps it),
// so those read real pixels; bicubic's NaN coefficients still make its output NaN.

// A float pixel coordinate as an index; NaN, +-inf and anything beyond +-2^30 give an index far
// outside every plane (its +1 neighbour too).
PK_INLINE int64_t grid_sample_index(float f) {
  return fabsf(f) < 1073741824.0f ? (int64_t)f : -((int64_t)1 << 40);
}

// Clamp to [0, size-1] as PyTorch's vectorised clip_coordinates, clamp_max(size-1, clamp_min(0, in)),
// which maps NaN to 0 (std::min/std::max, as in GridSampler.h, would give size-1).
// The gradient is 0 on the borders themselves (PyTorch counts them as out of bounds) and for NaN.
PK_INLINE float grid_sample_clip(float in, int size, float* mult) {
  float hi = (float)(size - 1);
  *mult = (in > 0 && in < hi) ? 1.0f : 0.0f;
  float lo = in > 0 ? in : 0.0f;
  return lo < hi ? lo : hi;
}

// Reflect into [twiceLow/2, twiceHigh/2] (bounds passed doubled so that -0.5 is exact):
// -1..2*size-1 reflects about the pixel edges, 0..2*(size-1) (align_corners) about the centres.
// mult is +1 or -1, the sign of the reflection; a single-pixel span reflects everything to 0.
PK_INLINE float grid_sample_reflect(float in, int twiceLow, int twiceHigh, float* mult) {
  if (twiceLow == twiceHigh) {
    *mult = 0.0f;
    return 0.0f;
  }
  if (!(fabsf(in) < INFINITY)) {  // NaN and +-inf reflect to NaN (fmod(inf) is NaN), which the clip maps to 0
    *mult = 0.0f;
    return NAN;
  }
  float min = (float)twiceLow / 2;
  float span = (float)(twiceHigh - twiceLow) / 2;
  float sign = 1.0f;
  in = in - min;
  if (in < 0) {
    sign = -1.0f;
    in = -in;
  }
  float extra = fmodf(in, span);
  // The parity of the flips, in float: beyond 2^24 every float is even, and no int64 cast overflows.
  if (fmodf(floorf(in / span), 2.0f) == 0.0f) {
    *mult = sign;
    return extra + min;
  }
  *mult = -sign;
  return span - extra + min;
}

// PyTorch's compute_coordinates: the padding mode applied to a pixel-unit coordinate.
PK_INLINE float grid_sample_pad(float coord, int size, int paddingMode, int alignCorners, float* mult) {
  float clipMult = 1.0f;
  float reflectMult = 1.0f;
  if (paddingMode == GRID_SAMPLE_BORDER) {
    coord = grid_sample_clip(coord, size, &clipMult);
  } else if (paddingMode == GRID_SAMPLE_REFLECTION) {
    coord = alignCorners ? grid_sample_reflect(coord, 0, 2 * (size - 1), &reflectMult)
                         : grid_sample_reflect(coord, -1, 2 * size - 1, &reflectMult);
    coord = grid_sample_clip(coord, size, &clipMult);
  }
  *mult = reflectMult * clipMult;
  return coord;
}

// grid_sampler_compute_source_index(_set_grad): unnormalize then pad (bilinear and nearest).
PK_INLINE float grid_sample_source(float coord, int size, int paddingMode, int alignCorners, float* mult) {
  float unnormalizeMult;
  float padMult;
  coord = grid_sample_unnormalize(coord, size, alignCorners, &unnormalizeMult);
  coord = grid_sample_pad(coord, size, paddingMode, alignCorners, &padMult);
  *mult = unnormalizeMult * padMult;
  return coord;
}

PK_INLINE int grid_sample_inside(int64_t y, int64_t x, int inH, int inW) {
  return y >= 0 && y < inH && x >= 0 && x < inW;
}

// Bicubic taps (get_value_bounded / add_value_bounded): the padding applies to each of the 16
// taps separately, then the coordinate truncates to a pixel index. Returns the offset in the
// plane, or -1 when the tap falls outside (zeros padding).
PK_INLINE int64_t grid_sample_tap(float x, float y, int inH, int inW, int paddingMode, int alignCorners) {
  float unused;
  int64_t ix = grid_sample_index(grid_sample_pad(x, inW, paddingMode, alignCorners, &unused));
  int64_t iy = grid_sample_index(grid_sample_pad(y, inH, paddingMode, alignCorners, &unused));
  return grid_sample_inside(iy, ix, inH, inW) ? iy * inW + ix : -1;
}

// Keys' cubic convolution with A = -0.75 (PyTorch's get_cubic_upsample_coefficients): weights of
// the taps at -1, 0, 1, 2 for a fraction t in [0, 1).
PK_INLINE float grid_sample_cubic_near(float x, float a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
PK_INLINE float grid_sample_cubic_far(float x, float a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

PK_INLINE void grid_sample_cubic_coeffs(float c[4], float t) {
  const float a = -0.75f;
  c[0] = grid_sample_cubic_far(t + 1.0f, a);
  c[1] = grid_sample_cubic_near(t, a);
  c[2] = grid_sample_cubic_near(1.0f - t, a);
  c[3] = grid_sample_cubic_far(1.0f - t + 1.0f, a);
}

// d(coefficient)/d(x) with x the signed distance tap - t, as PyTorch's get_cubic_coefficients_grad;
// the grid gradient subtracts it.
PK_INLINE void grid_sample_cubic_coeffs_grad(float c[4], float t) {
  const float a = -0.75f;
  float x = -1 - t;
  c[0] = (-3 * a * x - 10 * a) * x - 8 * a;
  x = -t;
  c[1] = (-3 * (a + 2) * x - 2 * (a + 3)) * x;
  x = 1 - t;
  c[2] = (3 * (a + 2) * x - 2 * (a + 3)) * x;
  x = 2 - t;
  c[3] = (3 * a * x - 10 * a) * x + 8 * a;
}

PK_INLINE float grid_sample_cubic_interp(float v0, float v1, float v2, float v3, const float c[4]) {
  return v0 * c[0] + v1 * c[1] + v2 * c[2] + v3 * c[3];
}

PK_INLINE float grid_sample_read(const float* plane, int64_t offset) { return offset < 0 ? 0.0f : plane[offset]; }

// One item per output location; writes every channel of that location.
PK_KERNEL void grid_sample_forward(int64_t n, const float* input, const float* grid, float* output, int channels,
                                   int inH, int inW, int outH, int outW, int mode, int paddingMode, int alignCorners) {
  PK_FOR(i, n) {
    int64_t outPlane = (int64_t)outH * outW;
    int64_t inPlane = (int64_t)inH * inW;
    int64_t b = i / outPlane;
    const float* in = input + b * channels * inPlane;
    float* out = output + b * channels * outPlane + i % outPlane;
    float x = grid[2 * i];
    float y = grid[2 * i + 1];
    float unused;
    if (mode == GRID_SAMPLE_BICUBIC) {
      float ix = grid_sample_unnormalize(x, inW, alignCorners, &unused);
      float iy = grid_sample_unnormalize(y, inH, alignCorners, &unused);
      float ixNw = floorf(ix);
      float iyNw = floorf(iy);
      float cx[4];
      float cy[4];
      grid_sample_cubic_coeffs(cx, ix - ixNw);
      grid_sample_cubic_coeffs(cy, iy - iyNw);
      int64_t taps[16];
      for (int r = 0; r < 4; ++r) {
        for (int k = 0; k < 4; ++k) {
          taps[r * 4 + k] = grid_sample_tap(ixNw - 1 + k, iyNw - 1 + r, inH, inW, paddingMode, alignCorners);
        }
      }
      for (int c = 0; c < channels; ++c, in += inPlane, out += outPlane) {
        float rows[4];
        for (int r = 0; r < 4; ++r) {
          const int64_t* t = taps + r * 4;
          rows[r] = grid_sample_cubic_interp(grid_sample_read(in, t[0]), grid_sample_read(in, t[1]),
                                             grid_sample_read(in, t[2]), grid_sample_read(in, t[3]), cx);
        }
        *out = grid_sample_cubic_interp(rows[0], rows[1], rows[2], rows[3], cy);
      }
      continue;
    }
    float ix = grid_sample_source(x, inW, paddingMode, alignCorners, &unused);
    float iy = grid_sample_source(y, inH, paddingMode, alignCorners, &unused);
    if (mode == GRID_SAMPLE_NEAREST) {
      // nearbyint: round half to even, as PyTorch.
      int64_t xn = grid_sample_index(nearbyintf(ix));
      int64_t yn = grid_sample_index(nearbyintf(iy));
      int64_t at = grid_sample_inside(yn, xn, inH, inW) ? yn * inW + xn : -1;
      for (int c = 0; c < channels; ++c, in += inPlane, out += outPlane) *out = grid_sample_read(in, at);
      continue;
    }
    float x0f = floorf(ix);
    float y0f = floorf(iy);
    int64_t x0 = grid_sample_index(x0f);
    int64_t y0 = grid_sample_index(y0f);
    float nw = ((x0f + 1.0f) - ix) * ((y0f + 1.0f) - iy);
    float ne = (ix - x0f) * ((y0f + 1.0f) - iy);
    float sw = ((x0f + 1.0f) - ix) * (iy - y0f);
    float se = (ix - x0f) * (iy - y0f);
    int64_t oNw = grid_sample_inside(y0, x0, inH, inW) ? y0 * inW + x0 : -1;
    int64_t oNe = grid_sample_inside(y0, x0 + 1, inH, inW) ? y0 * inW + x0 + 1 : -1;
    int64_t oSw = grid_sample_inside(y0 + 1, x0, inH, inW) ? (y0 + 1) * inW + x0 : -1;
    int64_t oSe = grid_sample_inside(y0 + 1, x0 + 1, inH, inW) ? (y0 + 1) * inW + x0 + 1 : -1;
    for (int c = 0; c < channels; ++c, in += inPlane, out += outPlane) {
      // A tap outside reads 0 and still meets its weight, as in PyTorch: NaN weights give NaN.
      *out = grid_sample_read(in, oNw) * nw + grid_sample_read(in, oNe) * ne + grid_sample_read(in, oSw) * sw +
             grid_sample_read(in, oSe) * se;
    }
  }
}

PK_INLINE void grid_sample_add(float* plane, int64_t offset, float v, int atomic) {
  if (offset < 0) return;
  if (atomic) pk_atomic_add(plane + offset, v);
  else plane[offset] += v;
}

// The backward of one output location over `channels` planes starting at the given pointers
// (planes inPlane / outPlane floats apart). Adds to gradInput when it is not null (atomically
// when `atomic`); writes the two grid gradients to gradGrid when it is not null (only then is
// `in` read, so the ordered kernel passes none).
PK_INLINE void grid_sample_backward_point(const float* gradOut, const float* in, float* gradInput, float* gradGrid,
                                          float x, float y, int channels, int64_t inPlane, int64_t outPlane,
                                          int inH, int inW, int mode, int paddingMode, int alignCorners, int atomic) {
  float gx = 0.0f;
  float gy = 0.0f;
  float xMult;
  float yMult;
  if (mode == GRID_SAMPLE_BICUBIC) {
    float ix = grid_sample_unnormalize(x, inW, alignCorners, &xMult);
    float iy = grid_sample_unnormalize(y, inH, alignCorners, &yMult);
    float ixNw = floorf(ix);
    float iyNw = floorf(iy);
    float tx = ix - ixNw;
    float ty = iy - iyNw;
    float cx[4];
    float cy[4];
    float cxGrad[4];
    float cyGrad[4];
    grid_sample_cubic_coeffs(cx, tx);
    grid_sample_cubic_coeffs(cy, ty);
    grid_sample_cubic_coeffs_grad(cxGrad, tx);
    grid_sample_cubic_coeffs_grad(cyGrad, ty);
    int64_t taps[16];
    for (int k = 0; k < 4; ++k) {
      for (int r = 0; r < 4; ++r) {
        taps[k * 4 + r] = grid_sample_tap(ixNw - 1 + k, iyNw - 1 + r, inH, inW, paddingMode, alignCorners);
      }
    }
    for (int c = 0; c < channels; ++c) {
      float g = gradOut[c * outPlane];
      for (int k = 0; k < 4; ++k) {
        for (int r = 0; r < 4; ++r) {
          int64_t t = taps[k * 4 + r];
          if (gradInput) grid_sample_add(gradInput + c * inPlane, t, g * cx[k] * cy[r], atomic);
          if (gradGrid) {
            float v = grid_sample_read(in + c * inPlane, t);
            gx -= v * cxGrad[k] * cy[r] * g;
            gy -= v * cyGrad[r] * cx[k] * g;
          }
        }
      }
    }
  } else {
    float ix = grid_sample_source(x, inW, paddingMode, alignCorners, &xMult);
    float iy = grid_sample_source(y, inH, paddingMode, alignCorners, &yMult);
    if (mode == GRID_SAMPLE_NEAREST) {
      // PyTorch defines the grid gradient of nearest sampling as zero.
      int64_t xn = grid_sample_index(nearbyintf(ix));
      int64_t yn = grid_sample_index(nearbyintf(iy));
      int64_t at = grid_sample_inside(yn, xn, inH, inW) ? yn * inW + xn : -1;
      if (gradInput) {
        for (int c = 0; c < channels; ++c) grid_sample_add(gradInput + c * inPlane, at, gradOut[c * outPlane], atomic);
      }
      xMult = 0.0f;
      yMult = 0.0f;
    } else {
      float x0f = floorf(ix);
      float y0f = floorf(iy);
      float x1f = x0f + 1.0f;
      float y1f = y0f + 1.0f;
      int64_t x0 = grid_sample_index(x0f);
      int64_t y0 = grid_sample_index(y0f);
      float nw = (x1f - ix) * (y1f - iy);
      float ne = (ix - x0f) * (y1f - iy);
      float sw = (x1f - ix) * (iy - y0f);
      float se = (ix - x0f) * (iy - y0f);
      int64_t oNw = grid_sample_inside(y0, x0, inH, inW) ? y0 * inW + x0 : -1;
      int64_t oNe = grid_sample_inside(y0, x0 + 1, inH, inW) ? y0 * inW + x0 + 1 : -1;
      int64_t oSw = grid_sample_inside(y0 + 1, x0, inH, inW) ? (y0 + 1) * inW + x0 : -1;
      int64_t oSe = grid_sample_inside(y0 + 1, x0 + 1, inH, inW) ? (y0 + 1) * inW + x0 + 1 : -1;
      for (int c = 0; c < channels; ++c) {
        float g = gradOut[c * outPlane];
        if (gradInput) {
          float* p = gradInput + c * inPlane;
          grid_sample_add(p, oNw, nw * g, atomic);
          grid_sample_add(p, oNe, ne * g, atomic);
          grid_sample_add(p, oSw, sw * g, atomic);
          grid_sample_add(p, oSe, se * g, atomic);
        }
        if (gradGrid) {
          // Taps outside read 0 but still meet their weights (NaN weights give NaN, as in PyTorch).
          const float* plane = in + c * inPlane;
          float v = grid_sample_read(plane, oNw);
          gx -= v * (y1f - iy) * g;
          gy -= v * (x1f - ix) * g;
          v = grid_sample_read(plane, oNe);
          gx += v * (y1f - iy) * g;
          gy -= v * (ix - x0f) * g;
          v = grid_sample_read(plane, oSw);
          gx -= v * (iy - y0f) * g;
          gy += v * (x1f - ix) * g;
          v = grid_sample_read(plane, oSe);
          gx += v * (iy - y0f) * g;
          gy += v * (ix - x0f) * g;
        }
      }
    }
  }
  if (gradGrid) {
    gradGrid[0] = xMult * gx;
    gradGrid[1] = yMult * gy;
  }
}

// Channels per host work item of the input gradient: enough items for the cores when the batch
// is small, few enough that the coordinate recomputation per block stays cheap.
#define GRID_SAMPLE_HOST_CHANNELS 8

// GPU: one item per output location, all channels: the grid gradient (when computeGrid) and, when
// computeInput, the input gradient. gradInput must be zeroed first. Several locations sample the
// same input pixel, so the input gradient is a scatter from concurrent items: pk_atomic_add
// makes it race-free, but float addition in arrival order is not reproducible bit for bit.
PK_KERNEL void grid_sample_backward(int64_t n, const float* gradOutput, const float* input, const float* grid,
                                    float* gradInput, float* gradGrid, int channels, int inH, int inW, int outH,
                                    int outW, int mode, int paddingMode, int alignCorners, int computeInput,
                                    int computeGrid) {
  const int64_t outPlane = (int64_t)outH * outW;
  const int64_t inPlane = (int64_t)inH * inW;
#if PK_GPU
  PK_FOR(i, n) {
    int64_t b = i / outPlane;
    grid_sample_backward_point(gradOutput + b * channels * outPlane + i % outPlane, input + b * channels * inPlane,
                               computeInput ? gradInput + b * channels * inPlane : 0,
                               computeGrid ? gradGrid + 2 * i : 0, grid[2 * i], grid[2 * i + 1], channels, inPlane,
                               outPlane, inH, inW, mode, paddingMode, alignCorners, 1);
  }
#else
  // Host: atomics on the CPU are compare-and-swap loops that cost more than the sampling, so
  // the two gradients take separate passes without them. The grid gradient needs every channel
  // of a location: one item per location. The input gradient: one item per (image, block of
  // GRID_SAMPLE_HOST_CHANNELS channels) visits the image's locations in order and alone writes
  // its planes; the coordinates are recomputed once per block, a small price.
  if (computeGrid) {
    PK_FOR_WORK(i, n, channels) {
      int64_t b = i / outPlane;
      grid_sample_backward_point(gradOutput + b * channels * outPlane + i % outPlane, input + b * channels * inPlane,
                                 0, gradGrid + 2 * i, grid[2 * i], grid[2 * i + 1], channels, inPlane, outPlane, inH,
                                 inW, mode, paddingMode, alignCorners, 0);
    }
  }
  if (computeInput) {
    const int64_t blocks = (channels + GRID_SAMPLE_HOST_CHANNELS - 1) / GRID_SAMPLE_HOST_CHANNELS;
    PK_FOR_WORK(j, n / outPlane * blocks, outPlane * GRID_SAMPLE_HOST_CHANNELS) {
      const int64_t b = j / blocks;
      const int64_t c0 = (j % blocks) * GRID_SAMPLE_HOST_CHANNELS;
      const int count = (int)(channels - c0 < GRID_SAMPLE_HOST_CHANNELS ? channels - c0 : GRID_SAMPLE_HOST_CHANNELS);
      const float* g = grid + b * outPlane * 2;
      for (int64_t p = 0; p < outPlane; ++p) {
        grid_sample_backward_point(gradOutput + (b * channels + c0) * outPlane + p, 0,
                                   gradInput + (b * channels + c0) * inPlane, 0, g[2 * p], g[2 * p + 1], count,
                                   inPlane, outPlane, inH, inW, mode, paddingMode, alignCorners, 0);
      }
    }
  }
#endif
}

// The reproducible input gradient: one item per (n, c) plane owns that plane and visits the
// output locations in order, so no atomics and the same bits on every run and thread count.
// The price: only N*C items (little parallelism on a GPU) and the coordinates are recomputed for
// every channel. Overwrites gradInput.
PK_KERNEL void grid_sample_backward_input_ordered(int64_t n, const float* gradOutput, const float* grid,
                                                  float* gradInput, int channels, int inH, int inW, int outH,
                                                  int outW, int mode, int paddingMode, int alignCorners) {
  PK_FOR(i, n) {
    int64_t outPlane = (int64_t)outH * outW;
    int64_t inPlane = (int64_t)inH * inW;
    int64_t b = i / channels;
    float* plane = gradInput + i * inPlane;
    for (int64_t k = 0; k < inPlane; ++k) plane[k] = 0.0f;
    const float* g = grid + b * outPlane * 2;
    for (int64_t p = 0; p < outPlane; ++p) {
      grid_sample_backward_point(gradOutput + i * outPlane + p, 0, plane, 0, g[2 * p], g[2 * p + 1], 1, inPlane,
                                 outPlane, inH, inW, mode, paddingMode, alignCorners, 0);
    }
  }
}

// F.affine_grid's base coordinate: at::linspace(-1, 1, steps) in float (the first half counted
// from -1, the second from +1), scaled by (steps-1)/steps without align_corners; 0 for one step.
PK_INLINE float grid_sample_linspace(int64_t i, int steps, int alignCorners) {
  if (steps <= 1) return 0.0f;
  float step = 2.0f / (float)(steps - 1);
  float v = i < steps / 2 ? -1.0f + step * (float)i : 1.0f - step * (float)(steps - 1 - i);
  return alignCorners ? v : v * (float)(steps - 1) / (float)steps;
}

// One item per grid location (n, h, w): grid = theta[n] @ (x, y, 1).
PK_KERNEL void affine_grid_forward(int64_t n, const float* theta, float* grid, int height, int width,
                                   int alignCorners) {
  PK_FOR(i, n) {
    int64_t w = i % width;
    int64_t h = (i / width) % height;
    const float* t = theta + (i / ((int64_t)width * height)) * 6;
    float x = grid_sample_linspace(w, width, alignCorners);
    float y = grid_sample_linspace(h, height, alignCorners);
    grid[2 * i] = x * t[0] + y * t[1] + t[2];
    grid[2 * i + 1] = x * t[3] + y * t[4] + t[5];
  }
}

// The base grid [height*width, 3] of rows (x, y, 1) that the theta gradient multiplies (a GEMM).
PK_KERNEL void affine_grid_base(int64_t n, float* base, int height, int width, int alignCorners) {
  PK_FOR(i, n) {
    base[3 * i] = grid_sample_linspace(i % width, width, alignCorners);
    base[3 * i + 1] = grid_sample_linspace(i / width, height, alignCorners);
    base[3 * i + 2] = 1.0f;
  }
}
