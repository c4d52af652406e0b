// Stand-in libcuda.so.1 (test only): the CUDA driver API over the emulated device. Device memory
// is host memory with guard zones; each stream is a worker thread that runs its work in order;
// events order streams; cuLaunchKernel runs the real kernels of cuda-kernels/ (compiled by g++
// with the GPU branches) with the grid and block the caller chose. It checks what a real device
// checks (a context current on the calling thread, valid handles and ranges, launch limits) and
// what a real device cannot report well: a kernel argument outside live device memory, a write
// past a block's end (the guard zones), barrier or warp divergence. Faults are sticky, as on a
// GPU: every later call of the process fails with the first fault's code and text.
// PLUGKIT_EMULATED_DEVICES=N (default 1) exposes N devices, each with its own primary context,
// streams, memory pool and blocks; a kernel given another device's memory faults (no peer access).
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
constexpr int MAX_DEVICES = 16;
constexpr uintptr_t POOL_BASE = 0x9001;  // device d's default pool handle is POOL_BASE + d
const char* const DEVICE_NAME = "plugkit emulated CUDA device (runs the kernels on the CPU: logic, not speed)";

struct Block {
  char* raw;
  size_t bytes;
  size_t rawBytes;
  bool ready;  // its stream has reached the allocation (stream-ordered allocation)
};

struct Gpu;

struct Stream {
  Gpu* gpu = nullptr;
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  uint64_t enqueued = 0;
  uint64_t completed = 0;
  bool destroyed = false;  // its worker ends after the work enqueued before cuStreamDestroy
};

struct Event {
  Stream* stream = nullptr;
  uint64_t position = 0;
};

// One emulated GPU; its address is also its primary context's handle. Guarded by dev().m.
struct Gpu {
  int index = 0;
  std::map<uintptr_t, Block> live;  // by user address
  std::set<uintptr_t> freeing;      // freed in stream order, not yet reached by the stream
  std::deque<std::pair<uintptr_t, Block>> quarantine;
  size_t quarantined = 0;
  size_t liveBytes = 0;
  std::set<Stream*> streams;
  Stream* legacy = nullptr;
};

// Kept for the process's life (never destroyed): stream workers may still run at exit.
struct Device {
  std::mutex m;
  bool initialised = false;
  std::vector<Gpu*> gpus;
  std::mutex faultMutex;
  int fault = SUCCESS;
  std::string faultText;
};

int configured_devices() {
  const char* env = getenv("PLUGKIT_EMULATED_DEVICES");
  if (env == nullptr || *env == 0) return 1;
  char* end;
  const long n = strtol(env, &end, 10);
  if (*end != 0 || n < 1 || n > MAX_DEVICES) {
    fprintf(stderr, "[emulated-cuda] PLUGKIT_EMULATED_DEVICES=%s: expected 1 to %d; using 1\n", env, MAX_DEVICES);
    return 1;
  }
  return (int)n;
}

Device& dev() {
  static Device* d = [] {
    Device* d = new Device;
    for (int i = configured_devices(), k = 0; k < i; ++k) {
      d->gpus.push_back(new Gpu);
      d->gpus.back()->index = k;
    }
    return d;
  }();
  return *d;
}

thread_local Gpu* t_context = nullptr;  // the current context
thread_local Gpu* t_running = nullptr;  // on a stream worker: the stream's device

Gpu* gpu(int ordinal) { return ordinal >= 0 && ordinal < (int)dev().gpus.size() ? dev().gpus[ordinal] : nullptr; }

int sticky() {
  std::lock_guard<std::mutex> lock(dev().faultMutex);
  return dev().fault;
}

void worker(Stream* s) {
  t_running = s->gpu;
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(s->m);
      s->cv.wait(lock, [&] { return !s->queue.empty(); });
      work = std::move(s->queue.front());
      s->queue.pop_front();
    }
    if (sticky() == SUCCESS) work();  // after a fault the device runs nothing more
    bool last;
    {
      std::lock_guard<std::mutex> lock(s->m);
      s->completed++;
      last = s->destroyed && s->queue.empty();
    }
    s->cv.notify_all();
    // The Stream stays allocated: events recorded on it keep their positions, which are reached.
    if (last) return;
  }
}

Stream* new_stream(Gpu* g) {
  Stream* s = new Stream;
  s->gpu = g;
  std::thread(worker, s).detach();
  return s;
}

