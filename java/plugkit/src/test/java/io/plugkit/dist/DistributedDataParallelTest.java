package io.plugkit.dist;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.dist.Communicator.ReduceOp;
import io.plugkit.dist.DistributedDataParallel.Options;
import io.plugkit.dist.DistributedDataParallel.UnusedParameters;
import io.plugkit.nn.Init;
import io.plugkit.nn.Linear;
import io.plugkit.nn.Module;
import io.plugkit.nn.Sequential;
import io.plugkit.ops.Losses;
import io.plugkit.testing.Rejects;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Buckets, their launch order during the backward, no_sync, unused parameters, local BatchNorm, mismatched replicas. */
class DistributedDataParallelTest {
  static final int C = DataParallelTrainingTest.C;
  static final int H = DataParallelTrainingTest.H;
  static final int W = DataParallelTrainingTest.W;
  static final int PER = DataParallelTrainingTest.PER_IMAGE;

  static Stream<Arguments> backendsAndDevices() {
    return Groups.factories().flatMap(f -> TestDevices.all().filter(f::runsOn).map(d -> Arguments.of(f, d)));
  }

  static float[] images(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n * PER];
    for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 4 - 1.5);
    return x;
  }

  static long[] labels(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    long[] y = new long[n];
    for (int i = 0; i < n; i++) y[i] = r.nextInt(3);
    return y;
  }

  static List<Module> replicas(int ranks, Device d) {
    return replicas(java.util.Collections.nCopies(ranks, d));
  }

  /** Rank r's replica on devices[r] (seed 1234 + r: the wrapper copies rank 0's weights). */
  static List<Module> replicas(List<Device> devices) {
    List<Module> out = new ArrayList<>();
    for (int r = 0; r < devices.size(); r++) {
      Init.seed(1234 + r);
      out.add(Groups.cnn(devices.get(r)));
    }
    return out;
  }

  static List<Device> devices(List<? extends Communicator> comms) {
    return comms.stream().map(Communicator::device).toList();
  }

  /** Loss of rank r's rows [r * per, (r + 1) * per) of the batch. */
  static Tensor loss(Module m, Device d, float[] x, long[] y, int from, int to) {
    Tensor xt = Tensor.of(d, Groups.rows(x, PER, from, to), to - from, C, H, W);
    return Losses.crossEntropy(m.forward(xt), Tensor.ofLongs(d, Groups.rows(y, from, to), to - from));
  }

  static List<float[]> grads(Module m) {
    List<float[]> out = new ArrayList<>();
    for (Tensor p : m.parameters()) out.add(p.grad() == null ? null : p.grad().toArray());
    return out;
  }

  @ParameterizedTest(name = "{0} on {1}")
  @MethodSource("backendsAndDevices")
  void bucketsLaunchInOrderDuringTheBackward(Groups.Backend backend, Device d) {
    TestDevices.assumeUsable(d);
    float[] x = images(4, 1);
    long[] y = labels(4, 2);
    try (Scope s = Scope.open()) {
      List<RecordingCommunicator> comms = backend.factory().create(2, d).stream().map(RecordingCommunicator::new).toList();
      List<Module> models = replicas(devices(comms));
      List<Object[]> out = RankThreads.run(comms, comm -> {
        RecordingCommunicator rec = (RecordingCommunicator) comm;
        Module m = SyncBatchNorm.convert(models.get(comm.rank()), comm);
        DistributedDataParallel ddp = new DistributedDataParallel(m, comm, Options.defaults().withBucketBytes(256));
        // Counted after the wrapper's own hooks: how many gradients were final when a collective started.
        AtomicInteger finals = new AtomicInteger();
        List<Autograd.Registration> counters = new ArrayList<>();
        for (Tensor p : m.parameters()) counters.add(Autograd.onGradientFinal(p, (leaf, got) -> finals.incrementAndGet()));
        rec.probe(finals::get);
        rec.calls().clear();
        loss(ddp, comm.device(), x, y, 2 * comm.rank(), 2 * comm.rank() + 2).backward();
        List<float[]> g = grads(m);
        ddp.close();
        counters.forEach(Autograd.Registration::close);
        return new Object[] {ddp.buckets(), ddp.bucketBytes(), rec.calls(ReduceOp.AVG), g, finals.get()};
      });
      // Reverse registration order; a bucket closes before the parameter that would take it past 256 bytes.
      assertEquals(List.of(List.of("8.bias", "8.weight", "4.bias", "4.weight"), List.of("3.weight"), List.of("1.bias", "1.weight"),
          List.of("0.weight")), out.get(0)[0]);
      assertEquals(List.of(4L * (3 + 15 + 5 + 5), 4L * 180, 4L * (4 + 4), 4L * 108), out.get(0)[1]);
      for (int r = 0; r < 2; r++) {
        @SuppressWarnings("unchecked")
        List<RecordingCommunicator.Call> avg = (List<RecordingCommunicator.Call>) out.get(r)[2];
        assertEquals(List.of(28L, 180L, 8L, 108L), avg.stream().map(RecordingCommunicator.Call::numel).toList(), "rank " + r + " launch order");
        int total = (int) out.get(r)[4];
        assertEquals(8, total);
        int last = -1;
        for (RecordingCommunicator.Call c : avg) {
          assertTrue(c.probe() > last && c.probe() < total,
              "rank " + r + ": bucket launched with " + c.probe() + " of " + total + " gradients final (during the backward, in order): " + avg);
          last = c.probe();
        }
        assertTrue(avg.get(0).probe() <= 4, "the first bucket went out while the convs' gradients were still to come");
        @SuppressWarnings("unchecked")
        List<float[]> g = (List<float[]>) out.get(r)[3];
        @SuppressWarnings("unchecked")
        List<float[]> g0 = (List<float[]>) out.get(0)[3];
        for (int i = 0; i < g.size(); i++) {
          assertArrayEquals(DataParallelTrainingTest.bits(g0.get(i)), DataParallelTrainingTest.bits(g.get(i)), "averaged when backward() returned");
        }
      }
    }
  }

  @Test
  void noSyncAccumulatesLocallyAndTheNextSyncedBackwardAveragesTheSum() {
    Device d = Device.cpu();
    float[] x1 = images(4, 3);
    float[] x2 = images(4, 4);
    long[] y1 = labels(4, 5);
    long[] y2 = labels(4, 6);
    try (Scope s = Scope.open()) {
      Init.seed(1234);
      Module single = Groups.cnn(d);
      loss(single, d, x1, y1, 0, 4).backward();
      loss(single, d, x2, y2, 0, 4).backward();
      List<float[]> expected = grads(single);
      List<Module> models = replicas(2, d);
      List<RecordingCommunicator> comms = InProcessCommunicator.group(2, d).stream().map(RecordingCommunicator::new).toList();
      List<Object[]> out = RankThreads.run(comms, comm -> {
        int r = comm.rank();
        RecordingCommunicator rec = (RecordingCommunicator) comm;
        try (DistributedDataParallel ddp = new DistributedDataParallel(SyncBatchNorm.convert(models.get(r), comm), comm)) {
          try (var off = ddp.noSync()) {
            loss(ddp, d, x1, y1, 2 * r, 2 * r + 2).backward();
          }
          int avgDuringNoSync = rec.calls(ReduceOp.AVG).size();
          List<float[]> local = grads(ddp);
          loss(ddp, d, x2, y2, 2 * r, 2 * r + 2).backward();
          return new Object[] {avgDuringNoSync, local, grads(ddp), rec.calls(ReduceOp.AVG).size()};
        }
      });
      for (int r = 0; r < 2; r++) {
        assertEquals(0, out.get(r)[0], "no gradient all-reduce inside noSync");
        assertEquals(1, out.get(r)[3], "one bucket (25 MiB default) after it");
        @SuppressWarnings("unchecked")
        List<float[]> g = (List<float[]>) out.get(r)[2];
        for (int i = 0; i < g.size(); i++) assertClose(expected.get(i), g.get(i), 2e-5, 2e-4, "rank " + r + " parameter " + i);
      }
      @SuppressWarnings("unchecked")
      List<float[]> l0 = (List<float[]>) out.get(0)[1];
      @SuppressWarnings("unchecked")
      List<float[]> l1 = (List<float[]>) out.get(1)[1];
      assertTrue(!java.util.Arrays.equals(l0.get(0), l1.get(0)), "inside noSync the ranks' gradients stay their own");
    }
  }

  /** Two heads; forward uses only the first. */
  static final class TwoHeads extends Module {
    final Linear used;

    TwoHeads(Device d) {
      used = registerModule("used", new Linear(4, 2, true, d));
      registerModule("unused", new Linear(4, 2, true, d));
    }

    @Override public Tensor forward(Tensor x) { return used.forward(x); }
  }

  @Test
  void anUnusedParameterIsAnErrorNamingItOrAZeroGradient() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      List<Module> models = List.of(new TwoHeads(d), new TwoHeads(d));
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> RankThreads.run(InProcessCommunicator.group(2, d), comm -> {
        try (DistributedDataParallel ddp = new DistributedDataParallel(models.get(comm.rank()), comm)) {
          Losses.mse(ddp.forward(Tensor.ones(d, 3, 4)), Tensor.zeros(d, 3, 2), Losses.Reduction.MEAN).backward();
        }
        return null;
      }));
      String m = e.getCause().getMessage();
      assertTrue(m.contains("[unused.bias, unused.weight] got no gradient") && m.contains("find_unused_parameters=False"), m);
      assertEquals(1, e.getSuppressed().length, "both ranks report it");

      List<Module> fresh = List.of(new TwoHeads(d), new TwoHeads(d));
      List<List<float[]>> out = RankThreads.run(InProcessCommunicator.group(2, d), comm -> {
        int r = comm.rank();
        try (var ddp = new DistributedDataParallel(fresh.get(r), comm, Options.defaults().withUnusedParameters(UnusedParameters.ZERO))) {
          Losses.mse(ddp.forward(Tensor.full(d, r + 1, 3, 4)), Tensor.zeros(d, 3, 2), Losses.Reduction.MEAN).backward();
          return grads(fresh.get(r));
        }
      });
      assertArrayEquals(new float[8], out.get(0).get(2), "unused.weight: zeros");
      assertArrayEquals(new float[2], out.get(1).get(3), "unused.bias: zeros");
      assertArrayEquals(out.get(0).get(0), out.get(1).get(0), "used.weight averaged");
    }
  }

  @Test
  void localBatchNormAveragesEachRanksOwnStatisticsGradients() {
    Device d = Device.cpu();
    float[] x = images(4, 7);
    long[] y = labels(4, 8);
    try (Scope s = Scope.open()) {
      // Expected: the mean over ranks of a single model's gradients on each rank's half alone.
      List<List<float[]>> perRank = new ArrayList<>();
      List<Map<String, float[]>> perRankState = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        Init.seed(1234);
        Module m = Groups.cnn(d);
        loss(m, d, x, y, 2 * r, 2 * r + 2).backward();
        perRank.add(grads(m));
        perRankState.add(Groups.snapshot(m.stateDict()));
      }
      Init.seed(1234);
      Module whole = Groups.cnn(d);
      loss(whole, d, x, y, 0, 4).backward();
      List<float[]> concatenated = grads(whole);

      List<Module> models = replicas(2, d);
      List<Object[]> out = RankThreads.run(InProcessCommunicator.group(2, d), comm -> {
        int r = comm.rank();
        try (var ddp = new DistributedDataParallel(models.get(r), comm)) { // BatchNorm stays local
          loss(ddp, d, x, y, 2 * r, 2 * r + 2).backward();
          Map<String, float[]> afterTraining = Groups.snapshot(models.get(r).stateDict());
          ddp.eval();
          ddp.forward(Tensor.of(d, Groups.rows(x, PER, 0, 1), 1, C, H, W)); // broadcasts rank 0's buffers first
          return new Object[] {grads(ddp), afterTraining, Groups.snapshot(models.get(r).stateDict())};
        }
      });
      double maxDiff = 0;
      for (int r = 0; r < 2; r++) {
        @SuppressWarnings("unchecked")
        List<float[]> g = (List<float[]>) out.get(r)[0];
        for (int i = 0; i < g.size(); i++) {
          float[] mean = new float[g.get(i).length];
          for (int j = 0; j < mean.length; j++) mean[j] = (perRank.get(0).get(i)[j] + perRank.get(1).get(i)[j]) / 2;
          assertClose(mean, g.get(i), 2e-5, 2e-4, "rank " + r + " parameter " + i);
          for (int j = 0; j < mean.length; j++) maxDiff = Math.max(maxDiff, Math.abs(g.get(i)[j] - concatenated.get(i)[j]));
        }
        @SuppressWarnings("unchecked")
        Map<String, float[]> trained = (Map<String, float[]>) out.get(r)[1];
        assertClose(perRankState.get(r).get("1.running_mean"), trained.get("1.running_mean"), 1e-6, 1e-5, "rank " + r + " own running mean");
        @SuppressWarnings("unchecked")
        Map<String, float[]> synced = (Map<String, float[]>) out.get(r)[2];
        assertArrayEquals(perRankState.get(0).get("1.running_mean"), synced.get("1.running_mean"), 1e-6f, "rank 0's buffers after the next forward");
      }
      assertTrue(maxDiff > 1e-3, "local statistics give other gradients than the concatenated batch's: " + maxDiff);
    }
  }

  @ParameterizedTest(name = "{0} on {1}")
  @MethodSource("backendsAndDevices")
  void unequalBatchesWeighEachRanksMeanLossEqually(Groups.Backend backend, Device d) {
    TestDevices.assumeUsable(d);
    int[] starts = {0, 3, 4}; // rank 0: 3 images, rank 1: 1
    float[] x = images(4, 9);
    long[] y = labels(4, 10);
    try (Scope s = Scope.open()) {
      // PyTorch's semantics: the average of the ranks' mean losses, i.e. on the whole batch a
      // per-image weight of 1 / (ranks * its rank's batch size); SyncBatchNorm sees all 4 images.
      Init.seed(1234);
      Module single = Groups.cnn(d);
      Tensor perImage = Losses.crossEntropy(single.forward(Tensor.of(d, x, 4, C, H, W)), Tensor.ofLongs(d, y, 4),
          Losses.CrossEntropyOptions.defaults().withReduction(Losses.Reduction.NONE));
      Tensor weights = Tensor.of(d, new float[] {1f / 6, 1f / 6, 1f / 6, 1f / 2}, 4);
      io.plugkit.ops.Reductions.sum(io.plugkit.ops.Elementwise.mul(perImage, weights)).backward();
      List<float[]> expected = grads(single);
      List<? extends Communicator> comms = backend.factory().create(2, d);
      List<Module> models = replicas(devices(comms));
      List<List<float[]>> out = RankThreads.run(comms, comm -> {
        int r = comm.rank();
        try (var ddp = new DistributedDataParallel(SyncBatchNorm.convert(models.get(r), comm), comm)) {
          loss(ddp, comm.device(), x, y, starts[r], starts[r + 1]).backward();
          return grads(ddp);
        }
      });
      for (int r = 0; r < 2; r++) {
        for (int i = 0; i < expected.size(); i++) assertClose(expected.get(i), out.get(r).get(i), 2e-5, 2e-4, "rank " + r + " parameter " + i);
      }
    }
  }

  @Test
  void replicasThatDifferAreRejectedOnEveryRank() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      List<Module> shapes = List.of(new Linear(4, 3, true, d), new Linear(4, 2, true, d));
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> RankThreads.run(InProcessCommunicator.group(2, d),
          comm -> new DistributedDataParallel(shapes.get(comm.rank()), comm)));
      assertInstanceOf(IllegalArgumentException.class, e.getCause());
      assertEquals("module: parameter 'weight' has shape [3, 4] on rank 0 but [2, 4] on rank 1 (every rank must wrap the same architecture)",
          e.getCause().getMessage());
      assertEquals(e.getCause().getMessage(), e.getSuppressed()[0].getMessage());

      List<Module> counts = List.of(new Linear(4, 3, true, d), new Sequential(new Linear(4, 3, true, d), new Linear(3, 3, true, d)));
      e = assertThrows(IllegalStateException.class, () -> RankThreads.run(InProcessCommunicator.group(2, d),
          comm -> new DistributedDataParallel(counts.get(comm.rank()), comm)));
      assertTrue(e.getCause().getMessage().contains("rank 0 has 2 parameters and 0 buffers, rank 1 has 4 and 0"), e.getCause().getMessage());

      Module m = new Linear(4, 3, true, d);
      Communicator one = InProcessCommunicator.group(1, d).get(0);
      Rejects.assertRejects("module", () -> new DistributedDataParallel(null, one));
      Rejects.assertRejects("comm", () -> new DistributedDataParallel(m, null));
      Rejects.assertRejects("module", () -> new DistributedDataParallel(m, InProcessCommunicator.group(1, Device.cuda(0)).get(0)));
      Rejects.assertRejects("bucketBytes", () -> Options.defaults().withBucketBytes(0));
      DistributedDataParallel ddp = new DistributedDataParallel(m, one);
      assertEquals(List.of("module.weight", "module.bias"), List.copyOf(ddp.stateDict().keySet()));
      assertEquals(List.of(List.of("bias", "weight")), ddp.buckets());
      ddp.close();
    }
  }
}
