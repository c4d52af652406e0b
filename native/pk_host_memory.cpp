// Host memory of the CPU target: 64-byte aligned blocks (one cache line, what AVX-512 loads like)
// with a cache of freed large blocks. A training step frees and re-allocates the same activation
// and gradient sizes every iteration; glibc serves blocks this large with fresh mmaps, and the
// first touch of every page then faults (measured: a 6.4 MB gradient copy 5 ms fresh, 1 ms reused).
// Freed blocks of at least PK_CACHE_MIN bytes are kept, up to a limit of cached bytes, and handed
// out again best-fit (at most 1/4 larger than asked).
// Small blocks (a 1-element tensor, a bias) come and go at every op of a small model: glibc's
// aligned_alloc + free of one took about 150 ns here, most of a 1-element op's budget, as an
// aligned request bypasses glibc's per-thread cache. So freed blocks of up to PK_SMALL_MAX bytes
// go to a per-thread list per 64-byte size class (at most PK_SMALL_KEEP bytes of blocks per
// thread: enough for the thousands of 1-element results of a Scope of small ops), handed out again
// at once by the next allocation of that class on that thread; a block freed on another thread
// than the one that allocated it joins the freeing thread's list, which is fine: every block is
// a plain aligned_alloc block. The lists are freed when their thread ends. Limit 0 (cache off)
// stops the keeping of small blocks too.
#include <stdint.h>
#include <stdlib.h>

#include <atomic>
#include <map>
#include <mutex>

namespace {
constexpr size_t PK_HEADER = 64;           // block size stored in front; keeps the 64-byte alignment
constexpr size_t PK_CACHE_MIN = 64 * 1024;  // smaller blocks come from glibc's heap, which reuses them

std::mutex cacheLock;
std::multimap<size_t, void*> cached;  // capacity -> block (its header's address)
size_t cachedBytes = 0;
size_t cacheLimit = (size_t)1 << 30;

constexpr size_t PK_SMALL_MAX = 1024;
constexpr int PK_SMALL_CLASSES = PK_SMALL_MAX / 64;
constexpr size_t PK_SMALL_KEEP = (size_t)1 << 20;
std::atomic<bool> keepSmall{true};

// One thread's free small blocks: a list per class, linked through the word after the size in
// each block's header (the header is PK_HEADER bytes, the size takes the first 8).
struct SmallBlocks {
  void* head[PK_SMALL_CLASSES] = {};
  size_t bytes = 0;  // of the blocks in the lists, headers included
  ~SmallBlocks() {
    for (int c = 0; c < PK_SMALL_CLASSES; ++c) {
      while (head[c] != nullptr) {
        void* block = head[c];
        head[c] = ((void**)block)[1];
        free(block);
      }
    }
  }
};
thread_local SmallBlocks smallBlocks;

void* takeCached(size_t capacity) {
  std::lock_guard<std::mutex> guard(cacheLock);
  auto it = cached.lower_bound(capacity);
  if (it == cached.end() || it->first > capacity + capacity / 4) return nullptr;
  void* block = it->second;
  cachedBytes -= it->first;
  cached.erase(it);
  return block;
}

void releaseAll() {
  std::lock_guard<std::mutex> guard(cacheLock);
  for (auto& e : cached) free(e.second);
  cached.clear();
  cachedBytes = 0;
}
}  // namespace

extern "C" {
__attribute__((visibility("default"))) void* pk_alloc(size_t bytes) {
  size_t capacity = (bytes + 63) / 64 * 64;
  if (capacity == 0) capacity = 64;
  if (capacity <= PK_SMALL_MAX) {
    SmallBlocks& mine = smallBlocks;
    const int c = (int)(capacity / 64) - 1;
    void* block = mine.head[c];
    if (block != nullptr) {
      mine.head[c] = ((void**)block)[1];
      mine.bytes -= PK_HEADER + capacity;
      return (char*)block + PK_HEADER;
    }
  }
  void* block = capacity >= PK_CACHE_MIN ? takeCached(capacity) : nullptr;
  if (block == nullptr) {
    block = aligned_alloc(64, PK_HEADER + capacity);
    if (block == nullptr) {
      releaseAll();  // the cache may hold what the system is missing
      block = aligned_alloc(64, PK_HEADER + capacity);
      if (block == nullptr) return nullptr;
    }
    *(size_t*)block = capacity;
  }
  return (char*)block + PK_HEADER;
}

__attribute__((visibility("default"))) void pk_free(void* p) {
  if (p == nullptr) return;
  void* block = (char*)p - PK_HEADER;
  size_t capacity = *(size_t*)block;
  if (capacity <= PK_SMALL_MAX && keepSmall.load(std::memory_order_relaxed)) {
    SmallBlocks& mine = smallBlocks;
    const int c = (int)(capacity / 64) - 1;
    if (mine.bytes + PK_HEADER + capacity <= PK_SMALL_KEEP) {
      ((void**)block)[1] = mine.head[c];
      mine.head[c] = block;
      mine.bytes += PK_HEADER + capacity;
      return;
    }
  }
  if (capacity >= PK_CACHE_MIN) {
    std::lock_guard<std::mutex> guard(cacheLock);
    if (cachedBytes + capacity <= cacheLimit) {
      cached.emplace(capacity, block);
      cachedBytes += capacity;
      return;
    }
  }
  free(block);
}

// Sets the most bytes the cache keeps (0 turns it off) and frees what is cached now.
__attribute__((visibility("default"))) void pk_host_cache_set_limit(int64_t bytes) {
  releaseAll();
  std::lock_guard<std::mutex> guard(cacheLock);
  cacheLimit = bytes < 0 ? 0 : (size_t)bytes;
  keepSmall.store(cacheLimit > 0, std::memory_order_relaxed);
}

__attribute__((visibility("default"))) int64_t pk_host_cache_bytes(void) {
  std::lock_guard<std::mutex> guard(cacheLock);
  return (int64_t)cachedBytes;
}
}
