package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.dist.Communicator;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;

/** Batch normalization with PyTorch's semantics (cuda-kernels/batchnorm.cu). */
public final class BatchNorm {
  static final Kernel STATS = Kernel.withBlock("batch_norm_stats", 256, PTR, PTR, PTR, PTR, PTR, I32, I32, I32, F32, F32);
  static final Kernel INVSTD = Kernel.of("batch_norm_invstd", PTR, PTR, F32);
  static final Kernel FORWARD = Kernel.of("batch_norm_forward", PTR, PTR, PTR, PTR, PTR, PTR, I32, I32);
  static final Kernel BACKWARD_REDUCE = Kernel.withBlock("batch_norm_backward_reduce", 256, PTR, PTR, PTR, PTR, PTR,
      PTR, I32, I32, I32);
  static final Kernel BACKWARD_DATA = Kernel.of("batch_norm_backward_data", PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR,
      I32, I32, F32, I32);
  static final Kernel MOMENTS = Kernel.withBlock("batch_norm_moments", 256, PTR, PTR, I32, I32, I32);
  static final Kernel GATHER_STATS = Kernel.of("batch_norm_gather_stats", PTR, PTR, PTR, PTR, PTR, PTR, I32, I32, F32, F32);

  private BatchNorm() {}

  /**
   * {@code y = (x - mean) / sqrt(var + eps) * weight + bias} per channel. x {@code [N, C, *]} (rank
   * >= 2; {@code [N, C]} works); runningMean, runningVar, weight, bias {@code [C]} or null; returns
   * the shape of x.
   * <ul>
   *   <li>training: mean and biased variance over N and the trailing dims; each running stat given
   *   is updated in place: {@code r = (1 - momentum) * r + momentum * s}, with the UNBIASED variance
   *   for runningVar. Needs more than one value per channel (N * prod(*) > 1) unless N is 0
   *   (an empty batch leaves the running stats untouched).</li>
   *   <li>eval: normalizes with runningMean and runningVar, which must both be given.</li>
   * </ul>
   * Records the backward of x, weight and bias (in training, through the batch statistics).
   */
  public static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
      boolean training, float momentum, float eps) {
    int spatial = checkArgs(x, runningMean, runningVar, weight, bias, momentum, eps);
    int channels = x.dim(1);
    int batch = x.dim(0);
    long count = (long) batch * spatial;
    if (training && count == 1) {
      throw new IllegalArgumentException("x: Expected more than 1 value per channel when training, got input size " + x.shape());
    }
    if (!training && runningMean == null) throw new IllegalArgumentException("runningMean: must be defined in evaluation mode");
    if (!training && runningVar == null) throw new IllegalArgumentException("runningVar: must be defined in evaluation mode");

    Driver d = x.driver();
    Tensor mean = Tensor.empty(x.device(), channels);
    Tensor invstd = Tensor.empty(x.device(), channels);
    if (training) {
      if (count > 0) {
        d.launch(STATS, channels, x.address(), mean.address(), invstd.address(),
            address(runningMean), address(runningVar), batch, channels, spatial, momentum, eps);
      }
    } else {
      d.copy(runningMean.address(), mean.address(), mean.byteSize());
      d.launch(INVSTD, channels, runningVar.address(), invstd.address(), eps);
    }
    Tensor y = Tensor.emptyLike(x);
    d.launch(FORWARD, x.numel(), x.address(), y.address(), mean.address(), invstd.address(), address(weight),
        address(bias), channels, spatial);
    return Autograd.record("batch_norm", y, g -> {
      boolean needSums = training || wants(weight) || wants(bias);
      Tensor sumDy = needSums ? Tensor.empty(x.device(), channels) : null;
      Tensor sumDyXhat = needSums ? Tensor.empty(x.device(), channels) : null;
      if (needSums) {
        d.launch(BACKWARD_REDUCE, channels, x.address(), g.address(),
            mean.address(), invstd.address(), sumDy.address(), sumDyXhat.address(), batch, channels, spatial);
      }
      Tensor dx = null;
      if (x.requiresGrad()) {
        dx = Tensor.emptyLike(x);
        d.launch(BACKWARD_DATA, x.numel(), x.address(), g.address(), mean.address(), invstd.address(), address(weight),
            address(sumDy), address(sumDyXhat), dx.address(), channels, spatial, count == 0 ? 0f : (float) (1.0 / count),
            training ? 1 : 0);
      }
      return new Tensor[] {dx, wants(weight) ? sumDyXhat : null, wants(bias) ? sumDy : null};
    }, x, weight, bias);
  }

  /**
   * Training-mode {@link #batchNorm} whose statistics are those of the union of every rank's batch
   * (torch.nn.SyncBatchNorm, PyTorch 1.13): each rank's per-channel count, mean and sum of squared
   * deviations are all-gathered and merged in rank order (ranks with an empty batch left out; batch
   * sizes may differ), the running stats move with the global unbiased variance, and the backward
   * all-reduces (SUM) the per-channel sums of dy and dy * xhat for dx. The weight and bias gradients
   * stay this rank's own: a data-parallel wrapper averages them with the other gradients. Every
   * rank must call it in the same order (two collectives: one here, one in the backward of x). With
   * one rank it is {@code batchNorm(..., true, ...)}, as in PyTorch. A global count of 1 gives a NaN
   * running variance, as PyTorch.
   */
  public static Tensor syncBatchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
      float momentum, float eps, Communicator comm) {
    if (comm == null) throw new IllegalArgumentException("comm: expected a Communicator but got null");
    int spatial = checkArgs(x, runningMean, runningVar, weight, bias, momentum, eps);
    if (!x.device().equals(comm.device())) {
      throw new IllegalArgumentException("x: expected a tensor on the communicator's device " + comm.device() + " but got one on " + x.device());
    }
    if (comm.size() == 1) return batchNorm(x, runningMean, runningVar, weight, bias, true, momentum, eps);
    int channels = x.dim(1);
    int batch = x.dim(0);
    Driver d = x.driver();
    Tensor stats = Tensor.empty(x.device(), 3, channels);
    d.launch(MOMENTS, channels, x.address(), stats.address(), batch, channels, spatial);
    Tensor gathered = Tensor.empty(x.device(), comm.size(), 3, channels);
    comm.allGather(stats, gathered).await();
    Tensor mean = Tensor.empty(x.device(), channels);
    Tensor invstd = Tensor.empty(x.device(), channels);
    Tensor invCount = Tensor.empty(x.device(), 1);
    d.launch(GATHER_STATS, channels, gathered.address(), mean.address(), invstd.address(), address(runningMean),
        address(runningVar), invCount.address(), comm.size(), channels, momentum, eps);
    Tensor y = Tensor.emptyLike(x);
    d.launch(FORWARD, x.numel(), x.address(), y.address(), mean.address(), invstd.address(), address(weight),
        address(bias), channels, spatial);
    long rowBytes = 4L * channels;
    return Autograd.record("sync_batch_norm", y, g -> {
      Tensor sums = Tensor.empty(x.device(), 2, channels); // {sum dy, sum dy * xhat}, this rank's
      d.launch(BACKWARD_REDUCE, channels, x.address(), g.address(), mean.address(), invstd.address(), sums.address(),
          sums.address() + rowBytes, batch, channels, spatial);
      Tensor dw = wants(weight) ? Tensor.empty(x.device(), channels) : null;
      Tensor db = wants(bias) ? Tensor.empty(x.device(), channels) : null;
      if (dw != null) d.copy(sums.address() + rowBytes, dw.address(), rowBytes);
      if (db != null) d.copy(sums.address(), db.address(), rowBytes);
      Tensor dx = null;
      if (x.requiresGrad()) {
        comm.allReduce(sums, Communicator.ReduceOp.SUM).await();
        Tensor scaled = Elementwise.mul(sums, invCount); // the global means: dx then takes invCount 1
        dx = Tensor.emptyLike(x);
        d.launch(BACKWARD_DATA, x.numel(), x.address(), g.address(), mean.address(), invstd.address(), address(weight),
            scaled.address(), scaled.address() + rowBytes, dx.address(), channels, spatial, 1f, 1);
      }
      return new Tensor[] {dx, dw, db};
    }, x, weight, bias);
  }

  /** The checks both batch norms share; returns the product of the trailing dims. */
  private static int checkArgs(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
      float momentum, float eps) {
    Checks.tensor(x, "x");
    if (x.rank() < 2) {
      throw new IllegalArgumentException("x: expected rank >= 2 ([N, C, *]) but got rank " + x.rank() + " (shape " + x.shape() + ")");
    }
    int channels = x.dim(1);
    perChannel(x, runningMean, "runningMean", channels);
    perChannel(x, runningVar, "runningVar", channels);
    perChannel(x, weight, "weight", channels);
    perChannel(x, bias, "bias", channels);
    if (!(eps >= 0f) || Float.isInfinite(eps)) throw new IllegalArgumentException("eps: expected a finite value >= 0 but got " + eps);
    if (!Float.isFinite(momentum)) throw new IllegalArgumentException("momentum: expected a finite value but got " + momentum);
    int batch = x.dim(0);
    long spatialLong = trailing(x);
    if (spatialLong > Integer.MAX_VALUE || (long) batch * spatialLong > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("x: expected at most 2^31-1 values per channel but got shape " + x.shape());
    }
    return (int) spatialLong;
  }

  private static void perChannel(Tensor x, Tensor t, String name, int channels) {
    if (t == null) return;
    Checks.rank(t, name, 1);
    Checks.sameDevice(x, "x", t, name);
    Checks.dim(t, name, 0, channels);
  }

  /** Product of the dims after the channel dim. */
  private static long trailing(Tensor x) {
    long s = 1;
    for (int i = 2; i < x.rank(); i++) s *= x.dim(i);
    return s;
  }

  private static boolean wants(Tensor t) { return t != null && t.requiresGrad(); }

  private static long address(Tensor t) { return t == null ? 0L : t.address(); }
}
