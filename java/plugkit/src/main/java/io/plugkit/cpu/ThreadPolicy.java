package io.plugkit.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CPU target runs two thread pools: OpenMP's (the kernels) and OpenBLAS's (GEMM). By default
 * both spin after their work, so each steals the cores from the other: a conv (im2col, then
 * GEMM) measured 3-10x slower that way on 2 cores. Before either library loads, this sets
 * {@code OMP_WAIT_POLICY=PASSIVE} and {@code OPENBLAS_THREAD_TIMEOUT=4} (the shortest spin) in
 * the process environment, which both read when they initialise. Values the user set win.
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
      int unused = (int) setenv.invokeExact(a.allocateFrom("OMP_WAIT_POLICY"), a.allocateFrom("PASSIVE"), 0);
      unused = (int) setenv.invokeExact(a.allocateFrom("OPENBLAS_THREAD_TIMEOUT"), a.allocateFrom("4"), 0);
    } catch (Throwable t) {
      throw HostLibrary.rethrow(t);
    }
  }
}
