// Stand-in libcuda.so.1 (test only): the CUDA driver API over the emulated device. Device memory
// is host memory with guard zones; each stream is a worker thread that runs its work in order;
// events order streams; cuLaunchKernel runs the real kernels of cuda-kernels/ (compiled by g++
// with the GPU branches) with the grid and block the caller chose. It checks what a real device
// checks (a context current on the calling thread, valid handles and ranges, launch limits) and
// what a real device cannot report well: a kernel argument outside live device memory, a write
// past a block's end (the guard zones), barrier or warp divergence. Faults are sticky, as on a
// GPU: every later call of the process fails with the first fault's code and text.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "emulator.h"

typedef int CUresult;
typedef uint64_t CUdeviceptr;

namespace pkemu {
namespace {

constexpr size_t GUARD = 256;  // bytes of pattern on each side of a block; also its alignment
constexpr unsigned char GUARD_BYTE = 0xFD;
constexpr unsigned char FRESH_BYTE = 0xFF;  // fresh and freed memory read as NaN, like garbage would
constexpr size_t TOTAL_MEMORY = (size_t)8 << 30;
constexpr size_t QUARANTINE_BYTES = (size_t)256 << 20;  // freed blocks kept poisoned before reuse
constexpr int SMS = 2;  // few SMs: the driver's grid cap (32 blocks per SM) makes kernels grid-stride
void* const CONTEXT = (void*)0xC0FFEE;
const char* const DEVICE_NAME = "plugkit emulated CUDA device (runs the kernels on the CPU: logic, not speed)";

struct Block {
  char* raw;
  size_t bytes;
  size_t rawBytes;
  bool ready;  // its stream has reached the allocation (stream-ordered allocation)
};

struct Stream {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  uint64_t enqueued = 0;
  uint64_t completed = 0;
};

struct Event {
  Stream* stream = nullptr;
  uint64_t position = 0;
};

// Kept for the process's life (never destroyed): stream workers may still run at exit.
struct Device {
  std::mutex m;
  bool initialised = false;
  std::map<uintptr_t, Block> live;  // by user address
  std::set<uintptr_t> freeing;      // freed in stream order, not yet reached by the stream
  std::deque<std::pair<uintptr_t, Block>> quarantine;
  size_t quarantined = 0;
  size_t liveBytes = 0;
  std::set<Stream*> streams;
  Stream* legacy = nullptr;
  std::mutex faultMutex;
  int fault = SUCCESS;
  std::string faultText;
};

Device& dev() {
  static Device* d = new Device;
  return *d;
}

thread_local void* t_context = nullptr;

int sticky() {
  std::lock_guard<std::mutex> lock(dev().faultMutex);
  return dev().fault;
}

void worker(Stream* s) {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(s->m);
      s->cv.wait(lock, [&] { return !s->queue.empty(); });
      work = std::move(s->queue.front());
      s->queue.pop_front();
    }
    if (sticky() == SUCCESS) work();  // after a fault the device runs nothing more
    {
      std::lock_guard<std::mutex> lock(s->m);
      s->completed++;
    }
    s->cv.notify_all();
  }
}

Stream* new_stream() {
  Stream* s = new Stream;
  std::thread(worker, s).detach();
  return s;
}

// The stream a handle names (0: the legacy default stream), or null when it is not one.
Stream* stream_of(void* handle) {
  Device& d = dev();
  std::lock_guard<std::mutex> lock(d.m);
  if (handle == nullptr) {
    if (d.legacy == nullptr) d.legacy = new_stream();
    return d.legacy;
  }
  Stream* s = (Stream*)handle;
  return d.streams.count(s) ? s : nullptr;
}

void wait_for(Stream* s, uint64_t position) {
  std::unique_lock<std::mutex> lock(s->m);
  s->cv.wait(lock, [&] { return s->completed >= position; });
}

uint64_t position_of(Stream* s) {
  std::lock_guard<std::mutex> lock(s->m);
  return s->enqueued;
}

std::string hex(const void* p) {
  char b[32];
  snprintf(b, sizeof b, "0x%llx", (unsigned long long)(uintptr_t)p);
  return b;
}

