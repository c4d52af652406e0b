// The block scheduler of the emulated device: every thread of a block is a fiber on one OS
// thread, switched cooperatively at __syncthreads and warp shuffles; blocks run in parallel on
// an OpenMP team (so atomics really race). Fibers are a hand-written x86-64 context switch:
// ucontext's swapcontext makes a signal-mask system call per switch, and a 256-thread block
// with a dozen barriers switches thousands of times.
#include <algorithm>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "emulator.h"

namespace pkemu {
thread_local uint3 threadIdx_;
thread_local uint3 blockIdx_;
thread_local uint3 blockDim_;
thread_local uint3 gridDim_;
}  // namespace pkemu

// pkemu_switch(save, load): saves the callee-saved registers, MXCSR and the x87 control word on
// the current stack, stores its pointer in *save, and resumes the stack at load.
// pkemu_fiber_start: where a new fiber's first switch returns to; calls r13(r12), never returns.
asm(R"(
  .text
  .globl pkemu_switch
  .type pkemu_switch,@function
pkemu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size pkemu_switch, .-pkemu_switch

  .globl pkemu_fiber_start
  .type pkemu_fiber_start,@function
pkemu_fiber_start:
  movq %r12, %rdi
  xorl %ebp, %ebp
  callq *%r13
  ud2
  .size pkemu_fiber_start, .-pkemu_fiber_start
  .section .note.GNU-stack,"",@progbits
)");
extern "C" void pkemu_switch(void** save, void* load);
extern "C" void pkemu_fiber_start();

namespace pkemu {
namespace {

// Kernel frames are small (a few float[16] arrays). All fiber stacks of an OS thread share one
// mapping: a guard page per fiber would cost two mappings each, and a process that runs blocks on
// a hundred stream threads hit the kernel's limit of 65530 mappings. A canary at the bottom of each
// stack, checked after every block, reports an overflow instead (the lowest fiber has a guard page).
constexpr size_t STACK_BYTES = 256 * 1024;
constexpr size_t CANARY_WORDS = 64;
constexpr uint64_t CANARY = 0x9E3779B97F4A7C15ull;
constexpr unsigned MAX_THREADS = 1024;

enum State : uint8_t { RUNNABLE, AT_BARRIER, AT_SHUFFLE, DONE };

struct Fiber {
  void* sp;
  char* stack;
  State state;
  uint64_t value;  // a shuffle's operand, then its result
  ShuffleMode mode;
  int arg;
  int width;
};

struct Warp {
  int arrivals;
  unsigned mask;
  const char* file;
  int line;
};

struct Block {
  std::vector<Fiber> fibers;
  char* stacks = nullptr;  // MAX_THREADS stacks, kept for the OS thread's life, reused by every block
  unsigned threads = 0;
  unsigned current = 0;
  unsigned done = 0;
  unsigned barrierArrivals = 0;
  const char* barrierFile = nullptr;
  int barrierLine = 0;
  Warp warps[MAX_THREADS / 32];
  std::string error;
  void* schedulerSp = nullptr;
  const KernelEntry* kernel = nullptr;
  const void* args = nullptr;

