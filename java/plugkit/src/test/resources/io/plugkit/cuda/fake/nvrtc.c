// Fake libnvrtc.so.13 for the NVRTC fallback: checks what plugkit asks for (the fake device is
// compute capability 9.0, so sm_90; C++17; device code by default; the whole program with its
// named headers) and "compiles" to "FAKE-CUBIN sm_90 ...", which the fake libcuda loads.
// FAKE_NVRTC_FAIL=1 fails like a compile error; FAKE_LOG=1 logs every call.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define LOG(...) do { if (getenv("FAKE_LOG")) { fprintf(stderr, "[fakenvrtc] " __VA_ARGS__); fputc('\n', stderr);} } while (0)
typedef struct { char* src; int headers; int has_portable, has_stdint, has_math; char log[512]; char image[64]; } Program;
int nvrtcVersion(int* major, int* minor) { *major = 13; *minor = 0; return 0; }
const char* nvrtcGetErrorString(int rc) { return rc == 6 ? "NVRTC_ERROR_COMPILATION" : rc == 5 ? "NVRTC_ERROR_INVALID_OPTION" : "NVRTC_ERROR_FAKE"; }
int nvrtcGetNumSupportedArchs(int* n) { *n = 5; return 0; }
int nvrtcGetSupportedArchs(int* a) { int k[] = {75, 80, 86, 89, 90}; memcpy(a, k, sizeof k); return 0; }
int nvrtcCreateProgram(Program** p, const char* src, const char* name, int n, const char* const* texts, const char* const* names) {
  LOG("nvrtcCreateProgram %s with %d headers", name, n);
  *p = calloc(1, sizeof(Program)); (*p)->src = strdup(src); (*p)->headers = n;
  for (int i = 0; i < n; i++) {
    if (!strcmp(names[i], "plugkit/portable.cuh") && strstr(texts[i], "#define PK_KERNEL")) (*p)->has_portable = 1;
    if (!strcmp(names[i], "stdint.h") && strstr(texts[i], "typedef long long int64_t;")) (*p)->has_stdint = 1;
    if (!strcmp(names[i], "math.h") && strstr(texts[i], "#define INFINITY")) (*p)->has_math = 1;
  }
  return 0;
}
int nvrtcCompileProgram(Program* p, int n, const char* const* opts) {
  int arch = 0, std = 0, dev = 0;
  for (int i = 0; i < n; i++) {
    LOG("nvrtcCompileProgram option %s", opts[i]);
    if (!strcmp(opts[i], "--gpu-architecture=sm_90")) arch = 1;
    if (!strcmp(opts[i], "-std=c++17")) std = 1;
    if (!strcmp(opts[i], "-default-device")) dev = 1;
    if (strstr(opts[i], "fast")) { snprintf(p->log, sizeof p->log, "fake: fast math asked for: %s", opts[i]); return 6; }
  }
  if (getenv("FAKE_NVRTC_FAIL")) { snprintf(p->log, sizeof p->log, "fill.cu(5): error: fake compile error\n1 error detected"); return 6; }
  if (!arch || !std || !dev) { snprintf(p->log, sizeof p->log, "fake: options lack sm_90 (%d), c++17 (%d) or -default-device (%d)", arch, std, dev); return 6; }
  if (!strstr(p->src, "PK_KERNEL void fill_f32") || !strstr(p->src, "#line 1 \"softmax.cu\"") || !strstr(p->src, "#include <math.h>")) {
    snprintf(p->log, sizeof p->log, "fake: the program lacks fill_f32, softmax.cu or <math.h>"); return 6; }
  if (!p->has_portable || !p->has_stdint || !p->has_math) {
    snprintf(p->log, sizeof p->log, "fake: headers lack portable.cuh (%d), stdint.h (%d) or math.h (%d)", p->has_portable, p->has_stdint, p->has_math); return 6; }
  snprintf(p->image, sizeof p->image, "FAKE-CUBIN sm_90 from %zu bytes", strlen(p->src));
  snprintf(p->log, sizeof p->log, "fake: compiled");
  return 0;
}
int nvrtcGetProgramLogSize(Program* p, size_t* n) { *n = strlen(p->log) + 1; return 0; }
int nvrtcGetProgramLog(Program* p, char* log) { strcpy(log, p->log); return 0; }
int nvrtcGetCUBINSize(Program* p, size_t* n) { LOG("nvrtcGetCUBINSize"); *n = strlen(p->image) + 1; return p->image[0] ? 0 : 5; }
int nvrtcGetCUBIN(Program* p, char* out) { strcpy(out, p->image); return 0; }
int nvrtcGetPTXSize(Program* p, size_t* n) { return 5; }
int nvrtcGetPTX(Program* p, char* out) { return 5; }
int nvrtcDestroyProgram(Program** p) { LOG("nvrtcDestroyProgram"); free((*p)->src); free(*p); *p = 0; return 0; }