// The live block holding [p, p + bytes) (bytes may be 0: one past the end is fine), or null.
// The caller holds dev().m.
const std::pair<const uintptr_t, Block>* containing(uintptr_t p, size_t bytes) {
  auto& live = dev().live;
  auto it = live.upper_bound(p);
  if (it == live.begin()) return nullptr;
  --it;
  return p + bytes <= it->first + it->second.bytes ? &*it : nullptr;
}

// inStreamOrder: the use is executing on a stream now, so the block's allocation must have been
// reached: another stream's use before that lacks a wait on the allocating stream.
std::string range_problem(const void* p, size_t bytes, bool inStreamOrder) {
  Device& d = dev();
  std::lock_guard<std::mutex> lock(d.m);
  const uintptr_t a = (uintptr_t)p;
  if (auto* b = containing(a, bytes)) {
    if (!inStreamOrder || b->second.ready) return "";
    return hex(p) + " is used before its stream-ordered allocation was reached (no wait on the allocating stream)";
  }
  if (containing(a, 0)) return "the range " + hex(p) + " + " + std::to_string(bytes) + " bytes runs past the end of its block";
  for (auto& q : d.quarantine) {
    if (a >= q.first && a <= q.first + q.second.bytes) return hex(p) + " points into a block that was freed";
  }
  return hex(p) + " is not device memory allocated by cuMemAllocAsync";
}

// Where the guard zones of a block were overwritten, or "" when intact.
std::string damaged_guard(uintptr_t user, const Block& b) {
  const unsigned char* raw = (const unsigned char*)b.raw;
  const size_t front = user - (uintptr_t)b.raw;
  for (size_t i = 0; i < front; ++i) {
    if (raw[i] != GUARD_BYTE) return "byte " + std::to_string((long)i - (long)front) + " (before its start) was overwritten";
  }
  for (size_t i = front + b.bytes; i < b.rawBytes; ++i) {
    if (raw[i] != GUARD_BYTE) return "byte " + std::to_string(i - front) + " (past its end) was overwritten";
  }
  return "";
}

CUresult need_context() {
  if (!dev().initialised) return NOT_INITIALIZED;
  return t_context == CONTEXT ? SUCCESS : INVALID_CONTEXT;
}

// Stream-ordered free: the block stays usable until the stream reaches the free.
void release(uintptr_t user) {
  Device& d = dev();
  std::string damage;
  {
    std::lock_guard<std::mutex> lock(d.m);
    auto it = d.live.find(user);
    Block b = it->second;
    d.live.erase(it);
    d.freeing.erase(user);
    d.liveBytes -= b.bytes;
    damage = damaged_guard(user, b);
    memset((void*)user, FRESH_BYTE, b.bytes);
    d.quarantine.emplace_back(user, b);
    d.quarantined += b.rawBytes;
    while (d.quarantined > QUARANTINE_BYTES) {
      d.quarantined -= d.quarantine.front().second.rawBytes;
      free(d.quarantine.front().second.raw);
      d.quarantine.pop_front();
    }
  }
  if (!damage.empty()) fail(ILLEGAL_ADDRESS, "out-of-bounds write found when the block at " + hex((void*)user) + " was freed: " + damage);
}

struct Module {
  std::vector<unsigned char> image;
};

// A kernel is in a module image when its name is there as a NUL-terminated symbol.
bool image_has(const Module& m, const char* name) {
  const std::string needle = std::string(1, '\0') + name + '\0';
  return std::search(m.image.begin(), m.image.end(), needle.begin(), needle.end()) != m.image.end();
}

const char* error_name(CUresult e) {
  switch (e) {
    case SUCCESS: return "CUDA_SUCCESS";
    case INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
    case INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
    case INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
    case UNSUPPORTED_PTX_VERSION: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    case INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
    case NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
    default: return nullptr;
  }
}

}  // namespace

int enqueue(void* handle, std::function<void()> work) {
  if (int f = sticky()) return f;
  Stream* s = stream_of(handle);
  if (s == nullptr) return INVALID_HANDLE;
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->queue.push_back(std::move(work));
    s->enqueued++;
  }
  s->cv.notify_all();
  return SUCCESS;
}

