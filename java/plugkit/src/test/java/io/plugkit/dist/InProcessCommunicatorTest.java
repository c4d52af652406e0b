package io.plugkit.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.dist.Communicator.ReduceOp;
import io.plugkit.testing.Rejects;
import io.plugkit.testing.TestDevices;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The collectives' results, their agreement across ranks, and how a broken group fails. */
class InProcessCommunicatorTest {
  static Stream<Arguments> backendsAndDevices() {
    return Groups.factories().flatMap(f -> TestDevices.all().filter(f::runsOn).map(d -> Arguments.of(f, d)));
  }

  @ParameterizedTest(name = "{0} on {1}")
  @MethodSource("backendsAndDevices")
  void reductionsBroadcastAndGather(Groups.Backend backend, Device d) {
    TestDevices.assumeUsable(d);
    int n = 3;
    List<float[][]> out = RankThreads.run(backend.factory().create(n, d), comm -> {
      int r = comm.rank();
      Device rd = comm.device();
      float[][] res = new float[8][];
      // Exact small values: every op's result is known without rounding.
      for (ReduceOp op : ReduceOp.values()) {
        Tensor t = Tensor.of(rd, new float[] {r + 1, -(r + 1), r == 1 ? 0.5f : 2f, r == 2 ? Float.NaN : 1f}, 4);
        comm.allReduce(t, op).await();
        res[op.ordinal()] = t.toArray();
      }
      Tensor l = Tensor.ofLongs(rd, new long[] {r + 1, Long.MAX_VALUE - r}, 2);
      comm.allReduce(l, ReduceOp.MIN).await();
      long[] lm = l.toLongArray();
      Tensor l2 = Tensor.ofLongs(rd, new long[] {10L * r, 7}, 2);
      comm.allReduce(l2, ReduceOp.SUM).await();
      long[] ls = l2.toLongArray();
      res[5] = new float[] {lm[0], (float) (Long.MAX_VALUE - lm[1]), ls[0], ls[1]};
      Tensor b = Tensor.of(rd, new float[] {r, r, r}, 3);
      comm.broadcast(b, 1).await();
      res[6] = b.toArray();
      Tensor g = Tensor.empty(rd, DType.F32, Shape.of(n, 2));
      comm.allGather(Tensor.of(rd, new float[] {r, 10 * r}, 2), g).await();
      res[7] = g.toArray();
      return res;
    });
    for (int r = 0; r < n; r++) {
      float[][] res = out.get(r);
      assertArrayEquals(new float[] {6, -6, 4.5f, Float.NaN}, res[ReduceOp.SUM.ordinal()], "SUM rank " + r);
      assertArrayEquals(new float[] {6, -6, 2, Float.NaN}, res[ReduceOp.PROD.ordinal()], "PROD rank " + r);
      // NaN: the in-process group propagates it (torch.max); NCCL's fmaxf/fminf drop it.
      float lastMax = backend == Groups.NCCL ? 1f : Float.NaN;
      assertArrayEquals(new float[] {3, -1, 2, lastMax}, res[ReduceOp.MAX.ordinal()], "MAX rank " + r);
      assertArrayEquals(new float[] {1, -3, 0.5f, lastMax}, res[ReduceOp.MIN.ordinal()], "MIN rank " + r);
      assertArrayEquals(new float[] {2, -2, 1.5f, Float.NaN}, res[ReduceOp.AVG.ordinal()], "AVG rank " + r);
      assertArrayEquals(new float[] {1, 2, 30, 21}, res[5], "I64 MIN and SUM rank " + r);
      assertArrayEquals(new float[] {1, 1, 1}, res[6], "broadcast from rank 1, rank " + r);
      assertArrayEquals(new float[] {0, 0, 1, 10, 2, 20}, res[7], "allGather rank " + r);
    }
  }

  @ParameterizedTest(name = "{0} on {1}")
  @MethodSource("backendsAndDevices")
  void everyRankGetsTheSameBitsSummedInRankOrder(Groups.Backend backend, Device d) {
    TestDevices.assumeUsable(d);
    int n = 3;
    int len = 1000;
    float[][] inputs = new float[n][len];
    SplittableRandom rnd = new SplittableRandom(5);
    for (float[] in : inputs) for (int i = 0; i < len; i++) in[i] = (float) ((rnd.nextDouble() - 0.5) * Math.pow(10, rnd.nextInt(-4, 5)));
    List<float[]> out = RankThreads.run(backend.factory().create(n, d), comm -> {
      Tensor t = Tensor.of(comm.device(), inputs[comm.rank()], len);
      comm.allReduce(t, ReduceOp.SUM).await();
      return t.toArray();
    });
    for (int r = 1; r < n; r++) assertArrayEquals(DataParallelTrainingTest.bits(out.get(0)), DataParallelTrainingTest.bits(out.get(r)), "rank " + r);
    if (backend == Groups.IN_PROCESS) {
      // The in-process group's documented order: rank 0, 1, 2 summed in double, rounded once.
      for (int i = 0; i < len; i++) {
        assertEquals((float) (((double) inputs[0][i] + inputs[1][i]) + inputs[2][i]), out.get(0)[i], "element " + i);
      }
    }
  }

