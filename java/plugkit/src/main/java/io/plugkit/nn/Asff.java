package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Checks;
import io.plugkit.ops.FeatureFusion;
import io.plugkit.ops.Interpolate;
import io.plugkit.ops.InterpolateOptions;
import io.plugkit.ops.Layout;
import io.plugkit.ops.MaxPool2dOptions;
import io.plugkit.ops.Pooling;
import io.plugkit.ops.Reductions;
import io.plugkit.ops.Softmax;
import java.util.Arrays;

/**
 * Adaptively Spatial Feature Fusion (Liu et al., "Learning Spatial Fusion for Single-Shot Object
 * Detection", 2019) with the state dict names of GOATmessi7/ASFF's {@code ASFF(level, rfb, vis)}
 * (models/network_blocks.py), so a checkpoint's block loads 1:1.
 *
 * <p>Three pyramid levels come in, level 0 the coarsest: {@code x0 [N, dims[0], H, W]},
 * {@code x1 [N, dims[1], 2H, 2W]}, {@code x2 [N, dims[2], 4H, 4W]}. Block {@code level} resizes them
 * to its own map and width {@code inter = dims[level]}:
 * <ul>
 *   <li>level 0: {@code stride_level_1} (3x3 stride 2) on x1; a 3x3 stride-2 max pool (padding 1)
 *       then {@code stride_level_2} (3x3 stride 2) on x2;</li>
 *   <li>level 1: {@code compress_level_0} (1x1) on x0 then nearest x2; {@code stride_level_2} on x2;</li>
 *   <li>level 2: {@code compress_level_0} then nearest x4 on x0; nearest x2 on x1, after
 *       {@code compress_level_1} (1x1) only where {@code dims[1] != dims[2]} (the reference, with
 *       256 = 256, has no such layer).</li>
 * </ul>
 * The maps need not be exactly 1:2:4: as in the reference, a stride-2 conv or pool halves a side
 * rounding up, so level 0 also fuses 3x4, 5x7, 10x13 (upsampling is exact).
 * Then {@code weight_level_0..2} (1x1 to compressC = 8 with rfb, 16 without), the concatenation,
 * {@code weight_levels} (1x1 conv with bias to 3 logits), and the softmax-weighted sum, fused
 * ({@link FeatureFusion#asff}), then {@code expand} (3x3) to {@code outChannels}
 * [N, outChannels, size of level]. Every {@code add_conv} is {@link ConvBnLeaky}: keys
 * {@code conv.weight} and {@code batch_norm.*}.
 *
 * <p>The reference's dims are [512, 256, 256] and expand's widths 1024, 512, 256 by level:
 * {@link #Asff(int, boolean, boolean, Device)} builds exactly that block.
 */
public final class Asff extends Module {
  /** The reference's widths of levels 0, 1, 2. */
  public static final int[] REFERENCE_DIMS = {512, 256, 256};
  /** The reference's expand widths by level. */
  public static final int[] REFERENCE_OUT = {1024, 512, 256};

  private final int level;
  private final int[] dims;
  private final boolean vis;
  private final ConvBnLeaky strideLevel1;
  private final ConvBnLeaky strideLevel2;
  private final ConvBnLeaky compressLevel0;
  private final ConvBnLeaky compressLevel1;
  private final ConvBnLeaky expand;
  private final ConvBnLeaky[] weightLevel = new ConvBnLeaky[3];
  private final Conv2d weightLevels;

  /** The reference's block: dims [512, 256, 256], expand to 1024, 512 or 256. */
  public Asff(int level, boolean rfb, boolean vis, Device device) {
    this(level, REFERENCE_DIMS, checkLevel(level) >= 0 ? REFERENCE_OUT[level] : 0, rfb, vis, device);
  }