  ~Block() {
    if (stacks != nullptr) munmap(stacks, STACK_BYTES * MAX_THREADS);
  }
};

thread_local Block* t_block;

std::string where(const char* file, int line) {
  const char* slash = strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

std::string thread_name(const Block& b, unsigned t) {
  const uint3 d = blockDim_;
  return "thread (" + std::to_string(t % d.x) + "," + std::to_string(t / d.x % d.y) + "," +
         std::to_string(t / (d.x * d.y)) + ")";
}

void yield(Block& b) { pkemu_switch(&b.fibers[b.current].sp, b.schedulerSp); }

void fail_block(Block& b, const std::string& message) {
  if (b.error.empty()) b.error = message;
  yield(b);  // the scheduler abandons the block; this fiber is never resumed
}

[[noreturn]] void fiber_main(Block* b) {
  b->kernel->run(b->args);
  Fiber& f = b->fibers[b->current];
  f.state = DONE;
  b->done++;
  if (b->barrierArrivals > 0) {
    fail_block(*b, "barrier divergence: " + thread_name(*b, b->current) + " exited while " +
                       std::to_string(b->barrierArrivals) + " of " + std::to_string(b->threads) +
                       " threads wait at __syncthreads (" + where(b->barrierFile, b->barrierLine) + ")");
  }
  const Warp& w = b->warps[b->current / 32];
  if (w.arrivals > 0 && (w.mask >> (b->current % 32) & 1u)) {
    fail_block(*b, "warp divergence: lane " + std::to_string(b->current % 32) + " of warp " +
                       std::to_string(b->current / 32) + " exited while " + std::to_string(w.arrivals) +
                       " lanes of its mask wait at a shuffle (" + where(w.file, w.line) + ")");
  }
  yield(*b);
  abort();  // a finished fiber is never resumed
}

void start_fiber(Fiber& f, Block* b, unsigned index) {
  if (b->stacks == nullptr) {
    void* m = mmap(nullptr, STACK_BYTES * MAX_THREADS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
      fprintf(stderr, "[emulated-cuda] cannot map the fiber stacks\n");
      abort();
    }
    mprotect(m, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE);
    b->stacks = (char*)m;
  }
  f.stack = b->stacks + STACK_BYTES * index;
  if (index > 0) std::fill_n((uint64_t*)f.stack, CANARY_WORDS, CANARY);
  // The frame pkemu_switch pops: MXCSR/x87 word, r15, r14, r13 (entry), r12 (its argument), rbx,
  // rbp, then the return address. The stack pointer after the return must be 16-byte aligned.
  uint64_t* sp = (uint64_t*)((uintptr_t)(f.stack + STACK_BYTES - 64) & ~(uintptr_t)15) - 8;
  uint32_t csr = 0x1F80;  // default MXCSR: all exceptions masked, round to nearest
  uint16_t fpu = 0x037F;
  memcpy(&sp[0], &csr, 4);
  memcpy((char*)&sp[0] + 4, &fpu, 2);
  sp[1] = 0;
  sp[2] = 0;
  sp[3] = (uint64_t)(uintptr_t)&fiber_main;
  sp[4] = (uint64_t)(uintptr_t)b;
  sp[5] = 0;
  sp[6] = 0;
  sp[7] = (uint64_t)(uintptr_t)&pkemu_fiber_start;
  f.sp = sp;
  f.state = RUNNABLE;
}

// What every waiting thread waits for, for the report of a block that can make no progress.
std::string describe_stall(const Block& b) {
  std::string s = "deadlock: no thread of the block can proceed (" + std::to_string(b.done) + " of " +
                  std::to_string(b.threads) + " exited";
  if (b.barrierArrivals > 0) {
    s += "; " + std::to_string(b.barrierArrivals) + " wait at __syncthreads " + where(b.barrierFile, b.barrierLine);
  }
  for (unsigned w = 0; w < (b.threads + 31) / 32; ++w) {
    if (b.warps[w].arrivals > 0) {
      s += "; warp " + std::to_string(w) + ": " + std::to_string(b.warps[w].arrivals) + " lanes wait at a shuffle " +
           where(b.warps[w].file, b.warps[w].line);
    }
  }
  return s + ")";
}

// A fiber whose canary changed ran past the bottom of its stack into its neighbour's.
std::string overflowed(const Block& b) {
  for (unsigned t = 1; t < b.threads; ++t) {
    const uint64_t* c = (const uint64_t*)b.fibers[t].stack;
    for (size_t i = 0; i < CANARY_WORDS; ++i) {
      if (c[i] != CANARY) return thread_name(b, t) + " overflowed its " + std::to_string(STACK_BYTES / 1024) + " KiB stack";
    }
  }
  return "";
}

std::string run_block(Block& b) {
  b.done = 0;
  b.barrierArrivals = 0;
  b.error.clear();
  for (unsigned w = 0; w < (b.threads + 31) / 32; ++w) b.warps[w].arrivals = 0;
  if (b.fibers.size() < b.threads) b.fibers.resize(b.threads, Fiber{});
  for (unsigned t = 0; t < b.threads; ++t) start_fiber(b.fibers[t], &b, t);
  const uint3 d = blockDim_;
  // Odd blocks run their threads last to first: a read of shared memory that another thread
  // writes in the same phase (a missing barrier) then sees different data in different blocks.
  const bool reverse = (blockIdx_.x + blockIdx_.y + blockIdx_.z) % 2 == 1;
  for (;;) {
    bool ran = false;
    for (unsigned i = 0; i < b.threads; ++i) {
      const unsigned t = reverse ? b.threads - 1 - i : i;
      if (b.fibers[t].state != RUNNABLE) continue;
      b.current = t;
      threadIdx_ = uint3{t % d.x, t / d.x % d.y, t / (d.x * d.y)};
      pkemu_switch(&b.schedulerSp, b.fibers[t].sp);
      if (!b.error.empty()) return b.error;
      ran = true;
    }
    if (b.done == b.threads) return overflowed(b);
    if (!ran) return describe_stall(b);
  }
}

Block& this_block() {
  if (t_block == nullptr) {
    fprintf(stderr, "[emulated-cuda] a device function ran outside a kernel launch\n");
    abort();
  }
  return *t_block;
}

// The lane a shuffle of `mode` reads for `lane`, within segments of `width` lanes (CUDA's rules:
// down/up do not wrap, xor may not read a later segment, idx reads its own segment).
unsigned source_lane(unsigned lane, ShuffleMode mode, int arg, int width) {
  const unsigned w = (unsigned)width;
  switch (mode) {
    case SHFL_DOWN: return (lane % w) + (unsigned)arg >= w ? lane : lane + (unsigned)arg;
    case SHFL_UP: return (lane % w) < (unsigned)arg ? lane : lane - (unsigned)arg;
    case SHFL_XOR: {
      const unsigned src = lane ^ (unsigned)arg;
      return src / w > lane / w ? lane : src;
    }
    case SHFL_IDX: return lane / w * w + (unsigned)arg % w;
  }
  return lane;
}

}  // namespace

void syncthreads(const char* file, int line) {
  Block& b = this_block();
  if (b.done > 0) {
    fail_block(b, "barrier divergence: " + thread_name(b, b.current) + " reached __syncthreads at " + where(file, line) +
                      " after " + std::to_string(b.done) + " of " + std::to_string(b.threads) +
                      " threads of the block had exited");
  }
  if (b.barrierArrivals == 0) {
    b.barrierFile = file;
    b.barrierLine = line;
  } else if (b.barrierLine != line || strcmp(b.barrierFile, file) != 0) {
    fail_block(b, "barrier divergence: threads of one block wait at different __syncthreads (" +
                      where(b.barrierFile, b.barrierLine) + " and " + where(file, line) + ")");
  }
  if (++b.barrierArrivals == b.threads) {
    b.barrierArrivals = 0;
    for (unsigned t = 0; t < b.threads; ++t) {
      if (b.fibers[t].state == AT_BARRIER) b.fibers[t].state = RUNNABLE;
    }
    return;  // the last to arrive goes on; the others run in the scheduler's next pass
  }
  b.fibers[b.current].state = AT_BARRIER;
  yield(b);
}

uint64_t shuffle(unsigned mask, uint64_t bits, ShuffleMode mode, int arg, int width, const char* file, int line) {
  Block& b = this_block();
  const unsigned lane = b.current % 32;
  const unsigned warp = b.current / 32;
  const unsigned lanes = b.threads - warp * 32 < 32 ? b.threads - warp * 32 : 32;
  const unsigned existing = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
  const std::string site = where(file, line);
  if ((mask >> lane & 1u) == 0) fail_block(b, "shuffle at " + site + ": lane " + std::to_string(lane) + " is not in its mask");
  if ((mask & ~existing) != 0) {
    fail_block(b, "shuffle at " + site + ": mask names lanes that do not exist (block of " + std::to_string(b.threads) +
                      " threads)");
  }
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    fail_block(b, "shuffle at " + site + ": width " + std::to_string(width) + " is not a power of 2 up to 32");
  }
  Warp& w = b.warps[warp];
  if (w.arrivals == 0) {
    w.mask = mask;
    w.file = file;
    w.line = line;
  } else if (w.line != line || strcmp(w.file, file) != 0 || w.mask != mask) {
    fail_block(b, "warp divergence: lanes of warp " + std::to_string(warp) + " meet at different shuffles (" +
                      where(w.file, w.line) + " and " + site + ")");
  }
  Fiber& f = b.fibers[b.current];
  f.value = bits;
  f.mode = mode;
  f.arg = arg;
  f.width = width;
  if (++w.arrivals < __builtin_popcount(mask)) {
    f.state = AT_SHUFFLE;
    yield(b);
    return f.value;
  }
  // The last lane computes every lane's result from the operands of all.
  uint64_t results[32];
  for (unsigned l = 0; l < 32; ++l) {
    if ((mask >> l & 1u) == 0) continue;
    const Fiber& g = b.fibers[warp * 32 + l];
    const unsigned src = source_lane(l, g.mode, g.arg, g.width);
    if ((mask >> src & 1u) == 0) {
      fail_block(b, "shuffle at " + site + ": lane " + std::to_string(l) + " reads lane " + std::to_string(src) +
                        ", which is not in the mask");
    }
    results[l] = b.fibers[warp * 32 + src].value;
  }
  for (unsigned l = 0; l < 32; ++l) {
    if ((mask >> l & 1u) == 0) continue;
    Fiber& g = b.fibers[warp * 32 + l];
    g.value = results[l];
    if (g.state == AT_SHUFFLE) g.state = RUNNABLE;
  }
  w.arrivals = 0;
  return f.value;
}

std::string run_grid(const KernelEntry& kernel, const void* packed, uint3 grid, uint3 block) {
  const int64_t blocks = (int64_t)grid.x * grid.y * grid.z;
  const unsigned threads = block.x * block.y * block.z;
  static const int team = [] {
    const char* env = getenv("PKEMU_THREADS");
    const int n = env ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
  }();
  std::atomic<bool> failed{false};
  std::mutex m;
  std::string first;
#pragma omp parallel for schedule(dynamic, 1) num_threads(blocks < team ? (int)blocks : team) if (blocks > 1)
  for (int64_t i = 0; i < blocks; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    thread_local Block b;
    blockDim_ = block;
    gridDim_ = grid;
    blockIdx_ = uint3{(unsigned)(i % grid.x), (unsigned)(i / grid.x % grid.y), (unsigned)(i / ((int64_t)grid.x * grid.y))};
    b.threads = threads;
    b.kernel = &kernel;
    b.args = packed;
    t_block = &b;
    std::string e = run_block(b);
    t_block = nullptr;
    if (!e.empty()) {
      std::lock_guard<std::mutex> lock(m);
      if (!failed.exchange(true)) {
        first = "block (" + std::to_string(blockIdx_.x) + "," + std::to_string(blockIdx_.y) + "," +
                std::to_string(blockIdx_.z) + "): " + e;
      }
    }
  }
  return first;
}

}  // namespace pkemu
