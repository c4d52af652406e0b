package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Dropout, op id {@code dropout} (cuda-kernels/dropout.cu), with torch.nn.functional.dropout's
 * semantics: in training each value is kept with probability {@code 1 - p} and scaled by
 * {@code 1 / (1 - p)}, else zeroed (as PyTorch, by multiplying with the noise: a dropped NaN stays
 * NaN); {@code p = 1} gives zeros; in eval the input itself is returned.
 *
 * <p>The mask is a pure function of a 64-bit seed and the element index (counter-based), so the
 * CPU and CUDA give the same mask for one seed; it cannot match PyTorch's generator bit for bit.
 * Seeds without an explicit one come from one process-wide sequence, restarted by {@link #seed}
 * (as {@link io.plugkit.nn.Init#seed} does for initial weights), so a seeded program drops the same
 * values every run.
 */
public final class Dropout {
  static final Kernel FORWARD = Kernel.of("dropout_forward", PTR, PTR, I64, F32, F32);
  static final Kernel BACKWARD = Kernel.of("dropout_backward", PTR, PTR, I64, F32, F32);
  static final Kernel MASK = Kernel.of("dropout_mask", PTR, I64, F32, F32);

  private static final long GOLDEN = 0x9E3779B97F4A7C15L;
  private static final AtomicLong STATE = new AtomicLong(0x5eedd809L);

  private Dropout() {}

  /** Restarts the sequence the seeds of {@link #dropout(Tensor, float, boolean)} come from. */
  public static void seed(long seed) { STATE.set(seed); }

  /** The next seed of the process-wide sequence (splitmix64: well spread even for seeds 0, 1, 2). */
  public static long nextSeed() {
    long z = STATE.getAndAdd(GOLDEN) + GOLDEN;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** {@link #dropout(Tensor, float, boolean, long)} with the next seed of the sequence (drawn only in training). */
  public static Tensor dropout(Tensor x, float p, boolean training) {
    checkP(p);
    Checks.tensor(x, "x");
    return training ? dropout(x, p, true, nextSeed()) : x;
  }

  /**
   * F.dropout(x, p, training) with the mask of {@code seed}: any shape, F32; returns x itself when
   * not training. The gradient is {@code dy * noise}, the mask recomputed from the seed.
   */
  public static Tensor dropout(Tensor x, float p, boolean training, long seed) {
    checkP(p);
    Checks.tensor(x, "x");
    if (!training) return x;
    float scale = scale(p);
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(FORWARD, x.numel(), x.address(), y.address(), seed, p, scale);
    return Autograd.record("dropout", y, dy -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(BACKWARD, x.numel(), dy.address(), dx.address(), seed, p, scale);
      return new Tensor[] {dx};
    }, x);
  }

  /** The noise {@link #dropout(Tensor, float, boolean, long)} multiplies by: 0 or 1 / (1 - p) per value, the shape of {@code like}. */
  public static Tensor mask(Tensor like, float p, long seed) {
    checkP(p);
    Checks.tensor(like, "like");
    Tensor m = Tensor.emptyLike(like);
    like.driver().launch(MASK, m.numel(), m.address(), seed, p, scale(p));
    return m;
  }

  /** 1 / (1 - p) as PyTorch's noise.div_(1 - p); 0 for p = 1 (every value dropped). */
  private static float scale(float p) { return p == 1f ? 0f : (float) (1.0 / (1.0 - p)); }

  /** Rejects p outside [0, 1] (NaN included), as PyTorch does. */
  public static void checkP(float p) {
    if (!(p >= 0f && p <= 1f)) {
      throw new IllegalArgumentException("p: expected a dropout probability in [0, 1] but got " + p);
    }
  }
}
