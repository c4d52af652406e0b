package io.plugkit.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CPU target has one thread pool: OpenMP's. OpenBLAS would start a pthreads pool of its own,
 * and two pools that spin after their work steal the cores from each other (a conv, im2col then
 * GEMM, measured 3-10x slower on 2 cores). So before OpenBLAS loads this sets
 * {@code OPENBLAS_NUM_THREADS=1} in the process environment (OpenBLAS then starts no pool), and
 * GEMMs are split across the OpenMP team instead ({@link HostLibrary#sgemm}).
 */
final class ThreadPolicy {
  private static boolean applied;

  private ThreadPolicy() {}

  static synchronized void apply() {
    if (applied) return;
    applied = true;
    Linker linker = Linker.nativeLinker();
    MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    try (Arena a = Arena.ofConfined()) {
      int unused = (int) setenv.invokeExact(a.allocateFrom("OPENBLAS_NUM_THREADS"), a.allocateFrom("1"), 1);
    } catch (Throwable t) {
      throw HostLibrary.rethrow(t);
    }
  }
}
