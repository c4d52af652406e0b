package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.dist.Communicator;
import io.plugkit.ops.BatchNorm;
import java.lang.foreign.MemorySegment;

/**
 * torch.nn.BatchNorm2d (also BatchNorm1d's semantics for [N, C] and [N, C, L] inputs): parameters
 * {@code weight} (ones) and {@code bias} (zeros); buffers {@code running_mean} (zeros),
 * {@code running_var} (ones) and {@code num_batches_tracked} (I64 scalar). Training normalizes with
 * the batch statistics and updates the running ones with {@code momentum}; eval uses the running ones.
 *
 * <p>Data-parallel training: {@link #sync(Communicator)} switches training mode to
 * torch.nn.SyncBatchNorm's semantics (statistics of all ranks' batches together, see
 * {@link BatchNorm#syncBatchNorm}); {@code sync(null)} (the default) is local mode, each rank
 * normalizing with its own batch's statistics. {@link io.plugkit.dist.SyncBatchNorm#convert}
 * switches every BatchNorm2d of a model.
 */
public final class BatchNorm2d extends Module {
  private final Parameter weight;
  private final Parameter bias;
  private final Tensor runningMean;
  private final Tensor runningVar;
  private final Tensor batchesTracked;
  private final float momentum;
  private final float eps;
  private Communicator sync; // null: local statistics

  public BatchNorm2d(int channels) { this(channels, 0.1f, 1e-5f, Device.best()); }

  public BatchNorm2d(int channels, float momentum, float eps, Device device) {
    if (channels <= 0) throw new IllegalArgumentException("channels: expected > 0 but got " + channels);
    Init.checkSize("channels", "weight [channels]", channels);
    this.momentum = momentum;
    this.eps = eps;
    this.weight = registerParameter("weight", Tensor.ones(device, channels));
    this.bias = registerParameter("bias", Tensor.zeros(device, channels));
    this.runningMean = registerBuffer("running_mean", Tensor.zeros(device, channels));
    this.runningVar = registerBuffer("running_var", Tensor.ones(device, channels));
    this.batchesTracked = registerBuffer("num_batches_tracked", Tensor.ofLongs(device, new long[] {0}), false);
  }

  /**
   * Sync mode with {@code comm} (this rank's communicator; every rank's module must be in sync mode
   * on the same group and run its forwards and backwards in step), or local mode for null. Returns this.
   */
  public BatchNorm2d sync(Communicator comm) {
    sync = comm;
    return this;
  }

  public Parameter weight() { return weight; }

  public Parameter bias() { return bias; }

  public Tensor runningMean() { return runningMean; }

  public Tensor runningVar() { return runningVar; }

  public float eps() { return eps; }

  /** The communicator of sync mode, or null in local mode. */
  public Communicator syncCommunicator() { return sync; }

  @Override public Tensor forward(Tensor x) {
    Tensor y = isTraining() && sync != null
        ? BatchNorm.syncBatchNorm(x, runningMean, runningVar, weight.tensor(), bias.tensor(), momentum, eps, sync)
        : BatchNorm.batchNorm(x, runningMean, runningVar, weight.tensor(), bias.tensor(), isTraining(), momentum, eps);
    if (isTraining()) {
      // One long through the host: a tiny copy, kept exact as PyTorch's int64 counter.
      long[] count = batchesTracked.toLongArray();
      count[0]++;
      batchesTracked.copyFrom(MemorySegment.ofArray(count));
    }
    return y;
  }
}