void fail(int status, const std::string& message) {
  Device& d = dev();
  std::lock_guard<std::mutex> lock(d.faultMutex);
  if (d.fault != SUCCESS) return;
  d.fault = status;
  d.faultText = std::string(status == ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
                                                      : "unspecified launch failure") +
                " [emulated device: " + message + "]";
  fprintf(stderr, "[emulated-cuda] %s: %s\n", error_name(status), message.c_str());
}

std::string check_device_range(const void* p, size_t bytes) { return range_problem(p, bytes, true); }

}  // namespace pkemu

using namespace pkemu;

extern "C" {

CUresult cuDriverGetVersion(int* v) {
  *v = 13000;
  return SUCCESS;
}

CUresult cuInit(unsigned flags) {
  if (flags != 0) return INVALID_VALUE;
  std::lock_guard<std::mutex> lock(dev().m);
  dev().initialised = true;
  return SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
  if (!dev().initialised) return NOT_INITIALIZED;
  *count = 1;
  return SUCCESS;
}

CUresult cuDeviceGet(int* device, int ordinal) {
  if (!dev().initialised) return NOT_INITIALIZED;
  if (ordinal != 0) return INVALID_DEVICE;
  *device = 0;
  return SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, int device) {
  if (device != 0) return INVALID_DEVICE;
  snprintf(name, (size_t)len, "%s", DEVICE_NAME);
  return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, int attribute, int device) {
  if (device != 0) return INVALID_DEVICE;
  switch (attribute) {
    case 1: *v = 1024; return SUCCESS;   // max threads per block
    case 8: *v = 49152; return SUCCESS;  // max shared memory per block
    case 10: *v = 32; return SUCCESS;    // warp size
    case 16: *v = SMS; return SUCCESS;   // multiprocessors
    case 75: *v = 9; return SUCCESS;     // compute capability 9.0
    case 76: *v = 0; return SUCCESS;
    case 115: *v = 1; return SUCCESS;    // memory pools supported
    default: return INVALID_VALUE;
  }
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, int device) {
  if (device != 0) return INVALID_DEVICE;
  *bytes = TOTAL_MEMORY;
  return SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void** context, int device) {
  if (!dev().initialised) return NOT_INITIALIZED;
  if (device != 0) return INVALID_DEVICE;
  *context = CONTEXT;
  return SUCCESS;
}

CUresult cuCtxSetCurrent(void* context) {
  if (context != CONTEXT && context != nullptr) return INVALID_CONTEXT;
  t_context = context;
  return SUCCESS;
}

CUresult cuStreamCreate(void** stream, unsigned flags) {
  if (CUresult e = need_context()) return e;
  if (flags > 1) return INVALID_VALUE;
  Stream* s = new_stream();
  std::lock_guard<std::mutex> lock(dev().m);
  dev().streams.insert(s);
  *stream = s;
  return SUCCESS;
}

CUresult cuStreamSynchronize(void* handle) {
  if (CUresult e = need_context()) return e;
  Stream* s = stream_of(handle);
  if (s == nullptr) return INVALID_HANDLE;
  wait_for(s, position_of(s));
  return sticky();
}

CUresult cuCtxSynchronize(void) {
  if (CUresult e = need_context()) return e;
  std::vector<Stream*> all;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    all.assign(dev().streams.begin(), dev().streams.end());
    if (dev().legacy) all.push_back(dev().legacy);
  }
  for (Stream* s : all) wait_for(s, position_of(s));
  return sticky();
}

CUresult cuEventCreate(void** event, unsigned flags) {
  if (CUresult e = need_context()) return e;
  if (flags > 7) return INVALID_VALUE;
  *event = new Event;
  return SUCCESS;
}

CUresult cuEventRecord(void* event, void* handle) {
  if (CUresult e = need_context()) return e;
  Stream* s = stream_of(handle);
  if (s == nullptr || event == nullptr) return INVALID_HANDLE;
  Event* ev = (Event*)event;
  ev->stream = s;
  ev->position = position_of(s);
  return sticky();
}

CUresult cuEventDestroy_v2(void* event) {
  if (event == nullptr) return INVALID_HANDLE;
  delete (Event*)event;  // a wait already enqueued keeps its own copy of what it waits for
  return SUCCESS;
}

