// Host runtime of the CPU target: thread count control and aligned memory. Nothing GPU-specific.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
__attribute__((visibility("default"))) void pk_set_num_threads(int n) { omp_set_num_threads(n); }
__attribute__((visibility("default"))) int pk_get_num_threads(void) { return omp_get_max_threads(); }
// 64-byte alignment: one cache line, and what AVX-512 loads like. Size rounded up as aligned_alloc requires.
__attribute__((visibility("default"))) void* pk_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, rounded == 0 ? 64 : rounded);
}
__attribute__((visibility("default"))) void pk_free(void* p) { free(p); }
}
