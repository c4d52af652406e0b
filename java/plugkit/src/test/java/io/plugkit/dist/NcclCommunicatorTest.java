package io.plugkit.dist;

import static io.plugkit.testing.Rejects.assertRejects;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.DType;
import io.plugkit.Doctor;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.cuda.CudaDriver;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.cuda.LibraryLocator;
import io.plugkit.dist.Communicator.ReduceOp;
import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Drivers;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import io.plugkit.testing.ChildJvm;
import io.plugkit.testing.TestDevices;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NCCL collectives through {@link NcclCommunicator}, a thread per rank (and a process per rank in
 * {@link #twoProcessesMeetThroughAFile}): on the emulated device's stand-in NCCL in {@code make
 * test} (4 devices), or on real GPUs. Every rank must get the same bits: the fixed-order fold.
 */
class NcclCommunicatorTest {
  @BeforeAll static void needsNcclAndThreeDevices() {
    assumeTrue(Drivers.cudaUsable(), () -> "CUDA skipped: " + Drivers.cudaProblem());
    assumeTrue(CudaLibrary.instance().deviceCount() >= 3, "needs three CUDA devices");
    try {
      Nccl.instance();
    } catch (UnsupportedFeatureException e) {
      assumeTrue(false, e.getMessage());
    }
    EMULATED = Drivers.of(Device.cuda(0)).describe().contains("emulated CUDA device");
  }

  /** Counts each test as a CUDA case in the summary (and fails it where PLUGKIT_DEVICE=cuda finds no CUDA). */
  @BeforeEach void cudaCase() { TestDevices.assumeUsable(Device.cuda(0)); }

  private static final Kernel HOLD = Kernel.of("planted_hold", ArgKind.PTR);
  private static boolean EMULATED;

  private static Device[] devices(int n) {
    Device[] d = new Device[n];
    for (int i = 0; i < n; i++) d[i] = Device.cuda(i);
    return d;
  }

  private static void closeAll(List<NcclCommunicator> comms) {
    for (NcclCommunicator c : comms) c.close();
  }

  @Test void allReduceIsTheFixedOrderFoldBitForBitOnEveryRank() throws Exception {
    for (int ranks : new int[] {2, 3}) {
      List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(ranks));
      try {
        for (int n : new int[] {3 * 5 * 7, 1}) {
          float[][] x = new float[ranks][];
          for (int r = 0; r < ranks; r++) x[r] = NcclTesting.values(r, n);
          for (ReduceOp op : ReduceOp.values()) {
            List<float[]> got = NcclTesting.onRanks(comms, c -> {
              try (Scope s = Scope.open()) {
                Tensor t = Tensor.zeros(c.device(), n);
                // The collective must see this copy, enqueued on the rank thread's stream just before.
                t.copyFrom(x[c.rank()], 0);
                Tensor u = t.plus(Tensor.zeros(c.device(), n));
                c.allReduce(u, op).await();
                return u.toArray();
              }
            });
            float[] expected = NcclTesting.fold(x, op);
            for (int r = 0; r < ranks; r++) {
              assertArrayEquals(expected, got.get(r), ranks + " ranks, " + n + " values, " + op + ", rank " + r);
            }
          }
        }
        List<long[]> ints = NcclTesting.onRanks(comms, c -> {
          try (Scope s = Scope.open()) {
            Tensor t = Tensor.ofLongs(c.device(), new long[] {c.rank() + 1, -(1L << 40), 7L * c.rank()}, 3);
            c.allReduce(t, ReduceOp.SUM).await();
            return t.toLongArray();
          }
        });
        long sum = (long) ranks * (ranks + 1) / 2;
        long sevens = 7L * ranks * (ranks - 1) / 2;
        for (long[] v : ints) assertArrayEquals(new long[] {sum, -(1L << 40) * ranks, sevens}, v, "I64 sum");
      } finally {
        closeAll(comms);
      }
    }
  }

  /**
   * One tensor reused: each round a kernel (fill) on the rank's stream, then the collective on the
   * communicator's stream. Only the per-call event orders them once the block is known to both.
   */
  @Test void eachCollectiveWaitsForTheCallersEarlierKernels() throws Exception {
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(2));
    try {
      List<String> problems = NcclTesting.onRanks(comms, c -> {
        StringBuilder sb = new StringBuilder();
        try (Scope s = Scope.open()) {
          Tensor t = Tensor.zeros(c.device(), 200_003);
          Tensor flag = Tensor.zeros(c.device(), 1);
          for (int round = 0; round < 4; round++) {
            // On the emulated device a planted kernel first holds the stream (40 million reads of a
            // zero flag), so a collective that does not wait reads the previous round's values.
            if (EMULATED) t.driver().launch(HOLD, 40, flag.address());
            t.fill(c.rank() + 10f * round);
            c.allReduce(t, ReduceOp.SUM).await();
            float want = 1 + 20f * round; // (0 + 10 round) + (1 + 10 round)
            float[] v = t.toArray();
            for (int i = 0; i < v.length; i += 9973) {
              if (v[i] != want) sb.append("round ").append(round).append(" [").append(i).append("] = ").append(v[i]).append("; ");
            }
          }
        }
        return sb.toString();
      });
      assertEquals(List.of("", ""), problems);
    } finally {
      closeAll(comms);
    }
  }

  @Test void broadcastAndAllGatherMoveEveryRanksBytes() throws Exception {
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(3));
    try {
      List<float[]> got = NcclTesting.onRanks(comms, c -> {
        try (Scope s = Scope.open()) {
          Tensor t = Tensor.of(c.device(), NcclTesting.values(c.rank(), 10), 2, 5);
          c.broadcast(t, 1).await();
          Tensor in = Tensor.of(c.device(), NcclTesting.values(10 + c.rank(), 3 * 1 * 5), 3, 1, 5);
          Tensor out = Tensor.empty(c.device(), DType.F32, Shape.of(3, 3, 1, 5));
          Communicator.Work w = c.allGather(in, out);
          Tensor ids = Tensor.ofLongs(c.device(), new long[] {c.rank() * 10L + 1}, 1);
          Tensor idsOut = Tensor.empty(c.device(), DType.I64, Shape.of(3, 1));
          Communicator.Work w2 = c.allGather(ids, idsOut);
          w.await();
          w2.await();
          float[] all = new float[10 + 45 + 3];
          System.arraycopy(t.toArray(), 0, all, 0, 10);
          System.arraycopy(out.toArray(), 0, all, 10, 45);
          long[] l = idsOut.toLongArray();
          for (int i = 0; i < 3; i++) all[55 + i] = l[i];
          return all;
        }
      });
      float[] expected = new float[58];
      System.arraycopy(NcclTesting.values(1, 10), 0, expected, 0, 10);
      for (int r = 0; r < 3; r++) System.arraycopy(NcclTesting.values(10 + r, 15), 0, expected, 10 + 15 * r, 15);
      for (int r = 0; r < 3; r++) expected[55 + r] = r * 10 + 1;
      for (int r = 0; r < 3; r++) assertArrayEquals(expected, got.get(r), "rank " + r);
    } finally {
      closeAll(comms);
    }
  }

  @Test void closeDestroysItsStreamAndTheTensorsItUsedStayUsable() throws Exception {
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(2));
    List<float[]> got = NcclTesting.onRanks(comms, c -> {
      try (Scope s = Scope.open()) {
        Tensor t = Tensor.of(c.device(), NcclTesting.values(c.rank(), 6), 6);
        c.allReduce(t, ReduceOp.SUM).await();
        long stream = c.stream();
        c.close();
        if (EMULATED) { // a destroyed handle is undefined behaviour on a real driver
          NativeException e = assertThrows(NativeException.class, () -> CudaLibrary.instance().streamSynchronize(stream));
          assertTrue(e.getMessage().contains("CUDA_ERROR_INVALID_HANDLE"), e.getMessage());
        }
        Tensor u = t.plus(t); // more work on, and then the free of, memory the collective used
        return u.toArray();
      }
    });
    float[] sum = NcclTesting.fold(new float[][] {NcclTesting.values(0, 6), NcclTesting.values(1, 6)}, ReduceOp.SUM);
    for (int i = 0; i < sum.length; i++) sum[i] = sum[i] + sum[i];
    for (int r = 0; r < 2; r++) assertArrayEquals(sum, got.get(r), "rank " + r);
  }

  @Test void reduceScatterGivesEachRankItsSliceOfTheFold() throws Exception {
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(3));
    try {
      float[][] x = new float[3][];
      for (int r = 0; r < 3; r++) x[r] = NcclTesting.values(20 + r, 3 * 2 * 5);
      for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX}) {
        List<float[]> got = NcclTesting.onRanks(comms, c -> {
          try (Scope s = Scope.open()) {
            Tensor in = Tensor.of(c.device(), x[c.rank()], 3, 2, 5);
            Tensor out = Tensor.empty(c.device(), DType.F32, Shape.of(2, 5));
            c.reduceScatter(in, out, op).await();
            return out.toArray();
          }
        });
        float[] all = NcclTesting.fold(x, op);
        for (int r = 0; r < 3; r++) {
          assertArrayEquals(Arrays.copyOfRange(all, 10 * r, 10 * r + 10), got.get(r), op + ", rank " + r);
        }
      }
      try (Scope s = Scope.open()) {
        NcclCommunicator c = comms.get(0);
        Tensor out = Tensor.zeros(Device.cuda(0), 2, 5);
        assertRejects("in", () -> c.reduceScatter(Tensor.zeros(Device.cuda(0), 2, 2, 5), out, ReduceOp.SUM));
        assertRejects("out", () -> c.reduceScatter(Tensor.zeros(Device.cuda(0), 3, 2, 5), Tensor.zeros(Device.cuda(1), 2, 5),
            ReduceOp.SUM));
        assertRejects("op", () -> c.reduceScatter(Tensor.zeros(Device.cuda(0), 3, 2, 5), out, null));
      }
    } finally {
      closeAll(comms);
    }
  }

  /** The pattern NCCL documents for one thread and several devices: ncclCommInitRank per device inside a group. */
  @Test void oneThreadInitialisesTwoRanksInAGroup() {
    Nccl nccl = Nccl.instance();
    byte[] id = nccl.uniqueId();
    assertEquals(Nccl.UNIQUE_ID_BYTES, id.length);
    long[] comms = new long[2];
    nccl.groupStart();
    for (int r = 0; r < 2; r++) {
      ((CudaDriver) Drivers.of(Device.cuda(r + 2))).makeContextCurrent();
      comms[r] = nccl.commInitRank(2, id, r);
    }
    nccl.groupEnd();
    for (int r = 0; r < 2; r++) {
      assertEquals(r, nccl.commUserRank(comms[r]));
      assertEquals(r + 2, nccl.commCuDevice(comms[r]));
      assertEquals(2, nccl.commCount(comms[r]));
      assertEquals(0, nccl.commAsyncError(comms[r]));
    }
    for (long c : comms) nccl.commDestroy(c);
  }

  @Test void ncclsOwnErrorsCarryItsText() {
    assumeTrue(EMULATED, "a bad id makes a real NCCL try to connect to garbage");
    NativeException e = assertThrows(NativeException.class, () -> Nccl.instance().commInitRank(2, new byte[128], 0));
    assertEquals("NCCL: ncclCommInitRank(rank 0 of 2) failed: ncclInvalidArgument (4): invalid argument (run with NCCL_DEBUG=WARN for "
        + "details) (commId is not a unique id from this NCCL's ncclGetUniqueId)", e.getMessage());
  }

  @Test void theDoctorNamesTheNcclFound() {
    Nccl nccl = Nccl.instance();
    assertTrue(Doctor.report().contains("NCCL (multi-GPU): " + Nccl.dotted(nccl.version()) + " at " + nccl.location() + "\n"),
        Doctor.report());
  }

  @Test void emptyTensorsAndOneRankAreNoOps() throws Exception {
    List<NcclCommunicator> one = NcclCommunicator.initAll(Device.cuda(2));
    try (Scope s = Scope.open()) {
      NcclCommunicator c = one.get(0);
      assertEquals(0, c.rank());
      assertEquals(1, c.size());
      assertEquals(Device.cuda(2), c.device());
      Tensor t = Tensor.of(c.device(), new float[] {1.5f, -2f}, 2);
      c.allReduce(t, ReduceOp.AVG).await();
      assertArrayEquals(new float[] {1.5f, -2f}, t.toArray());
      c.allReduce(Tensor.empty(c.device(), 0, 4), ReduceOp.SUM).await();
      c.broadcast(Tensor.empty(c.device(), 0), 0).await();
    } finally {
      closeAll(one);
    }
  }

  @Test void threadsMeetThroughTcpRendezvousWithInitRank() throws Exception {
    int port;
    try (ServerSocket free = new ServerSocket(0)) {
      port = free.getLocalPort();
    }
    Rendezvous rv = Rendezvous.tcp("127.0.0.1", port);
    List<float[]> got = NcclTesting.onRanks(List.of(0, 1), rank -> {
      try (NcclCommunicator c = NcclCommunicator.init(rank, 2, Device.cuda(rank + 1), rv); Scope s = Scope.open()) {
        Tensor t = Tensor.of(c.device(), NcclTesting.values(rank, 9), 9);
        c.allReduce(t, ReduceOp.SUM).await();
        return t.toArray();
      }
    });
    float[] expected = NcclTesting.fold(new float[][] {NcclTesting.values(0, 9), NcclTesting.values(1, 9)}, ReduceOp.SUM);
    assertArrayEquals(expected, got.get(0));
    assertArrayEquals(expected, got.get(1));
  }

  @Test void twoProcessesMeetThroughAFile(@TempDir Path dir) throws Exception {
    Path id = dir.resolve("nccl.id");
    ExecutorService pool = Executors.newFixedThreadPool(2); // both children at once, whatever the core count
    try {
      List<Future<String>> children = new ArrayList<>();
      for (int rank : new int[] {1, 0}) { // rank 1 first: it must wait for the file
        children.add(pool.submit(
            () -> ChildJvm.run(null, NcclRankCheck.class, Map.of(), 0, Integer.toString(rank), "2", id.toString())));
      }
      for (Future<String> c : children) {
        String out = c.get(150, TimeUnit.SECONDS);
        assertTrue(out.contains("ALL OK"), out);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test void badArgumentsAreRejectedBeforeNcclSeesThem() throws Exception {
    assertRejects("devices", () -> NcclCommunicator.initAll());
    assertRejects("devices", () -> NcclCommunicator.initAll(Device.cuda(0), Device.cuda(0)));
    assertRejects("devices", () -> NcclCommunicator.initAll(Device.cpu()));
    Rendezvous never = (rank, size, newId) -> { throw new AssertionError("must not be reached"); };
    assertRejects("rank", () -> NcclCommunicator.init(2, 2, Device.cuda(0), never));
    assertRejects("rank", () -> NcclCommunicator.init(-1, 2, Device.cuda(0), never));
    assertRejects("size", () -> NcclCommunicator.init(0, 0, Device.cuda(0), never));
    assertRejects("device", () -> NcclCommunicator.init(0, 1, Device.cpu(), never));
    assertRejects("rendezvous", () -> NcclCommunicator.init(0, 1, Device.cuda(0), null));
    assertRejects("rendezvous", () -> NcclCommunicator.init(0, 1, Device.cuda(0), (r, s, id) -> new byte[5]));
    assertRejects("port", () -> Rendezvous.tcp("127.0.0.1", 0));
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(2));
    try (Scope s = Scope.open()) {
      NcclCommunicator c = comms.get(1);
      Tensor ok = Tensor.zeros(Device.cuda(1), 2, 3);
      assertRejects("t", () -> c.allReduce(null, ReduceOp.SUM));
      assertRejects("t", () -> c.allReduce(Tensor.zeros(Device.cuda(0), 2, 3), ReduceOp.SUM));
      assertRejects("t", () -> c.allReduce(Tensor.zeros(Device.cpu(), 2, 3), ReduceOp.SUM));
      assertRejects("t", () -> c.allReduce(Tensor.empty(Device.cuda(1), DType.F16, Shape.of(4)), ReduceOp.SUM));
      assertRejects("op", () -> c.allReduce(ok, null));
      assertRejects("root", () -> c.broadcast(ok, 2));
      assertRejects("root", () -> c.broadcast(ok, -1));
      assertRejects("in", () -> c.allGather(Tensor.zeros(Device.cuda(0), 2, 3), Tensor.zeros(Device.cuda(1), 2, 2, 3)));
      assertRejects("out", () -> c.allGather(ok, Tensor.zeros(Device.cuda(1), 2, 3)));
      assertRejects("out", () -> c.allGather(ok, Tensor.zeros(Device.cuda(1), 3, 2, 3)));
      assertRejects("out", () -> c.allGather(ok, Tensor.empty(Device.cuda(1), DType.I64, Shape.of(2, 2, 3))));
      Tensor freed = Tensor.zeros(Device.cuda(1), 2);
      freed.close();
      assertRejects("t", () -> c.allReduce(freed, ReduceOp.SUM));
    } finally {
      closeAll(comms);
    }
    IllegalStateException closed = assertThrows(IllegalStateException.class, () -> {
      try (Scope s = Scope.open()) {
        comms.get(0).allReduce(Tensor.zeros(Device.cuda(0), 2), ReduceOp.SUM);
      }
    });
    assertTrue(closed.getMessage().contains("is closed"), closed.getMessage());
  }

  @Test void ranksThatDisagreeGetNcclsAsyncErrorOnEveryRank() throws Exception {
    assumeTrue(EMULATED, "a real NCCL does not check that ranks agree: it may hang or write garbage");
    List<NcclCommunicator> comms = NcclCommunicator.initAll(devices(2));
    try {
      List<String> got = NcclTesting.onRanks(comms, c -> {
        try (Scope s = Scope.open()) {
          Tensor t = Tensor.zeros(c.device(), 4 + c.rank()); // rank 1 sends one value more
          try {
            c.allReduce(t, ReduceOp.SUM).await();
            t.toArray(); // waits for the collective, which fails after it was enqueued
            c.allReduce(t, ReduceOp.SUM).await();
            return "no error";
          } catch (NativeException e) {
            return e.getMessage();
          }
        }
      });
      for (String m : got) {
        assertTrue(m.startsWith("NCCL: a collective (ncclCommGetAsyncError) failed: ncclInvalidUsage (5): invalid usage"), m);
        assertTrue(m.contains("ranks disagree on collective 0") && m.contains("count 4") && m.contains("count 5"), m);
      }
    } finally {
      closeAll(comms); // aborts: the communicators have an async error
    }
  }

  /** A child JVM whose library folder holds libcuda but no libnccl: initAll must say NCCL is missing. */
  @Test void withoutNcclTheErrorSaysWhereItLooked(@TempDir Path dir) throws Exception {
    Path libcuda = Path.of(CudaLibrary.instance().location().replace(" (via the system loader)", ""));
    Files.createSymbolicLink(dir.resolve("libcuda.so.1"), libcuda.toAbsolutePath());
    String out = ChildJvm.run(null, NcclMissingCheck.class, Map.of(LibraryLocator.LIBS_VARIABLE, dir.toString()), 0);
    assumeTrue(!out.contains("NCCL LOADED"), () -> "a system NCCL loads: " + out);
    assertTrue(out.contains("UnsupportedFeatureException: unsupported: NCCL not found: no [libnccl.so.2] loads; searched "
        + LibraryLocator.LIBS_VARIABLE + " [" + dir.toRealPath() + "]"), out);
    assertTrue(out.contains("nvidia-nccl-cu12"), out);
    assertTrue(out.contains("Doctor: NCCL (multi-GPU): not usable: unsupported: NCCL not found"), out);
  }

  @Test void theLocatorFindsNcclsPythonWheel(@TempDir Path root) throws Exception {
    Path lib = Files.createDirectories(root.resolve("usr/lib/python3.12/site-packages/nvidia/nccl/lib"));
    Files.writeString(lib.resolve("libnccl.so.2"), "");
    LibraryLocator locator = LibraryLocator.forEnvironment(Map.of(), root, root.resolve("home"));
    assertEquals(List.of(lib.resolve("libnccl.so.2").toRealPath()), locator.files(Nccl.SONAMES));
  }

  @Test void versionIsNcclTwo() {
    int v = Nccl.instance().version();
    assertTrue(Nccl.dotted(v).startsWith("2."), Nccl.dotted(v));
    assertEquals("2.26.3", Nccl.dotted(22603));
    assertEquals("2.8.4", Nccl.dotted(2804));
    assertEquals(List.of("libnccl.so.2"), Nccl.SONAMES);
  }
}
