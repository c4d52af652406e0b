package io.plugkit.dist;

import static io.plugkit.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.nn.BatchNorm2d;
import io.plugkit.nn.Sequential;
import io.plugkit.ops.BatchNorm;
import io.plugkit.testing.Rejects;
import io.plugkit.testing.TestDevices;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * syncBatchNorm over R ranks equals batchNorm on the ranks' batches concatenated: output, running
 * statistics, dx (a sum loss), and the weight and bias gradients summed over ranks. Batch sizes
 * may differ, an empty one included.
 */
class SyncBatchNormTest {
  private static final double ATOL = 2e-5;
  private static final double RTOL = 1e-4;
  private static final float MOMENTUM = 0.3f;
  private static final float EPS = 1e-3f;

  static Stream<Arguments> cases() {
    return Groups.factories().flatMap(f -> TestDevices.all().filter(f::runsOn).flatMap(d -> Stream.of(
        Arguments.of(f, d, new int[] {2, 2}, new int[] {3, 4, 5}),
        Arguments.of(f, d, new int[] {3, 0, 1}, new int[] {5, 3, 2}), // an empty rank; odd sizes
        Arguments.of(f, d, new int[] {1, 2}, new int[] {2}))));      // [N, C]: one value per channel on rank 0
  }

  @ParameterizedTest(name = "batches {2}, [N, C, *] tail {3}, {0} on {1}")
  @MethodSource("cases")
  void equalsBatchNormOnTheConcatenatedBatch(Groups.Backend backend, Device d, int[] batches, int[] tail) {
    TestDevices.assumeUsable(d);
    int ranks = batches.length;
    int c = tail[0];
    int per = 1;
    for (int t : tail) per *= t;
    int total = 0;
    for (int b : batches) total += b;
    try (Scope s = Scope.open()) {
      int[] allShape = shape(total, tail);
      Tensor x = Tensor.uniform(d, 1, -2, 5, allShape).requiresGrad(true);
      Tensor w = Tensor.uniform(d, 2, 0.5f, 1.5f, c).requiresGrad(true);
      Tensor b = Tensor.uniform(d, 3, -1, 1, c).requiresGrad(true);
      Tensor rm = Tensor.uniform(d, 4, -1, 1, c);
      Tensor rv = Tensor.uniform(d, 5, 0.5f, 2, c);
      Tensor gout = Tensor.uniform(d, 6, -1, 1, allShape);
      float[] x0 = x.toArray();
      float[] w0 = w.toArray();
      float[] b0 = b.toArray();
      float[] rm0 = rm.toArray();
      float[] rv0 = rv.toArray();
      float[] g0 = gout.toArray();
      Tensor y = BatchNorm.batchNorm(x, rm, rv, w, b, true, MOMENTUM, EPS);
      y.backward(gout);
      float[] yAll = y.toArray();
      float[] dxAll = x.grad().toArray();

      int[] starts = new int[ranks + 1];
      for (int r = 0; r < ranks; r++) starts[r + 1] = starts[r] + batches[r];
      int perImage = per;
      List<float[][]> out = RankThreads.run(backend.factory().create(ranks, d), comm -> {
        int r = comm.rank();
        Device rd = comm.device();
        Tensor xr = Tensor.of(rd, Groups.rows(x0, perImage, starts[r], starts[r + 1]), shape(batches[r], tail)).requiresGrad(true);
        Tensor wr = Tensor.of(rd, w0, c).requiresGrad(true);
        Tensor br = Tensor.of(rd, b0, c).requiresGrad(true);
        Tensor rmr = Tensor.of(rd, rm0, c);
        Tensor rvr = Tensor.of(rd, rv0, c);
        Tensor yr = BatchNorm.syncBatchNorm(xr, rmr, rvr, wr, br, MOMENTUM, EPS, comm);
        yr.backward(Tensor.of(rd, Groups.rows(g0, perImage, starts[r], starts[r + 1]), shape(batches[r], tail)));
        return new float[][] {yr.toArray(), xr.grad().toArray(), wr.grad().toArray(), br.grad().toArray(), rmr.toArray(), rvr.toArray()};
      });
      float[] dw = new float[c];
      float[] db = new float[c];
      for (int r = 0; r < ranks; r++) {
        float[][] o = out.get(r);
        String at = "rank " + r;
        assertClose(Groups.rows(yAll, per, starts[r], starts[r + 1]), o[0], ATOL, RTOL, at + " y");
        assertClose(Groups.rows(dxAll, per, starts[r], starts[r + 1]), o[1], ATOL, RTOL, at + " dx");
        assertClose(rm.toArray(), o[4], ATOL, RTOL, at + " running mean");
        assertClose(rv.toArray(), o[5], ATOL, RTOL, at + " running var");
        assertArrayEquals(DataParallelTrainingTest.bits(out.get(0)[4]), DataParallelTrainingTest.bits(o[4]), at + " running mean bits");
        for (int i = 0; i < c; i++) {
          dw[i] += o[2][i];
          db[i] += o[3][i];
        }
      }
      assertClose(w.grad().toArray(), dw, ATOL, RTOL, "weight gradient summed over ranks");
      assertClose(b.grad().toArray(), db, ATOL, RTOL, "bias gradient summed over ranks");
    }
  }

