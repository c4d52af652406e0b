# plugkit build. `make` builds all, `make test` runs every test CI runs, `make demo` runs the
# main job, `make bench` the benchmarks, `make doctor` prints what plugkit finds on this machine.
SHELL := /bin/bash
.DEFAULT_GOAL := all

JDK := $(shell tools/find-jdk.sh)
ifeq ($(JDK),)
$(error No JDK >= 22 found: see the find-jdk message above)
endif
export JAVA_HOME := $(JDK)
JAVA := $(JDK)/bin/java --enable-native-access=ALL-UNNAMED
MVN := mvn -B -q -Dstyle.color=never
MVN_TEST := mvn -B --no-transfer-progress -Dstyle.color=never
# Extra Maven flags for `make test`, e.g. MVN_FLAGS=-Dplugkit.cuda.libs= to test a real GPU.
MVN_FLAGS ?=
export MAVEN_OPTS ?= --sun-misc-unsafe-memory-access=allow

NATIVE := build/native/linux-x86_64
KERNELS := $(sort $(wildcard cuda-kernels/*.cu))
HEADERS := $(wildcard cuda-kernels/include/plugkit/*.cuh)
RUNTIME := $(wildcard native/*.cpp)
HOST_OBJS := $(patsubst cuda-kernels/%.cu,build/obj/%.o,$(KERNELS)) $(patsubst native/%.cpp,build/obj/native_%.o,$(RUNTIME))

# x86-64-v3 (AVX2, FMA): every machine we target has it; the library is shipped in the jar.
CXXFLAGS := -O3 -march=x86-64-v3 -fno-math-errno -fno-trapping-math -fopenmp -fPIC -Wall -Icuda-kernels/include
# SASS for Ampere (sm_80's also runs on sm_86 and Ada's sm_89: same major version), Hopper and,
# where this nvcc knows them, Blackwell (sm_100 data centre, sm_120 workstation), plus PTX for
# anything newer (JIT by the driver). Separate sm_86/sm_89 SASS would push the GPU bundle past
# its budget (bundle + working tree under the device's 64 MiB) for scheduling tweaks only.
NVCC_ARCH := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
NVCC := $(shell command -v nvcc 2>/dev/null)
comma := ,
NVCC_CODES := $(if $(NVCC),$(shell nvcc --list-gpu-code 2>/dev/null))
NVCC_ARCH += $(foreach a,100 120,$(if $(filter sm_$(a),$(NVCC_CODES)),-gencode arch=compute_$(a)$(comma)code=sm_$(a)))

BENCH_CP := java/plugkit-bench/target/classes:java/plugkit-bench/target/lib/*

.PHONY: all native fatbin emulated-cuda java test demo bench doctor gpu-bundle fixtures clean

all: native fatbin java

native: $(NATIVE)/libplugkit_host.so

build/obj/%.o: cuda-kernels/%.cu $(HEADERS)
	@mkdir -p build/obj
	g++ -x c++ $(CXXFLAGS) -c $< -o $@

build/obj/native_%.o: native/%.cpp
	@mkdir -p build/obj
	g++ $(CXXFLAGS) -c $< -o $@

$(NATIVE)/libplugkit_host.so: $(HOST_OBJS)
	@mkdir -p $(NATIVE)
	g++ -shared -fopenmp -o $@ $^

# All kernel files go into one translation unit, hence one fatbin and one CUDA module.
build/all_kernels.cu: $(KERNELS)
	@mkdir -p build
	@printf '#include "%s"\n' $(abspath $(KERNELS)) > $@

fatbin:
ifeq ($(NVCC),)
	@echo "fatbin: nvcc not found on the PATH: building the CPU target only (the CUDA driver will be unavailable)."
else
	@$(MAKE) --no-print-directory $(NATIVE)/plugkit.fatbin
endif

$(NATIVE)/plugkit.fatbin: build/all_kernels.cu $(KERNELS) $(HEADERS)
	@mkdir -p $(NATIVE)
	nvcc -fatbin -O3 -std=c++17 -Icuda-kernels/include $(NVCC_ARCH) build/all_kernels.cu -o $@

# The emulated CUDA device (tests only): the kernels' GPU branches compiled by g++ against
# native/emulated-cuda/emulated_cuda.cuh, behind stand-in libcuda, cuBLAS, cuDNN and NCCL libraries.
# Maven's tests find them through PLUGKIT_CUDA_LIBS (see the root pom.xml).
EMU := build/emulated-cuda
EMU_SRC := native/emulated-cuda
EMU_FLAGS := -std=c++17 -O2 -g -fPIC -Wall -Wno-sign-compare -I$(EMU_SRC)
EMU_HEADERS := $(wildcard $(EMU_SRC)/*.h $(EMU_SRC)/*.cuh)

emulated-cuda: $(EMU)/libcuda.so.1 $(EMU)/libcublas.so.13 $(EMU)/libcudnn.so.9 $(EMU)/libnccl.so.2

$(EMU)/kernel_list.inc: $(KERNELS) $(EMU_SRC)/planted_faults.cu
	@mkdir -p $(EMU)
	@grep -ho 'PK_KERNEL void [a-z0-9_]*' $^ | awk '{print "PKEMU_KERNEL(" $$3 ")"}' > $@

$(EMU)/kernels.o: $(EMU_SRC)/kernels.cpp build/all_kernels.cu $(EMU)/kernel_list.inc $(KERNELS) $(HEADERS) $(EMU_HEADERS) \
                  $(EMU_SRC)/planted_faults.cu
	g++ $(EMU_FLAGS) -DPK_EMULATED_CUDA -Icuda-kernels/include -Ibuild -I$(EMU) -c $< -o $@

$(EMU)/%.o: $(EMU_SRC)/%.cpp $(EMU_HEADERS)
	@mkdir -p $(EMU)
	g++ $(EMU_FLAGS) -fopenmp -c $< -o $@

$(EMU)/libcuda.so.1: $(EMU)/kernels.o $(EMU)/blocks.o $(EMU)/device.o
	g++ -shared -fopenmp -Wl,-soname,libcuda.so.1 -o $@ $^

$(EMU)/libcublas.so.13: $(EMU)/cublas.o $(EMU)/libcuda.so.1
	g++ -shared -Wl,-soname,libcublas.so.13 -Wl,-rpath,'$$ORIGIN' -o $@ $^

$(EMU)/libcudnn.so.9: $(EMU)/cudnn.o $(EMU)/libcuda.so.1
	g++ -shared -Wl,-soname,libcudnn.so.9 -Wl,-rpath,'$$ORIGIN' -o $@ $^

$(EMU)/libnccl.so.2: $(EMU)/nccl.o $(EMU)/libcuda.so.1
	g++ -shared -pthread -Wl,-soname,libnccl.so.2 -Wl,-rpath,'$$ORIGIN' -o $@ $^

java: native fatbin
	$(MVN) -DskipTests install

test: native fatbin emulated-cuda
	$(MVN_TEST) $(MVN_FLAGS) install

demo: java
	$(JAVA) -cp '$(BENCH_CP)' io.plugkit.bench.Main demo

# `make bench ARGS="--filter conv2d"`: table, and build/bench/bench.{json,csv,png}; TORCH= drops PyTorch.
BENCH_OUT ?= build/bench
TORCH ?= --with-torch
bench: java
	$(JAVA) -cp '$(BENCH_CP)' io.plugkit.bench.Main bench --out $(BENCH_OUT) $(TORCH) $(ARGS)

doctor: java
	$(JAVA) -cp '$(BENCH_CP)' io.plugkit.bench.Main doctor

# Regenerates the PyTorch golden fixtures (needs Debian's python3-torch; see README).
fixtures:
	/usr/bin/python3 tools/fixtures/make_fixtures.py java/plugkit/src/test/resources/fixtures $(ONLY)

gpu-bundle: java
	tools/gpu/make-bundle.sh

clean:
	rm -rf build
	$(MVN) clean

# JMH benchmarks of the plug-in ops (java/plugkit-jmh), JMH's own options in ARGS, e.g.
# `make jmh ARGS="-f 1 -wi 1 -i 2 Blur"` (a regex picks benchmarks; `ARGS=-h` lists the options).
# JMH forks with this JVM's flags, so --enable-native-access reaches the measured JVM too.
JMH_CP := java/plugkit-jmh/target/classes:java/plugkit-jmh/target/lib/*
.PHONY: jmh
jmh: java
	$(JAVA) --sun-misc-unsafe-memory-access=allow -cp '$(JMH_CP)' io.plugkit.jmh.Main $(ARGS)
