package io.plugkit.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.testing.ChildJvm;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * One thread budget for the process: PLUGKIT_THREADS and setThreads act on every thread that
 * calls in, and a ThreadLimit caps one Java thread's calls. Child JVMs: the environment is read
 * once per process, and OpenMP's worker threads are counted per process.
 */
class ThreadBudgetTest {
  // Not the core count, so that the process-wide setting is told apart from OpenMP's default.
  private static final int MANY = Runtime.getRuntime().availableProcessors() + 1;

  @Test
  void plugkitThreadsOneKeepsEveryThreadsTeamAtOne() throws Exception {
    assertTrue(runChild("1", 0, 0, 1).contains("ALL OK"));
  }

  @Test
  void setThreadsActsOnEveryThread() throws Exception {
    assertTrue(runChild(null, MANY, 0, MANY).contains("ALL OK"));
  }

  @Test
  void aThreadLimitCapsTheCallsOfItsThread() throws Exception {
    assertTrue(runChild(null, MANY, 1, 1).contains("ALL OK"));
  }

  @Test
  void aThreadLimitHoldsOnVirtualThreads() throws Exception {
    assertTrue(runChild(null, MANY, 1, 1, "virtual").contains("ALL OK"));
  }

  @Test
  void limitsNestOnlyDownwardsAndCloseInOrderOnTheirThread() throws Exception {
    CpuDriver cpu = CpuDriver.instance();
    int all = cpu.threads();
    try (ThreadLimit outer = CpuDriver.limitThreads(1)) {
      try (ThreadLimit inner = CpuDriver.limitThreads(4)) {
        assertEquals(1, inner.threads(), "an inner limit cannot raise the outer one");
        assertEquals(1, cpu.threads());
      }
      assertEquals(1, cpu.threads());
      ThreadLimit inner = CpuDriver.limitThreads(1);
      assertThrows(IllegalStateException.class, outer::close, "the outer limit closed first");
      AtomicReference<Throwable> elsewhere = new AtomicReference<>();
      Thread.ofVirtual().start(() -> elsewhere.set(catchThrowable(inner::close))).join();
      assertTrue(elsewhere.get() instanceof IllegalStateException, "closed on another thread: " + elsewhere.get());
      inner.close();
    }
    assertEquals(all, cpu.threads());
    // A virtual thread's limit is its own, whichever carrier runs it.
    AtomicInteger seen = new AtomicInteger();
    Thread v = Thread.ofVirtual().start(() -> {
      try (ThreadLimit l = CpuDriver.limitThreads(1)) {
        Thread.yield();
        seen.set(cpu.threads());
      }
    });
    assertEquals(all, cpu.threads());
    v.join();
    assertEquals(1, seen.get());
    var e = assertThrows(IllegalArgumentException.class, () -> CpuDriver.limitThreads(0));
    assertTrue(e.getMessage().startsWith("threads:"), e.getMessage());
  }

  private static Throwable catchThrowable(Runnable r) {
    try {
      r.run();
      return null;
    } catch (Throwable t) {
      return t;
    }
  }

  private static String runChild(String env, int threads, int limit, int team) throws Exception {
    return runChild(env, threads, limit, team, "platform");
  }

  private static String runChild(String env, int threads, int limit, int team, String kind) throws Exception {
    Map<String, String> vars = new HashMap<>();
    vars.put("PLUGKIT_THREADS", env);
    return ChildJvm.run(null, ThreadBudgetCheck.class, vars, 0, String.valueOf(threads), String.valueOf(limit),
        String.valueOf(team), kind);
  }
}
