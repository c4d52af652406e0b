// Every kernel of cuda-kernels/, compiled with the GPU branches (PK_GPU = 1) against
// emulated_cuda.cuh, and a registry that makes each one launchable from cuLaunchKernel's
// void*[] of argument pointers: the signature, known here at compile time, says how many bytes
// to copy for each argument and which arguments are device pointers.
#include <stdio.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#include "emulator.h"

// The kernel sources, as one translation unit (the Makefile writes the list, as for nvcc), and
// the test kernels with planted faults.
#include "all_kernels.cu"
#include "planted_faults.cu"

namespace pkemu {
namespace {

template <typename F>
struct Signature;

template <typename... A>
struct Signature<void (*)(A...)> {
  using Args = std::tuple<std::decay_t<A>...>;
  static constexpr size_t N = sizeof...(A);

  template <size_t... I>
  static void* pack(void* const* p, std::index_sequence<I...>) {
    return new Args(*static_cast<const std::tuple_element_t<I, Args>*>(p[I])...);
  }

  template <size_t... I>
  static int pointers(const Args& a, const void** values, int* positions, int max, std::index_sequence<I...>) {
    int count = 0;
    auto add = [&](auto v, int position) {
      if constexpr (std::is_pointer_v<decltype(v)>) {
        if (count < max) {
          values[count] = (const void*)v;
          positions[count] = position;
        }
        ++count;
      }
    };
    (add(std::get<I>(a), (int)I), ...);
    return count;
  }
};

template <auto F>
KernelEntry entry(const char* name) {
  using S = Signature<decltype(F)>;
  using Args = typename S::Args;
  KernelEntry e;
  e.name = name;
  e.pack = [](void* const* p) -> void* { return S::pack(p, std::make_index_sequence<S::N>{}); };
  e.run = [](const void* packed) { std::apply(F, *static_cast<const Args*>(packed)); };
  e.release = [](void* packed) { delete static_cast<Args*>(packed); };
  e.pointers = [](const void* packed, const void** values, int* positions, int max) {
    return S::pointers(*static_cast<const Args*>(packed), values, positions, max, std::make_index_sequence<S::N>{});
  };
  return e;
}

#define PKEMU_KERNEL(name) entry<&name>(#name),
const KernelEntry KERNELS[] = {
#include "kernel_list.inc"
};
#undef PKEMU_KERNEL

}  // namespace

const KernelEntry* find_kernel(const char* name) {
  for (const KernelEntry& e : KERNELS) {
    if (strcmp(e.name, name) == 0) return &e;
  }
  return nullptr;
}

}  // namespace pkemu
