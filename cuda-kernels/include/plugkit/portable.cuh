// One source, two targets. Every kernel file includes this header and is compiled twice:
//   nvcc -> plugkit.fatbin   (PK_KERNEL = extern "C" __global__, PK_FOR = grid-stride loop)
//   g++  -> libplugkit_host  (PK_KERNEL = exported extern "C" function, PK_FOR = OpenMP loop)
// and, for tests, a third time: g++ with PK_EMULATED_CUDA -> the emulated CUDA device, the GPU
// branches against native/emulated-cuda/emulated_cuda.cuh.
// Every kernel's first parameter is `int64_t n`, the number of work items; the Java launcher
// passes it on both targets so the signatures are identical.
#pragma once
#include <stdint.h>

#if defined(__CUDACC__) || defined(PK_EMULATED_CUDA)
  #ifndef __CUDACC__
    #include "emulated_cuda.cuh"
  #endif
  #define PK_GPU 1
  #define PK_KERNEL extern "C" __global__
  #define PK_INLINE __device__ __forceinline__
  // Grid-stride loop: the launcher caps the grid, so any n is covered.
  #define PK_FOR(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (int64_t)(n); \
         i += (int64_t)blockDim.x * gridDim.x)
  #define PK_FOR_WORK(i, n, work) PK_FOR(i, n)
  #define PK_FOR_ROWS(row, col, rows, cols) \
    for (int64_t pk_c_ = (int64_t)(cols), pk_i_ = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; \
         pk_i_ < (int64_t)(rows) * pk_c_; pk_i_ += (int64_t)blockDim.x * gridDim.x) \
      for (int64_t row = pk_i_ / pk_c_, col = pk_i_ - row * pk_c_, pk_once_ = 1; pk_once_; pk_once_ = 0)
  PK_INLINE void pk_atomic_add(float* p, float v) { atomicAdd(p, v); }
#else
  #include <math.h>
  #include <string.h>
  #define PK_GPU 0
  #define PK_KERNEL extern "C" __attribute__((visibility("default")))
  #define PK_INLINE static inline
  #define __restrict__ __restrict
  // Below this many items a parallel region costs more than it saves.
  #define PK_PAR_MIN 32768
  // PK_FOR does not nest (one parallel loop per kernel), so fixed helper names are safe.
  #define PK_FOR(i, n) \
    for (int64_t pk_n_ = (int64_t)(n), pk_once_ = 1; pk_once_; pk_once_ = 0) \
      _Pragma("omp parallel for schedule(static) if(pk_n_ > PK_PAR_MIN)") \
      for (int64_t i = 0; i < pk_n_; ++i)
  // For items that each do `work` inner steps (a row, a channel): parallel when the total pays,
  // even for few items, where PK_FOR's item count alone would keep the loop serial.
  #define PK_FOR_WORK(i, n, work) \
    for (int64_t pk_n_ = (int64_t)(n), pk_w_ = pk_n_ * (int64_t)(work), pk_once_ = 1; pk_once_; pk_once_ = 0) \
      _Pragma("omp parallel for schedule(static) if(pk_n_ > 1 && pk_w_ > PK_PAR_MIN)") \
      for (int64_t i = 0; i < pk_n_; ++i)
  // Items laid out as rows x cols (an output row of a plane, say): GPU, one thread per item as
  // PK_FOR; host, a row per iteration with its columns in an inner loop, so what a kernel decodes
  // from `row` (divisions) is hoisted out of the column loop. `continue` skips one item on both.
  #define PK_FOR_ROWS(row, col, rows, cols) \
    for (int64_t pk_r_ = (int64_t)(rows), pk_c_ = (int64_t)(cols), pk_once_ = 1; pk_once_; pk_once_ = 0) \
      _Pragma("omp parallel for schedule(static) if(pk_r_ > 1 && pk_r_ * pk_c_ > PK_PAR_MIN)") \
      for (int64_t row = 0; row < pk_r_; ++row) \
        for (int64_t col = 0; col < pk_c_; ++col)
  PK_INLINE void pk_atomic_add(float* p, float v) {
    #pragma omp atomic
    *p += v;
  }
  // Eight floats as one AVX register (GCC vector extensions), for host loops the auto-vectoriser
  // leaves scalar: a max with NaN flags (it will not turn `v > b ? v : b` into vmaxps by itself),
  // a store fused with a lane-wise reduction (it re-checks aliasing every 8 values).
  typedef float pk_f8 __attribute__((vector_size(32)));
  typedef int pk_i8 __attribute__((vector_size(32)));
  PK_INLINE pk_f8 pk_load8(const float* p) {
    pk_f8 v;
    memcpy(&v, p, sizeof(v));
    return v;
  }
  PK_INLINE void pk_store8(float* p, pk_f8 v) { memcpy(p, &v, sizeof(v)); }
#endif

// The outputs [lo, hi) of a row of outW whose input column w0 + ow * stride lies inside
// [0, width) (lo == hi: none), so a loop over them needs no bounds test per value.
PK_INLINE void pk_inside_range(int64_t w0, int stride, int width, int outW, int* lo, int* hi) {
  const int64_t first = w0 >= 0 ? 0 : (-w0 + stride - 1) / stride;
  const int64_t end = w0 >= width ? 0 : (width - w0 + stride - 1) / stride;
  *lo = (int)(first < outW ? first : outW);
  *hi = (int)(end < outW ? end : outW);
  if (*hi < *lo) *hi = *lo;
}

#if PK_GPU
// Sum of v over the block, returned to every thread. blockDim.x must be a multiple of 32 (at most
// 1024): warp shuffles first, then one warp sums the warp totals.
__device__ __forceinline__ float pk_block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  __syncthreads();  // a previous call may still be reading partial[0]
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}
#endif

PK_INLINE float pk_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
