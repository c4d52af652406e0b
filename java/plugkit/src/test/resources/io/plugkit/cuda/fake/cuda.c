// Fake libcuda.so.1 for FakeCudaCheck: device memory is host memory, three known kernels run on
// the host ("probe" prints the arguments it received), entry points only through
// cuGetProcAddress_v2 at the CUDA 12.0 ABI; FAKE_LOG=1 logs the calls that order work.
// An allocation above 1 TiB is out of memory, to exercise the driver's trim-and-retry.
// FAKE_DRIVER_VERSION sets what cuDriverGetVersion reports (default 13000); FAKE_REFUSE_FATBIN=1
// refuses the fatbin as an old driver would (CUDA_ERROR_UNSUPPORTED_PTX_VERSION); an image from
// the fake NVRTC ("FAKE-CUBIN ...") always loads, anything else is CUDA_ERROR_INVALID_IMAGE.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
typedef int CUresult;
#define LOG(...) do { if (getenv("FAKE_LOG")) { fprintf(stderr, "[fakecuda] " __VA_ARGS__); fputc('\n', stderr);} } while (0)
CUresult cuDriverGetVersion(int* v) { const char* e = getenv("FAKE_DRIVER_VERSION"); *v = e ? atoi(e) : 13000; return 0; }
CUresult cuInit(unsigned f) { LOG("cuInit %u", f); return 0; }
CUresult cuDeviceGetCount(int* c) { *c = 1; return 0; }
CUresult cuDeviceGet(int* d, int o) { if (o != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char* n, int len, int d) { snprintf(n, len, "Fake H200"); return 0; }
CUresult cuDeviceGetAttribute(int* v, int a, int d) {
  switch (a) { case 16: *v = 132; return 0; case 75: *v = 9; return 0; case 76: *v = 0; return 0; case 115: *v = 1; return 0; }
  return 1;
}
CUresult cuDeviceTotalMem_v2(size_t* b, int d) { *b = (size_t)141 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void** c, int d) { *c = (void*)0x1234; return 0; }
CUresult cuCtxSetCurrent(void* c) { LOG("cuCtxSetCurrent %p", c); return c == (void*)0x1234 ? 0 : 201; }
CUresult cuCtxSynchronize(void) { LOG("cuCtxSynchronize"); return 0; }
CUresult cuStreamCreate(void** s, unsigned f) { *s = malloc(1); LOG("cuStreamCreate %p flags %u", *s, f); return f == 1 ? 0 : 1; }
CUresult cuStreamSynchronize(void* s) { LOG("cuStreamSynchronize %p", s); return 0; }
CUresult cuStreamDestroy_v2(void* s) { LOG("cuStreamDestroy %p", s); free(s); return 0; }
CUresult cuStreamWaitEvent(void* s, void* e, unsigned f) { LOG("cuStreamWaitEvent %p %p", s, e); return 0; }
CUresult cuEventCreate(void** e, unsigned f) { *e = malloc(1); return f == 2 ? 0 : 1; }
CUresult cuEventRecord(void* e, void* s) { LOG("cuEventRecord on %p", s); return 0; }
CUresult cuEventDestroy_v2(void* e) { free(e); return 0; }
CUresult cuDeviceGetDefaultMemPool(void** p, int d) { *p = (void*)0x5678; return 0; }
CUresult cuMemPoolSetAttribute(void* p, int a, void* v) { LOG("cuMemPoolSetAttribute %d = %llu", a, (unsigned long long)*(uint64_t*)v); return a == 4 ? 0 : 1; }
CUresult cuMemPoolTrimTo(void* p, size_t keep) { LOG("cuMemPoolTrimTo %zu", keep); return 0; }
CUresult cuMemAllocAsync(uint64_t* p, size_t n, void* s) {
  if (n > ((size_t)1 << 40)) return 2;
  *p = (uint64_t)malloc(n); LOG("cuMemAllocAsync %zu -> %llx on %p", n, (unsigned long long)*p, s); return 0; }
CUresult cuMemFreeAsync(uint64_t p, void* s) { LOG("cuMemFreeAsync %llx on %p", (unsigned long long)p, s); free((void*)p); return 0; }
CUresult cuMemcpyHtoDAsync_v2(uint64_t d, const void* h, size_t n, void* s) { memcpy((void*)d, h, n); return 0; }
CUresult cuMemcpyDtoHAsync_v2(void* h, uint64_t d, size_t n, void* s) { memcpy(h, (void*)d, n); return 0; }
CUresult cuMemcpyDtoDAsync_v2(uint64_t d, uint64_t src, size_t n, void* s) { memcpy((void*)d, (void*)src, n); return 0; }
CUresult cuMemsetD32Async(uint64_t d, unsigned v, size_t n, void* s) { for (size_t i = 0; i < n; i++) ((unsigned*)d)[i] = v; return 0; }
CUresult cuModuleLoadData(void** m, const void* img) {
  LOG("cuModuleLoadData %.16s", (const char*)img);
  if (!strncmp(img, "FAKEFATBIN", 10)) { if (getenv("FAKE_REFUSE_FATBIN")) return 222; }
  else if (strncmp(img, "FAKE-CUBIN sm_90 ", 17)) return 200;
  *m = (void*)0x9abc; return 0; }
CUresult cuModuleGetFunction(void** f, void* m, const char* name) {
  if (strcmp(name, "fill_f32") && strcmp(name, "axpy_f32") && strcmp(name, "add_f32") && strcmp(name, "probe")) return 500;
  *f = strdup(name); return 0; }
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shm, void* s, void** p, void** extra) {
  const char* name = f; int64_t n = *(int64_t*)p[0];
  LOG("launch %s n=%lld grid=%u,%u,%u block=%u,%u,%u shm=%u stream=%p", name, (long long)n, gx, gy, gz, bx, by, bz, shm, s);
  if (!strcmp(name, "fill_f32")) { float* x = *(float**)p[1]; float v = *(float*)p[2]; for (int64_t i = 0; i < n; i++) x[i] = v; }
  else if (!strcmp(name, "axpy_f32")) { float a = *(float*)p[1]; float* x = *(float**)p[2]; float* y = *(float**)p[3]; for (int64_t i = 0; i < n; i++) y[i] += a * x[i]; }
  else if (!strcmp(name, "add_f32")) { float* a = *(float**)p[1]; float* b = *(float**)p[2]; float* y = *(float**)p[3]; for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; }
  else if (!strcmp(name, "probe")) { fprintf(stderr, "[fakecuda] probe n=%lld ptr=%llx i32=%d f32=%g i64=%lld grid=%u block=%u\n", (long long)n, (unsigned long long)*(uint64_t*)p[1], *(int*)p[2], *(float*)p[3], (long long)*(int64_t*)p[4], gx, bx); }
  return 0;
}
CUresult cuGetErrorName(CUresult e, const char** s) {
  *s = e == 500 ? "CUDA_ERROR_NOT_FOUND" : e == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : e == 222 ? "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
     : e == 200 ? "CUDA_ERROR_INVALID_IMAGE" : "CUDA_ERROR_FAKE"; return 0; }
