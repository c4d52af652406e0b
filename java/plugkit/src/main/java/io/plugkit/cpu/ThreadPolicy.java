package io.plugkit.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CPU target's threads. One pool, OpenMP's: OpenBLAS would start a pthreads pool of its own,
 * and two pools that spin after their work steal the cores from each other (a conv, im2col then
 * GEMM, measured 3-10x slower on 2 cores). So before OpenBLAS loads this sets
 * {@code OPENBLAS_NUM_THREADS=1} in the process environment (OpenBLAS then starts no pool), and
 * GEMMs are split across the OpenMP team instead ({@link HostLibrary#sgemm}).
 *
 * <p>One budget: OpenMP's thread count is per OS thread, so it is not set once but passed with
 * every call ({@link #team}): the process-wide count, lowered by the calling Java thread's
 * {@link ThreadLimit}. That also holds for virtual threads, whose carrier can change between calls.
 */
final class ThreadPolicy {
  private static boolean applied;
  private static volatile int threads = Runtime.getRuntime().availableProcessors();

  private ThreadPolicy() {}

  static void setThreads(int n) { threads = n; }

  /** The team size of a call made now by the calling thread. */
  static int team() {
    int t = threads;
    int limit = ThreadLimit.current();
    return limit > 0 && limit < t ? limit : t;
  }

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