  /**
   * @param dims the channel widths of levels 0, 1, 2 (dims[level] is the fused width)
   * @param outChannels expand's output width
   * @param rfb compressC 8 instead of 16 (the reference's choice when RFB blocks precede ASFF)
   * @param vis whether {@link #forwardVis} is the intended use (kept as the reference's flag; both
   *     forwards work either way)
   */
  public Asff(int level, int[] dims, int outChannels, boolean rfb, boolean vis, Device device) {
    checkLevel(level);
    if (dims == null || dims.length != 3 || dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0) {
      throw new IllegalArgumentException("dims: expected three widths > 0 but got " + Arrays.toString(dims));
    }
    if (outChannels <= 0) throw new IllegalArgumentException("outChannels: expected > 0 but got " + outChannels);
    this.level = level;
    this.dims = dims.clone();
    this.vis = vis;
    int inter = dims[level];
    ConvBnLeaky s1 = null, s2 = null, c0 = null, c1 = null;
    if (level == 0) {
      s1 = registerModule("stride_level_1", new ConvBnLeaky(dims[1], inter, 3, 2, device));
      s2 = registerModule("stride_level_2", new ConvBnLeaky(dims[2], inter, 3, 2, device));
    } else if (level == 1) {
      c0 = registerModule("compress_level_0", new ConvBnLeaky(dims[0], inter, 1, 1, device));
      s2 = registerModule("stride_level_2", new ConvBnLeaky(dims[2], inter, 3, 2, device));
    } else {
      c0 = registerModule("compress_level_0", new ConvBnLeaky(dims[0], inter, 1, 1, device));
      if (dims[1] != inter) c1 = registerModule("compress_level_1", new ConvBnLeaky(dims[1], inter, 1, 1, device));
    }
    this.strideLevel1 = s1;
    this.strideLevel2 = s2;
    this.compressLevel0 = c0;
    this.compressLevel1 = c1;
    this.expand = registerModule("expand", new ConvBnLeaky(inter, outChannels, 3, 1, device));
    int compressC = rfb ? 8 : 16;
    for (int k = 0; k < 3; k++) {
      weightLevel[k] = registerModule("weight_level_" + k, new ConvBnLeaky(inter, compressC, 1, 1, device));
    }
    this.weightLevels = registerModule("weight_levels", new Conv2d(3 * compressC, 3, 1, 1, 1, true, device));
  }

  private static int checkLevel(int level) {
    if (level < 0 || level > 2) throw new IllegalArgumentException("level: expected 0, 1 or 2 but got " + level);
    return level;
  }

  public int level() { return level; }

  public int[] dims() { return dims.clone(); }

  public boolean vis() { return vis; }

  /**
   * ASFF fuses three levels, so its entry is {@link #forward(Tensor, Tensor, Tensor)}; one tensor is
   * rejected, as the reference's {@code forward(x_level_0, x_level_1, x_level_2)} rejects one argument.
   */
  @Override public Tensor forward(Tensor x) {
    throw new IllegalArgumentException("x: Asff fuses three levels, expected forward(x0, x1, x2) but got one tensor"
        + (x == null ? "" : " of shape " + x.shape()));
  }

  /** The fused block output [N, outChannels, size of level]. */
  public Tensor forward(Tensor x0, Tensor x1, Tensor x2) { return run(x0, x1, x2, false).out(); }

  /**
   * The reference's vis outputs: the block output, the softmax weights [N, 3, h, w] and the
   * channel sum of the fused map [N, h, w]. The weights are computed apart from the fused op here
   * (a softmax over the logits), only for this call.
   */
  public Fused forwardVis(Tensor x0, Tensor x1, Tensor x2) { return run(x0, x1, x2, true); }

  /** The block output, the softmax weights and the channel sum of the fused map. */
  public record Fused(Tensor out, Tensor weights, Tensor fusedSum) {}

  private Fused run(Tensor x0, Tensor x1, Tensor x2, boolean withVis) {
    checkLevels(x0, x1, x2);
    Tensor r0, r1, r2;
    if (level == 0) {
      r0 = x0;
      r1 = strideLevel1.forward(x1);
      r2 = strideLevel2.forward(Pooling.maxPool2d(x2, MaxPool2dOptions.kernel(3).stride(2).padding(1)));
    } else if (level == 1) {
      r0 = Interpolate.interpolate(compressLevel0.forward(x0), InterpolateOptions.scale(2));
      r1 = x1;
      r2 = strideLevel2.forward(x2);
    } else {
      r0 = Interpolate.interpolate(compressLevel0.forward(x0), InterpolateOptions.scale(4));
      r1 = Interpolate.interpolate(compressLevel1 != null ? compressLevel1.forward(x1) : x1, InterpolateOptions.scale(2));
      r2 = x2;
    }
    Tensor v = Layout.concat(1, weightLevel[0].forward(r0), weightLevel[1].forward(r1), weightLevel[2].forward(r2));
    Tensor logits = weightLevels.forward(v);
    Tensor fused = FeatureFusion.asff(logits, r0, r1, r2);
    Tensor out = expand.forward(fused);
    if (!withVis) return new Fused(out, null, null);
    return new Fused(out, Softmax.softmax(logits, 1), Reductions.sum(fused, new int[] {1}, false));
  }