CUresult cuStreamWaitEvent(void* handle, void* event, unsigned flags) {
  if (CUresult e = need_context()) return e;
  if (event == nullptr || flags != 0) return INVALID_VALUE;
  Event ev = *(Event*)event;
  if (ev.stream == nullptr) return SUCCESS;  // never recorded: nothing to wait for
  return enqueue(handle, [ev] { wait_for(ev.stream, ev.position); });
}

CUresult cuDeviceGetDefaultMemPool(void** pool, int device) {
  if (device != 0) return INVALID_DEVICE;
  *pool = (void*)0x9001;
  return SUCCESS;
}

CUresult cuMemPoolSetAttribute(void* pool, int attribute, void* value) {
  if (pool != (void*)0x9001 || value == nullptr) return INVALID_VALUE;
  return attribute >= 1 && attribute <= 8 ? SUCCESS : INVALID_VALUE;
}

CUresult cuMemPoolTrimTo(void* pool, size_t) { return pool == (void*)0x9001 ? SUCCESS : INVALID_VALUE; }

CUresult cuMemAllocAsync(CUdeviceptr* out, size_t bytes, void* handle) {
  if (CUresult e = need_context()) return e;
  if (bytes == 0) return INVALID_VALUE;
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;
  Device& d = dev();
  uintptr_t user;
  {
    std::lock_guard<std::mutex> lock(d.m);
    if (bytes > TOTAL_MEMORY - d.liveBytes) return OUT_OF_MEMORY;
    const size_t rawBytes = (bytes + 2 * GUARD + GUARD - 1) / GUARD * GUARD;
    char* raw = (char*)aligned_alloc(GUARD, rawBytes);
    if (raw == nullptr) return OUT_OF_MEMORY;
    memset(raw, GUARD_BYTE, GUARD);
    memset(raw + GUARD, FRESH_BYTE, bytes);
    memset(raw + GUARD + bytes, GUARD_BYTE, rawBytes - GUARD - bytes);
    user = (uintptr_t)raw + GUARD;
    d.live[user] = Block{raw, bytes, rawBytes, false};
    d.liveBytes += bytes;
  }
  *out = user;
  return enqueue(handle, [user] {
    std::lock_guard<std::mutex> lock(dev().m);
    auto it = dev().live.find(user);
    if (it != dev().live.end()) it->second.ready = true;
  });
}

CUresult cuMemFreeAsync(CUdeviceptr p, void* handle) {
  if (CUresult e = need_context()) return e;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    if (!dev().live.count(p) || dev().freeing.count(p)) return INVALID_VALUE;  // not a block, or freed twice
    dev().freeing.insert(p);
  }
  return enqueue(handle, [p] { release(p); });
}

// A copy's device side must lie in one block now and still be live when the stream reaches it.
CUresult device_range(CUdeviceptr p, size_t bytes) {
  return range_problem((const void*)p, bytes, false).empty() ? SUCCESS : INVALID_VALUE;
}

std::function<void()> checked(CUdeviceptr p, size_t bytes, const char* call, std::function<void()> copy) {
  return [=] {
    std::string problem = range_problem((const void*)p, bytes, true);
    if (!problem.empty()) {
      fail(ILLEGAL_ADDRESS, std::string(call) + ": " + problem);
      return;
    }
    copy();
  };
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, void* handle) {
  if (CUresult e = need_context()) return e;
  if (CUresult e = device_range(dst, bytes)) return e;
  // From pageable memory the driver stages the source before it returns, as here.
  auto staged = std::make_shared<std::vector<char>>((const char*)src, (const char*)src + bytes);
  return enqueue(handle, checked(dst, bytes, "cuMemcpyHtoDAsync", [=] { memcpy((void*)dst, staged->data(), bytes); }));
}

CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, void* handle) {
  if (CUresult e = need_context()) return e;
  if (CUresult e = device_range(src, bytes)) return e;
  Stream* s = stream_of(handle);
  if (s == nullptr) return INVALID_HANDLE;
  if (CUresult e = enqueue(handle, checked(src, bytes, "cuMemcpyDtoHAsync", [=] { memcpy(dst, (void*)src, bytes); }))) return e;
  wait_for(s, position_of(s));  // to pageable memory the copy is complete when the call returns
  return sticky();
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void* handle) {
  if (CUresult e = need_context()) return e;
  if (CUresult e = device_range(dst, bytes)) return e;
  if (CUresult e = device_range(src, bytes)) return e;
  return enqueue(handle, checked(dst, bytes, "cuMemcpyDtoDAsync", checked(src, bytes, "cuMemcpyDtoDAsync", [=] {
    memmove((void*)dst, (const void*)src, bytes);
  })));
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void* handle) {
  if (CUresult e = need_context()) return e;
  if (dst % 4 != 0) return INVALID_VALUE;
  if (CUresult e = device_range(dst, count * 4)) return e;
  return enqueue(handle, checked(dst, count * 4, "cuMemsetD32Async", [=] {
    for (size_t i = 0; i < count; ++i) ((unsigned*)dst)[i] = value;
  }));
}

// Accepts an nvcc fatbin (magic 0xBA55ED50, then its header and payload sizes).
CUresult cuModuleLoadData(void** module, const void* image) {
  if (CUresult e = need_context()) return e;
  if (image == nullptr) return INVALID_VALUE;
  uint32_t magic;
  uint16_t headerBytes;
  uint64_t payloadBytes;
  memcpy(&magic, image, 4);
  if (magic != 0xBA55ED50u) return INVALID_IMAGE;
  memcpy(&headerBytes, (const char*)image + 6, 2);
  memcpy(&payloadBytes, (const char*)image + 8, 8);
  Module* m = new Module;
  m->image.assign((const unsigned char*)image, (const unsigned char*)image + headerBytes + payloadBytes);
  *module = m;
  return SUCCESS;
}

// A kernel must be both in the loaded image (the fatbin is current) and in the emulated build;
// the planted-fault test kernels exist in the emulated build only.
CUresult cuModuleGetFunction(void** function, void* module, const char* name) {
  if (CUresult e = need_context()) return e;
  if (module == nullptr) return INVALID_HANDLE;
  const KernelEntry* k = find_kernel(name);
  const bool inImage = image_has(*(Module*)module, name) || strncmp(name, "planted_", 8) == 0;
  if (inImage && k == nullptr) {
    fprintf(stderr, "[emulated-cuda] kernel %s is in the fatbin but not in the emulated build: rebuild it\n", name);
  }
  if (k == nullptr || !inImage) return NOT_FOUND;
  *function = (void*)k;
  return SUCCESS;
}

CUresult cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedBytes, void* handle, void** params, void** extra) {
  if (CUresult e = need_context()) return e;
  if (function == nullptr) return INVALID_HANDLE;
  const uint64_t threads = (uint64_t)bx * by * bz;
  if (gx == 0 || gy == 0 || gz == 0 || threads == 0 || threads > 1024 || bz > 64 || gx > 0x7fffffffu ||
      gy > 65535 || gz > 65535 || sharedBytes > 49152 || extra != nullptr || params == nullptr) {
    return INVALID_VALUE;
  }
  const KernelEntry* k = (const KernelEntry*)function;
  void* packed = k->pack(params);
  const uint3 grid{gx, gy, gz};
  const uint3 block{bx, by, bz};
  CUresult rc = enqueue(handle, [k, packed, grid, block] {
    const void* pointers[64];
    int positions[64];
    const int count = k->pointers(packed, pointers, positions, 64);
    for (int i = 0; i < count && i < 64; ++i) {
      if (pointers[i] == nullptr) continue;
      std::string problem = range_problem(pointers[i], 0, true);
      if (!problem.empty()) {
        fail(ILLEGAL_ADDRESS, std::string("kernel ") + k->name + ", parameter " + std::to_string(positions[i]) + ": " + problem);
        k->release(packed);
        return;
      }
    }
    std::string error = run_grid(*k, packed, grid, block);
    if (!error.empty()) {
      fail(LAUNCH_FAILED, std::string("kernel ") + k->name + " <<<" + std::to_string(grid.x) + ", " +
                              std::to_string(block.x) + ">>>: " + error);
    } else {
      std::lock_guard<std::mutex> lock(dev().m);
      for (int i = 0; i < count && i < 64; ++i) {
        auto* b = pointers[i] ? containing((uintptr_t)pointers[i], 0) : nullptr;
        std::string damage = b ? damaged_guard(b->first, b->second) : "";
        if (!damage.empty()) {
          fail(ILLEGAL_ADDRESS, std::string("kernel ") + k->name + " wrote outside the block of parameter " +
                                    std::to_string(positions[i]) + " (" + std::to_string(b->second.bytes) + " bytes at " +
                                    hex((void*)b->first) + "): " + damage);
          break;
        }
      }
    }
    k->release(packed);
  });
  if (rc != SUCCESS) k->release(packed);
  return rc;
}