// The stream a handle names (0: the current context's legacy default stream), or null when it
// is not one. A driver call may use only streams of the current context; the hook that the
// stand-in libraries use (enqueue) takes any device's (NCCL enqueues on several devices' streams).
Stream* stream_of(void* handle, bool anyDevice = false) {
  Device& d = dev();
  std::lock_guard<std::mutex> lock(d.m);
  if (handle == nullptr) {
    Gpu* g = t_context;
    if (g == nullptr) return nullptr;
    if (g->legacy == nullptr) g->legacy = new_stream(g);
    return g->legacy;
  }
  Stream* s = (Stream*)handle;
  for (Gpu* g : d.gpus) {
    if (g->streams.count(s)) return anyDevice || g == t_context ? s : nullptr;
  }
  return nullptr;
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

// The live block of g holding [p, p + bytes) (bytes may be 0: one past the end is fine), or
// null. The caller holds dev().m.
const std::pair<const uintptr_t, Block>* containing(Gpu* g, uintptr_t p, size_t bytes) {
  auto& live = g->live;
  auto it = live.upper_bound(p);
  if (it == live.begin()) return nullptr;
  --it;
  return p + bytes <= it->first + it->second.bytes ? &*it : nullptr;
}

// The device whose live blocks hold p (bytes 0), or null. The caller holds dev().m.
Gpu* owner_of(uintptr_t p) {
  for (Gpu* g : dev().gpus) {
    if (containing(g, p, 0)) return g;
  }
  return nullptr;
}

// inStreamOrder: the use is executing on a stream now, so the block's allocation must have been
// reached: another stream's use before that lacks a wait on the allocating stream. on: the device
// that uses the memory (a kernel's), or null for a copy (unified addressing: any device's).
std::string range_problem(Gpu* on, const void* p, size_t bytes, bool inStreamOrder) {
  Device& d = dev();
  std::lock_guard<std::mutex> lock(d.m);
  const uintptr_t a = (uintptr_t)p;
  Gpu* owner = owner_of(a);
  if (owner != nullptr && on != nullptr && owner != on) {
    return hex(p) + " is memory of device " + std::to_string(owner->index) + ", used on device " +
           std::to_string(on->index) + " (peer access is not enabled)";
  }
  if (owner != nullptr) {
    if (auto* b = containing(owner, a, bytes)) {
      if (!inStreamOrder || b->second.ready) return "";
      return hex(p) + " is used before its stream-ordered allocation was reached (no wait on the allocating stream)";
    }
    return "the range " + hex(p) + " + " + std::to_string(bytes) + " bytes runs past the end of its block";
  }
  for (Gpu* g : d.gpus) {
    for (auto& q : g->quarantine) {
      if (a >= q.first && a <= q.first + q.second.bytes) return hex(p) + " points into a block that was freed";
    }
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
  return t_context != nullptr ? SUCCESS : INVALID_CONTEXT;
}

// Stream-ordered free: the block stays usable until the stream reaches the free.
void release(uintptr_t user) {
  Device& d = dev();
  std::string damage;
  {
    std::lock_guard<std::mutex> lock(d.m);
    Gpu& g = *owner_of(user);
    auto it = g.live.find(user);
    Block b = it->second;
    g.live.erase(it);
    g.freeing.erase(user);
    g.liveBytes -= b.bytes;
    damage = damaged_guard(user, b);
    memset((void*)user, FRESH_BYTE, b.bytes);
    g.quarantine.emplace_back(user, b);
    g.quarantined += b.rawBytes;
    while (g.quarantined > QUARANTINE_BYTES) {
      g.quarantined -= g.quarantine.front().second.rawBytes;
      free(g.quarantine.front().second.raw);
      g.quarantine.pop_front();
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
  Stream* s = stream_of(handle, true);
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

std::string check_device_range(const void* p, size_t bytes) { return range_problem(t_running, p, bytes, true); }

int stream_device(void* handle) {
  Stream* s = stream_of(handle, true);
  return s == nullptr ? -1 : s->gpu->index;
}

int current_device() { return t_context == nullptr ? -1 : t_context->index; }

int device_count() { return (int)dev().gpus.size(); }

int device_fault() { return sticky(); }

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
  *count = device_count();
  return SUCCESS;
}

CUresult cuDeviceGet(int* device, int ordinal) {
  if (!dev().initialised) return NOT_INITIALIZED;
  if (gpu(ordinal) == nullptr) return INVALID_DEVICE;
  *device = ordinal;
  return SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, int device) {
  if (gpu(device) == nullptr) return INVALID_DEVICE;
  snprintf(name, (size_t)len, "%s", DEVICE_NAME);
  return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, int attribute, int device) {
  if (gpu(device) == nullptr) return INVALID_DEVICE;
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
  if (gpu(device) == nullptr) return INVALID_DEVICE;
  *bytes = TOTAL_MEMORY;
  return SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void** context, int device) {
  if (!dev().initialised) return NOT_INITIALIZED;
  if (gpu(device) == nullptr) return INVALID_DEVICE;
  *context = gpu(device);
  return SUCCESS;
}

CUresult cuCtxSetCurrent(void* context) {
  Gpu* g = (Gpu*)context;  // compared with the devices' handles, never dereferenced before
  if (g != nullptr && std::find(dev().gpus.begin(), dev().gpus.end(), g) == dev().gpus.end()) return INVALID_CONTEXT;
  t_context = g;
  return SUCCESS;
}

CUresult cuStreamCreate(void** stream, unsigned flags) {
  if (CUresult e = need_context()) return e;
  if (flags > 1) return INVALID_VALUE;
  Stream* s = new_stream(t_context);
  std::lock_guard<std::mutex> lock(dev().m);
  t_context->streams.insert(s);
  *stream = s;
  return SUCCESS;
}

// As CUDA: returns at once; the stream's work already enqueued still runs, then its worker ends.
CUresult cuStreamDestroy(void* handle) {
  if (CUresult e = need_context()) return e;
  Stream* s = stream_of(handle);
  if (s == nullptr || handle == nullptr) return INVALID_HANDLE;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    t_context->streams.erase(s);
  }
  std::lock_guard<std::mutex> lock(s->m);
  s->destroyed = true;
  s->queue.push_back([] {});  // wakes the worker, which ends after it
  s->enqueued++;
  s->cv.notify_all();
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
    all.assign(t_context->streams.begin(), t_context->streams.end());
    if (t_context->legacy) all.push_back(t_context->legacy);
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
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;  // the waiting stream must be of this context
  return enqueue(handle, [ev] { wait_for(ev.stream, ev.position); });
}

CUresult cuDeviceGetDefaultMemPool(void** pool, int device) {
  if (gpu(device) == nullptr) return INVALID_DEVICE;
  *pool = (void*)(POOL_BASE + device);
  return SUCCESS;
}

bool is_pool(void* pool) { return (uintptr_t)pool >= POOL_BASE && (uintptr_t)pool < POOL_BASE + device_count(); }

CUresult cuMemPoolSetAttribute(void* pool, int attribute, void* value) {
  if (!is_pool(pool) || value == nullptr) return INVALID_VALUE;
  return attribute >= 1 && attribute <= 8 ? SUCCESS : INVALID_VALUE;
}

CUresult cuMemPoolTrimTo(void* pool, size_t) { return is_pool(pool) ? SUCCESS : INVALID_VALUE; }

CUresult cuMemAllocAsync(CUdeviceptr* out, size_t bytes, void* handle) {
  if (CUresult e = need_context()) return e;
  if (bytes == 0) return INVALID_VALUE;
  Stream* s = stream_of(handle);
  if (s == nullptr) return INVALID_HANDLE;
  Device& d = dev();
  Gpu& g = *s->gpu;
  uintptr_t user;
  {
    std::lock_guard<std::mutex> lock(d.m);
    if (bytes > TOTAL_MEMORY - g.liveBytes) return OUT_OF_MEMORY;
    const size_t rawBytes = (bytes + 2 * GUARD + GUARD - 1) / GUARD * GUARD;
    char* raw = (char*)aligned_alloc(GUARD, rawBytes);
    if (raw == nullptr) return OUT_OF_MEMORY;
    memset(raw, GUARD_BYTE, GUARD);
    memset(raw + GUARD, FRESH_BYTE, bytes);
    memset(raw + GUARD + bytes, GUARD_BYTE, rawBytes - GUARD - bytes);
    user = (uintptr_t)raw + GUARD;
    g.live[user] = Block{raw, bytes, rawBytes, false};
    g.liveBytes += bytes;
  }
  *out = user;
  Gpu* owner = &g;
  return enqueue(handle, [user, owner] {
    std::lock_guard<std::mutex> lock(dev().m);
    auto it = owner->live.find(user);
    if (it != owner->live.end()) it->second.ready = true;
  });
}

CUresult cuMemFreeAsync(CUdeviceptr p, void* handle) {
  if (CUresult e = need_context()) return e;
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    Gpu* g = owner_of(p);
    if (g == nullptr || !g->live.count(p) || g->freeing.count(p)) return INVALID_VALUE;  // not a block, or freed twice
    g->freeing.insert(p);
  }
  return enqueue(handle, [p] { release(p); });
}

// A copy's device side must lie in one block now and still be live when the stream reaches it.
CUresult device_range(CUdeviceptr p, size_t bytes) {
  return range_problem(nullptr, (const void*)p, bytes, false).empty() ? SUCCESS : INVALID_VALUE;
}

std::function<void()> checked(CUdeviceptr p, size_t bytes, const char* call, std::function<void()> copy) {
  return [=] {
    std::string problem = range_problem(nullptr, (const void*)p, bytes, true);
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
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;
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
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;
  return enqueue(handle, checked(dst, bytes, "cuMemcpyDtoDAsync", checked(src, bytes, "cuMemcpyDtoDAsync", [=] {
    memmove((void*)dst, (const void*)src, bytes);
  })));
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void* handle) {
  if (CUresult e = need_context()) return e;
  if (dst % 4 != 0) return INVALID_VALUE;
  if (CUresult e = device_range(dst, count * 4)) return e;
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;
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
  if (stream_of(handle) == nullptr) return INVALID_HANDLE;  // a stream of another context, or none
  void* packed = k->pack(params);
  const uint3 grid{gx, gy, gz};
  const uint3 block{bx, by, bz};
  CUresult rc = enqueue(handle, [k, packed, grid, block] {
    const void* pointers[64];
    int positions[64];
    const int count = k->pointers(packed, pointers, positions, 64);
    for (int i = 0; i < count && i < 64; ++i) {
      if (pointers[i] == nullptr) continue;
      std::string problem = range_problem(t_running, pointers[i], 0, true);
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
        auto* b = pointers[i] ? containing(t_running, (uintptr_t)pointers[i], 0) : nullptr;
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
    {"cuStreamDestroy", (void*)cuStreamDestroy},
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
