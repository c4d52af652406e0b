// The CUDA execution model on the CPU, for the emulated device (test only). With
// PK_EMULATED_CUDA defined, portable.cuh selects the GPU branches of cuda-kernels/ (PK_GPU = 1)
// and g++ compiles them against this header instead of nvcc's: every thread of a block runs as a
// fiber (runtime.cpp), __syncthreads is a block barrier, warp shuffles wait for all lanes of the
// mask, __shared__ variables are one per block, atomics are real atomics (blocks run on several
// OS threads at once). A barrier or shuffle that not every thread reaches is reported as a
// launch failure, never a hang. It proves the kernels' logic, not their speed or memory model.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct uint3 {
  unsigned x, y, z;
};
typedef uint3 dim3;

namespace pkemu {
// The running fiber's coordinates, set by the block scheduler before it resumes a fiber. A block
// runs wholly on one OS thread, so thread_local is per block here.
extern thread_local uint3 threadIdx_;
extern thread_local uint3 blockIdx_;
extern thread_local uint3 blockDim_;
extern thread_local uint3 gridDim_;

void syncthreads(const char* file, int line);
enum ShuffleMode { SHFL_DOWN, SHFL_UP, SHFL_XOR, SHFL_IDX };
uint64_t shuffle(unsigned mask, uint64_t bits, ShuffleMode mode, int arg, int width, const char* file, int line);

template <typename T>
inline T shuffle_value(unsigned mask, T v, ShuffleMode mode, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "CUDA shuffles move 32- and 64-bit values");
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  bits = shuffle(mask, bits, mode, arg, width, file, line);
  memcpy(&v, &bits, sizeof(T));
  return v;
}

template <typename T>
inline T atomic_add(T* p, T v) {
  T old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  T sum = old + v;
  while (!__atomic_compare_exchange(p, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) sum = old + v;
  return old;
}

}  // namespace pkemu

#define threadIdx (pkemu::threadIdx_)
#define blockIdx (pkemu::blockIdx_)
#define blockDim (pkemu::blockDim_)
#define gridDim (pkemu::gridDim_)
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// One copy per OS thread = one per block (a block never leaves its OS thread).
#define __shared__ static thread_local

#define __syncthreads() pkemu::syncthreads(__FILE__, __LINE__)
#define __shfl_down_sync(mask, v, delta, ...) \
  pkemu::shuffle_value(mask, v, pkemu::SHFL_DOWN, delta, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __shfl_up_sync(mask, v, delta, ...) \
  pkemu::shuffle_value(mask, v, pkemu::SHFL_UP, delta, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, laneMask, ...) \
  pkemu::shuffle_value(mask, v, pkemu::SHFL_XOR, laneMask, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)
#define __shfl_sync(mask, v, srcLane, ...) \
  pkemu::shuffle_value(mask, v, pkemu::SHFL_IDX, srcLane, (__VA_ARGS__ + 0) ? (__VA_ARGS__ + 0) : 32, __FILE__, __LINE__)

inline float atomicAdd(float* p, float v) { return pkemu::atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return pkemu::atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return pkemu::atomic_add(p, v); }

// CUDA's device overloads of min and max.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