  @Test
  void laterRunsReuseTheRankThreads() {
    // Each platform thread keeps a CUDA stream and handles for the driver's life: runs must not
    // leave fresh threads behind. A run's threads are distinct; the next run's come from them.
    RankThreads.Task<Thread> meet = comm -> { // every rank waits for all: each needs a thread of its own
      comm.allReduce(Tensor.zeros(Device.cpu(), 1), ReduceOp.SUM).await();
      assertEquals("plugkit-rank-" + comm.rank(), Thread.currentThread().getName());
      return Thread.currentThread();
    };
    assertEquals(3, new java.util.HashSet<>(RankThreads.run(InProcessCommunicator.group(3, Device.cpu()), meet)).size());
    java.util.Set<Thread> alive = new java.util.HashSet<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) if (t.getName().startsWith("plugkit-rank")) alive.add(t);
    List<Thread> second = RankThreads.run(InProcessCommunicator.group(3, Device.cpu()), meet);
    assertTrue(alive.containsAll(second), "second run on " + second + ", threads alive before it " + alive);
  }

  @Test
  void differentCollectivesOnTheRanksFailOnEveryRank() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> RankThreads.run(
        InProcessCommunicator.group(2, Device.cpu()), comm -> {
          comm.allReduce(Tensor.zeros(Device.cpu(), comm.rank() == 0 ? 3 : 4), ReduceOp.SUM);
          return null;
        }));
    String all = e.getCause().getMessage() + " " + e.getSuppressed()[0].getMessage();
    assertTrue(e.getCause().getMessage().contains("collective #0 differs across ranks: rank 0 called allReduce(F32 [3], SUM), rank 1 called allReduce(F32 [4], SUM)"), all);
    assertEquals(1, e.getSuppressed().length, "both ranks failed: " + all);
  }

  @Test
  void aRankThatNeverComesTimesOutNamingIt() {
    List<InProcessCommunicator> g = InProcessCommunicator.group(List.of(Device.cpu(), Device.cpu()), Duration.ofMillis(300));
    long t0 = System.nanoTime();
    try (Scope s = Scope.open()) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.get(0).broadcast(Tensor.zeros(Device.cpu(), 2), 0));
      assertTrue(e.getMessage().contains("collective #0 broadcast(F32 [2], root 0) for rank(s) [1]"), e.getMessage());
      // The group is broken for good: the late rank fails at once instead of waiting.
      IllegalStateException late = assertThrows(IllegalStateException.class, () -> g.get(1).broadcast(Tensor.zeros(Device.cpu(), 2), 0));
      assertTrue(late.getMessage().contains("cannot complete"), late.getMessage());
    }
    assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "returned soon after the timeout");
  }

  @Test
  void aRankThatDiesEndsTheOthersWaitAtOnce() {
    long t0 = System.nanoTime();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> RankThreads.run(
        InProcessCommunicator.group(3, Device.cpu()), comm -> { // default timeout: 5 minutes
          if (comm.rank() == 1) throw new ArithmeticException("rank 1 broke");
          comm.allReduce(Tensor.zeros(Device.cpu(), 2), ReduceOp.SUM).await();
          return null;
        }));
    assertInstanceOf(ArithmeticException.class, e.getCause(), "the first failure is the cause");
    assertEquals(2, e.getSuppressed().length);
    for (Throwable t : e.getSuppressed()) assertTrue(t.getMessage().contains("rank 1 closed its communicator"), t.getMessage());
    assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "the others did not wait for the timeout");
  }

  @Test
  void rejectsBadArguments() {
    Rejects.assertRejects("size", () -> InProcessCommunicator.group(0, Device.cpu()));
    Rejects.assertRejects("timeout", () -> InProcessCommunicator.group(List.of(Device.cpu()), Duration.ZERO));
    Rejects.assertRejects("devices", () -> InProcessCommunicator.group(List.of(), Duration.ofSeconds(1)));
    InProcessCommunicator c = InProcessCommunicator.group(List.of(Device.cpu(), Device.cuda(0)), Duration.ofSeconds(1)).get(0);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.zeros(Device.cpu(), 2);
      Rejects.assertRejects("t", () -> c.allReduce(null, ReduceOp.SUM));
      Rejects.assertRejects("op", () -> c.allReduce(t, null));
      Rejects.assertRejects("op", () -> c.allReduce(Tensor.ofLongs(Device.cpu(), new long[] {1}, 1), ReduceOp.AVG));
      Rejects.assertRejects("root", () -> c.broadcast(t, 2));
      Rejects.assertRejects("root", () -> c.broadcast(t, -1));
      Rejects.assertRejects("out", () -> c.allGather(t, Tensor.zeros(Device.cpu(), 2, 3)));
      Rejects.assertRejects("out", () -> c.allGather(t, Tensor.ofLongs(Device.cpu(), new long[4], 2, 2)));
      Tensor freed = Tensor.zeros(Device.cpu(), 2);
      freed.close();
      Rejects.assertRejects("t", () -> c.broadcast(freed, 0));
    }
    assertEquals(Device.cuda(0), InProcessCommunicator.group(List.of(Device.cpu(), Device.cuda(0)), Duration.ofSeconds(1)).get(1).device());
    c.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
      try (Scope s = Scope.open()) {
        c.allReduce(Tensor.zeros(Device.cpu(), 1), ReduceOp.SUM);
      }
    });
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void aTensorOnAnotherDeviceIsRejected(Device d) {
    TestDevices.assumeUsable(d);
    Device other = d.isCuda() ? Device.cpu() : Device.cuda(0);
    InProcessCommunicator c = InProcessCommunicator.group(1, other).get(0);
    try (Scope s = Scope.open()) {
      Rejects.assertRejects("t", () -> c.allReduce(Tensor.zeros(d, 2), ReduceOp.SUM));
    }
  }
}
