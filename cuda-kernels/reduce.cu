// Sum and mean over one block of adjacent dims: x viewed as [outer, reduce, inner],
// y[o, i] = (sum_r x[o, r, i]) / divisor (divisor 1 for sum, the reduced count for mean, so an
// empty mean is 0/0 = NaN as in PyTorch). Reduced dims that are not adjacent are gathered
// together by a strided copy on the Java side first.
// Accumulation: double on the host (free there: the loop is memory bound), float on the GPU
// (double is slow on consumer GPUs); the block kernel adds in a tree, which keeps float error low.
#include "plugkit/portable.cuh"

#if PK_GPU
typedef float reduce_acc_t;
#else
typedef double reduce_acc_t;
#endif

// inner > 1 (or short rows): one item per output value (o, i); neighbouring items read
// neighbouring addresses, so the loads are coalesced on the GPU.
PK_KERNEL void reduce_sum(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t reduce,
                          int64_t inner, float divisor) {
  PK_FOR_WORK(i, n, reduce) {
    int64_t o = i / inner;
    const float* p = x + o * reduce * inner + i % inner;
    reduce_acc_t acc = 0;
    for (int64_t r = 0; r < reduce; ++r) acc += p[r * inner];
    y[i] = (float)(acc / divisor);
  }
}

// inner == 1 with long rows (sum of everything, last-dim sums): one block of REDUCE_BLOCK
// threads per row, n = rows. 256 threads = 8 warps: enough loads in flight to
// stream a row, few enough partials for a one-warp final pass.
#define REDUCE_BLOCK 256

#if PK_GPU
PK_KERNEL void reduce_sum_rows(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t reduce,
                               float divisor) {
  __shared__ float partial[REDUCE_BLOCK / 32];
  const int64_t rows = n;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  // The launcher may cap the grid, so blocks stride over rows.
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* p = x + row * reduce;
    float acc = 0.0f;
    for (int64_t r = threadIdx.x; r < reduce; r += REDUCE_BLOCK) acc += p[r];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < REDUCE_BLOCK / 32 ? partial[lane] : 0.0f;
      for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
      if (lane == 0) y[row] = acc / divisor;
    }
    // partial is reused by the next row of this block.
    __syncthreads();
  }
}
#else
// Host variant: one item per row, summed in double in 8 independent lanes so the compiler
// vectorizes it (a single double chain is latency-bound).
PK_KERNEL void reduce_sum_rows(int64_t n, const float* __restrict__ x, float* __restrict__ y, int64_t reduce,
                               float divisor) {
  PK_FOR_WORK(row, n, reduce) {
    const float* p = x + row * reduce;
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double acc = 0;
    int64_t r = 0;
    for (; r + 8 <= reduce; r += 8) {
      for (int j = 0; j < 8; ++j) lanes[j] += p[r + j];
    }
    for (; r < reduce; ++r) acc += p[r];
    for (int j = 0; j < 8; ++j) acc += lanes[j];
    y[row] = (float)(acc / divisor);
  }
}
#endif
