package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.Arrays;
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

  /** The most elements one parameter or buffer may hold: its initial values are one Java float[]. */
  static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

  /**
   * Validates a constructor's sizes before anything is allocated: throws an
   * IllegalArgumentException naming {@code args} (the constructor arguments the sizes come from)
   * when {@code what} of these (positive) sizes would exceed {@link #MAX_ELEMENTS} elements.
   * Multiplying the ints would overflow instead (an ArithmeticException deep in Tensor).
   */
  static void checkSize(String args, String what, long... dims) {
    double product = 1;
    for (long d : dims) product *= d;
    if (product > MAX_ELEMENTS) {
      throw new IllegalArgumentException(args + ": expected sizes whose " + what + " " + Arrays.toString(dims)
          + " holds at most " + MAX_ELEMENTS + " elements (one Java array) but got " + String.format("%.4g", product)
          + " elements");
    }
  }

  static Tensor fanInUniform(Device device, long fanIn, int... dims) {
    float bound = fanIn > 0 ? (float) (1.0 / Math.sqrt(fanIn)) : 0f;
    return Tensor.uniform(device, SEED.getAndIncrement(), -bound, bound, dims);
  }
}
