// Kernels with planted bugs, compiled into the emulated device only (never into the fatbin), so
// that EmulatedDeviceTest can show each fault reported as an error instead of a hang or a pass.
#include "plugkit/portable.cuh"

// Thread 0 of each block returns before the barrier its block-mates wait at.
PK_KERNEL void planted_barrier_divergence(int64_t n, float* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[blockIdx.x] = 1.0f;
}

// Lanes 0-15 of the warp shuffle at one site, lanes 16-31 at another.
PK_KERNEL void planted_warp_divergence(int64_t n, float* out) {
  float v = (float)threadIdx.x;
  if (threadIdx.x < 16) {
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  } else {
    v = __shfl_xor_sync(0xffffffffu, v, 2);
  }
  out[threadIdx.x] = v;
}

// Writes each item one float further on: the last write lands past the end of an n-float block.
PK_KERNEL void planted_out_of_bounds_write(int64_t n, float* out) {
  PK_FOR(i, n) { out[i + 1] = (float)i; }
}

// A correct block-cooperative kernel beside them: every block sums 1 over its threads.
PK_KERNEL void planted_none_block_sum(int64_t n, float* out) {
  const float s = pk_block_sum(1.0f);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// Holds its stream until *flag turns non-zero, or n million checks pass (not a fault by itself).
PK_KERNEL void planted_hold(int64_t n, const float* flag) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  for (int64_t i = 0; i < n * 1000000 && *(const volatile float*)flag == 0.0f; ++i) {
  }
}

// Thread 1 fills a local array larger than its fiber's 256 KiB stack: it writes past the bottom.
PK_KERNEL void planted_stack_overflow(int64_t n, float* out) {
  if (threadIdx.x == 0) return;  // runs first and is done before thread 1 overruns into its stack
  volatile char big[260 * 1024];
  for (size_t i = 0; i < sizeof(big); i += 64) big[i] = 1;
  out[0] = big[0];
}
