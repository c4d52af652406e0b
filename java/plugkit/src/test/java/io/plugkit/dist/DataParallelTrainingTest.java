package io.plugkit.dist;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.nn.Init;
import io.plugkit.nn.Module;
import io.plugkit.ops.Losses;
import io.plugkit.optim.Adam;
import io.plugkit.optim.Optimizer;
import io.plugkit.optim.Sgd;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * N ranks of DistributedDataParallel with SyncBatchNorm train like one model on the concatenated
 * batch, and every rank ends with the same bits.
 */
class DataParallelTrainingTest {
  static final int C = 3;
  static final int H = 6;
  static final int W = 5;
  static final int PER_IMAGE = C * H * W;
  static final int STEPS = 3;
  // Three steps of FP32 training through two BatchNorms; the ranks' sums run in another order than
  // the single model's, so the two drift apart by rounding only.
  static final double ATOL = 2e-5;
  static final double RTOL = 2e-4;

  enum Opt {
    SGD(ps -> new Sgd(ps, new Sgd.Options(0.1f, 0.9f, 0f, 1e-3f, false, false))),
    ADAM(ps -> new Adam(ps, Adam.Options.lr(0.01f)));

    final Function<List<Tensor>, Optimizer> make;

    Opt(Function<List<Tensor>, Optimizer> make) { this.make = make; }
  }

  static Stream<Arguments> cases() {
    return Groups.factories().flatMap(f -> TestDevices.all().filter(f::runsOn).flatMap(d -> Stream.of(
        Arguments.of(f, d, 2, Opt.SGD, 2), Arguments.of(f, d, 3, Opt.ADAM, 1))));
  }

  /** Inputs and targets of every step: [STEPS][ranks * perRank] images. */
  record Data(float[][] x, long[][] y) {
    static Data make(int images, long seed) {
      SplittableRandom r = new SplittableRandom(seed);
      float[][] x = new float[STEPS][images * PER_IMAGE];
      long[][] y = new long[STEPS][images];
      for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < x[s].length; i++) x[s][i] = (float) (r.nextDouble() * 4 - 1.5);
        for (int i = 0; i < images; i++) y[s][i] = r.nextInt(3);
      }
      return new Data(x, y);
    }
  }

  @ParameterizedTest(name = "{2} ranks, {3}, batch {4} per rank, {0} on {1}")
  @MethodSource("cases")
  void equalsSingleRankTrainingOnTheConcatenatedBatch(Groups.Backend backend, Device device, int ranks, Opt opt, int perRank) {
    TestDevices.assumeUsable(device);
    Data data = Data.make(ranks * perRank, 7 + ranks);
    try (Scope model = Scope.open()) {
      // The reference: one model, the whole batch, local BatchNorm (one rank: the same statistics).
      Init.seed(1234);
      Module single = Groups.cnn(device);
      Optimizer singleOpt = opt.make.apply(single.parameters());
      float[] singleFirstGrad = null;
      for (int s = 0; s < STEPS; s++) {
        try (Scope step = Scope.open()) {
          singleOpt.zeroGrad();
          Tensor x = Tensor.of(device, data.x[s], ranks * perRank, C, H, W);
          Tensor y = Tensor.ofLongs(device, data.y[s], ranks * perRank);
          Losses.crossEntropy(single.forward(x), y).backward();
          if (s == 0) singleFirstGrad = single.parameters().get(0).grad().toArray();
          singleOpt.step();
        }
      }
      Map<String, float[]> expected = Groups.snapshot(single.stateDict());

      // The replicas start from different weights: the wrapper must copy rank 0's (seed 1234) to all.
      List<? extends Communicator> comms = backend.factory().create(ranks, device);
      List<Module> replicas = new ArrayList<>();
      for (int r = 0; r < ranks; r++) {
        Init.seed(r == 0 ? 1234 : 99 + r);
        replicas.add(Groups.cnn(comms.get(r).device()));
      }
      List<Object[]> results = RankThreads.run(comms, comm -> {
        int r = comm.rank();
        Device rd = comm.device();
        Module m = SyncBatchNorm.convert(replicas.get(r), comm);
        assertEquals(2, SyncBatchNorm.countSynced(m));
        DistributedDataParallel ddp = new DistributedDataParallel(m, comm,
            DistributedDataParallel.Options.defaults().withBucketBytes(256));
        Optimizer o = opt.make.apply(ddp.parameters());
        float[] firstGrad = null;
        for (int s = 0; s < STEPS; s++) {
          try (Scope step = Scope.open()) {
            o.zeroGrad();
            Tensor x = Tensor.of(rd, Groups.rows(data.x[s], PER_IMAGE, r * perRank, (r + 1) * perRank), perRank, C, H, W);
            Tensor y = Tensor.ofLongs(rd, Groups.rows(data.y[s], r * perRank, (r + 1) * perRank), perRank);
            Losses.crossEntropy(ddp.forward(x), y).backward();
            if (s == 0) firstGrad = ddp.parameters().get(0).grad().toArray();
            o.step();
          }
        }
        ddp.close();
        return new Object[] {Groups.snapshot(m.stateDict()), firstGrad};
      });

      assertTrue(replicas.get(0).parameters().size() >= 6);
      @SuppressWarnings("unchecked")
      Map<String, float[]> rank0 = (Map<String, float[]>) results.get(0)[0];
      assertClose(singleFirstGrad, (float[]) results.get(0)[1], ATOL, RTOL, "rank 0's averaged first conv weight gradient, step 1");
      assertEquals(expected.keySet(), rank0.keySet());
      for (var e : expected.entrySet()) assertClose(e.getValue(), rank0.get(e.getKey()), ATOL, RTOL, "rank 0 " + e.getKey());
      for (int r = 1; r < ranks; r++) {
        @SuppressWarnings("unchecked")
        Map<String, float[]> other = (Map<String, float[]>) results.get(r)[0];
        for (var e : rank0.entrySet()) {
          assertArrayEquals(bits(e.getValue()), bits(other.get(e.getKey())), "rank " + r + " " + e.getKey() + " bits = rank 0's");
        }
        assertArrayEquals(bits((float[]) results.get(0)[1]), bits((float[]) results.get(r)[1]), "rank " + r + " gradient bits");
      }
    }
  }

  static int[] bits(float[] v) {
    int[] out = new int[v.length];
    for (int i = 0; i < v.length; i++) out[i] = Float.floatToRawIntBits(v[i]);
    return out;
  }
}
