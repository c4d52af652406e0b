// Strided copy: the one data-movement kernel behind permute, transpose, expand, slice, concat,
// chunk, split and their backwards, and the gather that brings non-adjacent reduced dims
// together before a reduction.
// dst[sum_d c_d * dstStride_d] = src[sum_d c_d * srcStride_d] for every coordinate c of a
// box of up to 6 dims (innermost last). The Java side (StridedLoop) drops size-1 dims, merges
// dims that are contiguous in both operands and pads to 6 with leading size-1 dims; a box of
// more than 6 dims after coalescing is covered by several launches. Sizes and strides travel
// as scalar arguments, so a launch needs no host-to-device upload of metadata.
// Thread mapping: one item per copied value, in row-major order of the box, so the side whose
// innermost stride is 1 is accessed coalesced on the GPU.
#include "plugkit/portable.cuh"

PK_KERNEL void layout_strided_copy(int64_t n, const float* __restrict__ src, float* __restrict__ dst,
                                   int64_t size0, int64_t size1, int64_t size2, int64_t size3,
                                   int64_t size4, int64_t size5,
                                   int64_t srcStride0, int64_t srcStride1, int64_t srcStride2,
                                   int64_t srcStride3, int64_t srcStride4, int64_t srcStride5,
                                   int64_t dstStride0, int64_t dstStride1, int64_t dstStride2,
                                   int64_t dstStride3, int64_t dstStride4, int64_t dstStride5) {
  const int64_t size[6] = {size0, size1, size2, size3, size4, size5};
  const int64_t srcStride[6] = {srcStride0, srcStride1, srcStride2, srcStride3, srcStride4, srcStride5};
  const int64_t dstStride[6] = {dstStride0, dstStride1, dstStride2, dstStride3, dstStride4, dstStride5};
#if PK_GPU
  PK_FOR(i, n) {
    int64_t rest = i, os = 0, od = 0;
    for (int d = 5; d >= 0; --d) {
      // Padding dims have size 1: skipping them is a uniform branch and saves a 64-bit division.
      if (size[d] == 1) continue;
      int64_t c = rest % size[d];
      rest /= size[d];
      os += c * srcStride[d];
      od += c * dstStride[d];
    }
    dst[od] = src[os];
  }
#else
  // Host: one item per innermost row; the divisions run once a row.
  PK_FOR_WORK(r, n / size5, size5) {
    int64_t rest = r, os = 0, od = 0;
    for (int d = 4; d >= 0; --d) {
      if (size[d] == 1) continue;
      int64_t c = rest % size[d];
      rest /= size[d];
      os += c * srcStride[d];
      od += c * dstStride[d];
    }
    float* __restrict__ d = dst + od;
    const float* __restrict__ sr = src + os;
    // The two rows that need no gather: a contiguous copy, and a broadcast value (the backward of
    // sum and mean, expand) filled with vector stores; runtime strides kept both scalar.
    if (dstStride5 == 1 && srcStride5 == 1) {
      memcpy(d, sr, sizeof(float) * size5);
    } else if (dstStride5 == 1 && srcStride5 == 0) {
      const float v = *sr;
      for (int64_t j = 0; j < size5; ++j) d[j] = v;
    } else {
      for (int64_t j = 0; j < size5; ++j) d[j * dstStride5] = sr[j * srcStride5];
    }
  }
#endif
}
