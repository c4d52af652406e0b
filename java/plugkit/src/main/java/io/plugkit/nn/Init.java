package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * PyTorch's default initialisation of conv and linear layers: kaiming_uniform(a = sqrt(5)) for
 * the weight and U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for the bias — both reduce to
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)). Seeds come from one sequence, so a program builds the same
 * model every run; {@link #seed(long)} restarts it.
 */
public final class Init {
  private static final AtomicLong SEED = new AtomicLong(0x5eed);

  private Init() {}

  public static void seed(long seed) { SEED.set(seed); }

  static Tensor fanInUniform(Device device, int fanIn, int... dims) {
    float bound = fanIn > 0 ? (float) (1.0 / Math.sqrt(fanIn)) : 0f;
    return Tensor.uniform(device, SEED.getAndIncrement(), -bound, bound, dims);
  }
}