  /**
   * Rejects levels whose resized maps would not agree for the fusion, before any native call. The
   * rule is the reference's: a level above is upsampled 2x or 4x (exact), a level below is halved
   * once or twice by a stride-2 conv or pool, rounding up, so level 0 takes 3x4, 5x7, 10x13 as well
   * as 3x4, 6x8, 12x16.
   */
  /** The size a side of level k's map has after this block resizes it to its level. */
  private long resized(int k, int size) {
    long s = size;
    for (int i = k; i < level; i++) s *= 2;  // nearest upsampling
    for (int i = level; i < k; i++) s = (s + 1) / 2;  // 3x3 stride-2 conv or pool, padding 1
    return s;
  }

  private void checkLevels(Tensor x0, Tensor x1, Tensor x2) {
    Tensor[] xs = {x0, x1, x2};
    for (int k = 0; k < 3; k++) {
      String name = "x" + k;
      Tensor x = xs[k];
      Checks.tensor(x, name);
      if (x.rank() != 4) {
        throw new IllegalArgumentException(name + ": expected [N, C, H, W] but got shape " + x.shape());
      }
      if (x.dim(1) != dims[k]) {
        throw new IllegalArgumentException(name + ": expected " + dims[k] + " channels (dims[" + k + "]) but got shape "
            + x.shape());
      }
      if (x.dim(2) == 0 || x.dim(3) == 0) {
        throw new IllegalArgumentException(name + ": expected H, W > 0 but got shape " + x.shape());
      }
      if (k > 0 && x.dim(0) != x0.dim(0)) {
        throw new IllegalArgumentException(name + ": expected batch " + x0.dim(0) + " (that of x0) but got shape "
            + x.shape());
      }
      if (!x.device().equals(x0.device())) {
        throw new IllegalArgumentException(name + ": expected device " + x0.device() + " (that of x0) but got " + x.device());
      }
    }
    // A level above must upsample to this level's map exactly (else this level's map is off); a
    // level below must halve to it.
    Tensor own = xs[level];
    for (int k = 0; k < 3; k++) {
      Tensor x = xs[k];
      long h = resized(k, x.dim(2));
      long w = resized(k, x.dim(3));
      if (k == level || h == own.dim(2) && w == own.dim(3)) continue;
      if (k < level) {
        throw new IllegalArgumentException("x" + level + ": expected " + h + "x" + w + " (x" + k + " upsampled "
            + (1 << level - k) + "x) but got shape " + own.shape());
      }
      throw new IllegalArgumentException("x" + k + ": expected a map that halving " + (k - level == 1 ? "once" : "twice")
          + " (rounding up) brings to x" + level + "'s " + own.dim(2) + "x" + own.dim(3) + " but got shape " + x.shape());
    }
  }

  /**
   * The reference's {@code add_conv(in, out, k, stride)}: {@code conv} (no bias, padding
   * (k - 1) / 2), {@code batch_norm}, {@code leaky} (LeakyReLU 0.1).
   */
  public static final class ConvBnLeaky extends Module {
    private final Conv2d conv;
    private final BatchNorm2d batchNorm;

    public ConvBnLeaky(int in, int out, int kernel, int stride, Device device) {
      this.conv = registerModule("conv", new Conv2d(in, out, kernel, kernel, 1, false, device)
          .stride(stride).padding((kernel - 1) / 2));
      this.batchNorm = registerModule("batch_norm", new BatchNorm2d(out, 0.1f, 1e-5f, device));
      registerModule("leaky", new LeakyReLU(0.1f));
    }

    @Override public Tensor forward(Tensor x) {
      return Activations.leakyRelu(batchNorm.forward(conv.forward(x)), 0.1f);
    }
  }
}