  static int[] shape(int batch, int[] tail) {
    int[] s = new int[tail.length + 1];
    s[0] = batch;
    System.arraycopy(tail, 0, s, 1, tail.length);
    return s;
  }

  @Test
  void oneRankIsPlainBatchNormAndEvalModeCommunicatesNothing() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Communicator one = InProcessCommunicator.group(1, d).get(0);
      Tensor x = Tensor.uniform(d, 1, -2, 5, 3, 2, 2, 2);
      Tensor rm = Tensor.zeros(d, 2);
      Tensor rv = Tensor.ones(d, 2);
      Tensor rm2 = Tensor.zeros(d, 2);
      Tensor rv2 = Tensor.ones(d, 2);
      assertArrayEquals(BatchNorm.batchNorm(x, rm, rv, null, null, true, 0.1f, 1e-5f).toArray(),
          BatchNorm.syncBatchNorm(x, rm2, rv2, null, null, 0.1f, 1e-5f, one).toArray());
      assertArrayEquals(rv.toArray(), rv2.toArray());
      // Sync mode in eval: running statistics, no collective (a closed communicator would throw).
      List<? extends Communicator> two = InProcessCommunicator.group(2, d);
      two.get(0).close();
      BatchNorm2d bn = new BatchNorm2d(2, 0.1f, 1e-5f, d).sync(two.get(1));
      bn.eval();
      Tensor local = new BatchNorm2d(2, 0.1f, 1e-5f, d).eval().forward(x);
      assertArrayEquals(local.toArray(), bn.forward(x).toArray());
      Sequential net = new Sequential(new BatchNorm2d(2, 0.1f, 1e-5f, d), new Sequential(new BatchNorm2d(2, 0.1f, 1e-5f, d)));
      assertEquals(2, SyncBatchNorm.countSynced(SyncBatchNorm.convert(net, one)));
      assertEquals(0, SyncBatchNorm.countSynced(SyncBatchNorm.toLocal(net)));
      Rejects.assertRejects("comm", () -> SyncBatchNorm.convert(net, null));
      Rejects.assertRejects("comm", () -> BatchNorm.syncBatchNorm(x, null, null, null, null, 0.1f, 1e-5f, null));
      Rejects.assertRejects("x", () -> BatchNorm.syncBatchNorm(x, null, null, null, null, 0.1f, 1e-5f,
          InProcessCommunicator.group(1, Device.cuda(0)).get(0)));
      Rejects.assertRejects("weight", () -> BatchNorm.syncBatchNorm(x, null, null, Tensor.ones(d, 3), null, 0.1f, 1e-5f, one));
      // One value per channel with one rank: PyTorch's error (world size 1 falls back to batch_norm).
      Rejects.assertRejects("x", () -> BatchNorm.syncBatchNorm(Tensor.zeros(d, 1, 2), null, null, null, null, 0.1f, 1e-5f, one));
    }
  }
}