CUresult cuGetErrorName(CUresult e, const char** s) {
  *s = error_name(e);
  return *s ? SUCCESS : INVALID_VALUE;
}

// For the fault the device recorded, the text says what the emulator found.
CUresult cuGetErrorString(CUresult e, const char** s) {
  {
    std::lock_guard<std::mutex> lock(dev().faultMutex);
    if (e == dev().fault && e != SUCCESS) {
      *s = dev().faultText.c_str();  // set once, never changed afterwards
      return SUCCESS;
    }
  }
  *s = error_name(e);
  return *s ? SUCCESS : INVALID_VALUE;
}

struct Entry {
  const char* name;
  void* fn;
};

static const Entry ENTRY_POINTS[] = {
    {"cuGetErrorName", (void*)cuGetErrorName},
    {"cuGetErrorString", (void*)cuGetErrorString},
    {"cuDriverGetVersion", (void*)cuDriverGetVersion},
    {"cuInit", (void*)cuInit},
    {"cuDeviceGetCount", (void*)cuDeviceGetCount},
    {"cuDeviceGet", (void*)cuDeviceGet},
    {"cuDeviceGetName", (void*)cuDeviceGetName},
    {"cuDeviceGetAttribute", (void*)cuDeviceGetAttribute},
    {"cuDeviceTotalMem", (void*)cuDeviceTotalMem_v2},
    {"cuDevicePrimaryCtxRetain", (void*)cuDevicePrimaryCtxRetain},
    {"cuCtxSetCurrent", (void*)cuCtxSetCurrent},
    {"cuCtxSynchronize", (void*)cuCtxSynchronize},
    {"cuStreamCreate", (void*)cuStreamCreate},
    {"cuStreamSynchronize", (void*)cuStreamSynchronize},
    {"cuStreamWaitEvent", (void*)cuStreamWaitEvent},
    {"cuEventCreate", (void*)cuEventCreate},
    {"cuEventRecord", (void*)cuEventRecord},
    {"cuEventDestroy", (void*)cuEventDestroy_v2},
    {"cuDeviceGetDefaultMemPool", (void*)cuDeviceGetDefaultMemPool},
    {"cuMemPoolSetAttribute", (void*)cuMemPoolSetAttribute},
    {"cuMemPoolTrimTo", (void*)cuMemPoolTrimTo},
    {"cuMemAllocAsync", (void*)cuMemAllocAsync},
    {"cuMemFreeAsync", (void*)cuMemFreeAsync},
    {"cuMemcpyHtoDAsync", (void*)cuMemcpyHtoDAsync_v2},
    {"cuMemcpyDtoHAsync", (void*)cuMemcpyDtoHAsync_v2},
    {"cuMemcpyDtoDAsync", (void*)cuMemcpyDtoDAsync_v2},
    {"cuMemsetD32Async", (void*)cuMemsetD32Async},
    {"cuModuleLoadData", (void*)cuModuleLoadData},
    {"cuModuleGetFunction", (void*)cuModuleGetFunction},
    {"cuLaunchKernel", (void*)cuLaunchKernel},
};

// Entry points at the CUDA 12.0 ABI the Java side asks for (the only one emulated).
CUresult cuGetProcAddress_v2(const char* symbol, void** fn, int version, uint64_t flags, int* status) {
  *fn = nullptr;
  if (version < 12000 || flags != 0) return INVALID_VALUE;
  for (const Entry& e : ENTRY_POINTS) {
    if (strcmp(e.name, symbol) == 0) {
      *fn = e.fn;
      if (status) *status = 0;
      return SUCCESS;
    }
  }
  if (status) *status = 1;  // CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
  return NOT_FOUND;
}

}  // extern "C"
