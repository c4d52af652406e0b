// What the pieces of the emulated CUDA device share: the kernel registry (kernels.cpp), the block
// scheduler (blocks.cpp), and the device itself, streams and memory (device.cpp), which the
// stand-in cuBLAS and cuDNN use to run their work in stream order on device memory.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <string>

#include "emulated_cuda.cuh"

namespace pkemu {

// CUresult values the emulated driver returns (the driver API's numbers).
enum Status : int {
  SUCCESS = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NOT_INITIALIZED = 3,
  INVALID_DEVICE = 101,
  INVALID_IMAGE = 200,
  INVALID_CONTEXT = 201,
  UNSUPPORTED_PTX_VERSION = 222,
  INVALID_HANDLE = 400,
  NOT_FOUND = 500,
  ILLEGAL_ADDRESS = 700,
  LAUNCH_FAILED = 719,
};

// One kernel of cuda-kernels/, made callable from cuLaunchKernel's void*[] of argument pointers.
struct KernelEntry {
  const char* name;
  void* (*pack)(void* const* params);  // copies the argument values, as cuLaunchKernel does
  void (*run)(const void* packed);     // one thread's execution of the kernel
  void (*release)(void* packed);
  // The pointer arguments: count of them, and for each its value and position (0 = n).
  int (*pointers)(const void* packed, const void** values, int* positions, int max);
};
const KernelEntry* find_kernel(const char* name);

// Runs every thread of every block; returns "" or what went wrong (barrier divergence, ...).
std::string run_grid(const KernelEntry& kernel, const void* packed, uint3 grid, uint3 block);

// Stream-ordered work: runs on the stream's worker after everything enqueued before it. Returns
// the context's sticky error, if any, instead of enqueueing.
int enqueue(void* stream, std::function<void()> work);
// Records a sticky error (the first one wins), as a real device does after a fault.
void fail(int status, const std::string& message);
// When [p, p + bytes) lies inside one live block of the device whose stream runs the caller
// (work enqueued by enqueue): ""; otherwise why not.
std::string check_device_range(const void* p, size_t bytes);

// For the stand-in NCCL, which enqueues on any device's streams: the device of a stream handle
// (0: the current context's legacy stream) or -1; the current context's device or -1; how many.
int stream_device(void* stream);
int current_device();
int device_count();
// The sticky fault's CUresult, or 0.
int device_fault();

}  // namespace pkemu