CUresult cuGetErrorString(CUresult e, const char** s) { *s = "fake error text"; return 0; }
struct entry { const char* name; void* fn; };
static struct entry table[] = {
  {"cuGetErrorName", cuGetErrorName}, {"cuGetErrorString", cuGetErrorString}, {"cuInit", cuInit},
  {"cuDeviceGetCount", cuDeviceGetCount}, {"cuDeviceGet", cuDeviceGet}, {"cuDeviceGetName", cuDeviceGetName},
  {"cuDeviceGetAttribute", cuDeviceGetAttribute}, {"cuDeviceTotalMem", cuDeviceTotalMem_v2},
  {"cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain}, {"cuCtxSetCurrent", cuCtxSetCurrent},
  {"cuCtxSynchronize", cuCtxSynchronize}, {"cuStreamCreate", cuStreamCreate}, {"cuStreamSynchronize", cuStreamSynchronize},
  {"cuStreamDestroy", cuStreamDestroy_v2},
  {"cuStreamWaitEvent", cuStreamWaitEvent}, {"cuEventCreate", cuEventCreate}, {"cuEventRecord", cuEventRecord},
  {"cuEventDestroy", cuEventDestroy_v2}, {"cuDeviceGetDefaultMemPool", cuDeviceGetDefaultMemPool},
  {"cuMemPoolSetAttribute", cuMemPoolSetAttribute}, {"cuMemPoolTrimTo", cuMemPoolTrimTo},
  {"cuMemAllocAsync", cuMemAllocAsync}, {"cuMemFreeAsync", cuMemFreeAsync}, {"cuMemcpyHtoDAsync", cuMemcpyHtoDAsync_v2},
  {"cuMemcpyDtoHAsync", cuMemcpyDtoHAsync_v2}, {"cuMemcpyDtoDAsync", cuMemcpyDtoDAsync_v2},
  {"cuMemsetD32Async", cuMemsetD32Async}, {"cuModuleLoadData", cuModuleLoadData},
  {"cuModuleGetFunction", cuModuleGetFunction}, {"cuLaunchKernel", cuLaunchKernel}, {0, 0}};
CUresult cuGetProcAddress_v2(const char* sym, void** pfn, int ver, uint64_t flags, int* status) {
  if (ver != 12000 || flags != 0) return 1;
  for (struct entry* e = table; e->name; e++) if (!strcmp(e->name, sym)) { *pfn = e->fn; *status = 0; return 0; }
  LOG("cuGetProcAddress_v2 unknown %s", sym); *pfn = 0; *status = 1; return 500;
}
