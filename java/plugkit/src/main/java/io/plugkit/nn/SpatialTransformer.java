package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.ops.GridSample;
import io.plugkit.ops.GridSample.Mode;
import io.plugkit.ops.GridSample.Padding;
import io.plugkit.ops.MaxPool2dOptions;
import java.lang.foreign.MemorySegment;

/**
 * Spatial transformer (Jaderberg et al. 2015) laid out as PyTorch's STN tutorial: a localisation
 * net predicts one affine transform per image, {@code theta [N, 2, 3]}, and the input is resampled
 * through it: {@code gridSample(x, affineGrid(theta, N, C, outH, outW))}.
 *
 * <p>Children (state dict names as in the tutorial): {@code localization} (any conv/pool/relu
 * {@link Sequential}, e.g. {@code localization.0.weight}) whose output, flattened per image, has
 * {@code features} values; {@code fc_loc} = Sequential(Linear(features, hidden), ReLU,
 * Linear(hidden, 6)) ({@code fc_loc.0.weight}, {@code fc_loc.2.bias}). The last linear layer starts
 * at the identity transform (weight 0, bias [1, 0, 0, 0, 1, 0]), so the untrained module returns
 * its input.
 *
 * <p>Shapes: x [N, C, H, W] -> [N, C, outH, outW] (by default outH = H, outW = W). Sampling
 * defaults are PyTorch's: bilinear, zeros padding, align_corners false; each can be set.
 */
public final class SpatialTransformer extends Module {
  private static final float[] IDENTITY = {1, 0, 0, 0, 1, 0};

  private final Sequential localization;
  private final Sequential fcLoc;
  private final int features;
  private Mode mode = Mode.BILINEAR;
  private Padding padding = Padding.ZEROS;
  private boolean alignCorners;
  private int outH;
  private int outW;

  /**
   * @param localization the localisation net; its output for one image must hold {@code features} values
   * @param features the flattened size of that output per image
   * @param hidden the width of fc_loc's hidden layer
   */
  public SpatialTransformer(Sequential localization, int features, int hidden, Device device) {
    if (localization == null) throw new IllegalArgumentException("localization: expected a Sequential but got null");
    if (features <= 0) throw new IllegalArgumentException("features: expected > 0 but got " + features);
    if (hidden <= 0) throw new IllegalArgumentException("hidden: expected > 0 but got " + hidden);
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    this.features = features;
    this.localization = registerModule("localization", localization);
    Linear last = new Linear(hidden, 6, true, device);
    last.weight().tensor().fill(0f);
    last.bias().tensor().copyFrom(MemorySegment.ofArray(IDENTITY));
    this.fcLoc = registerModule("fc_loc", new Sequential(new Linear(features, hidden, true, device), new ReLU(), last));
  }

  /**
   * The tutorial's network for [N, 1, 28, 28] images (MNIST): localization = Conv2d(1, 8, 7),
   * MaxPool2d(2), ReLU, Conv2d(8, 10, 5), MaxPool2d(2), ReLU (-> [N, 10, 3, 3]); fc_loc hidden 32.
   */
  public static SpatialTransformer tutorial(Device device) {
    Sequential localization = new Sequential(
        new Conv2d(1, 8, 7, 7, 1, true, device), new MaxPool2d(MaxPool2dOptions.kernel(2)), new ReLU(),
        new Conv2d(8, 10, 5, 5, 1, true, device), new MaxPool2d(MaxPool2dOptions.kernel(2)), new ReLU());
    return new SpatialTransformer(localization, 10 * 3 * 3, 32, device);
  }

  public SpatialTransformer mode(Mode m) {
    if (m == null) throw new IllegalArgumentException("mode: expected BILINEAR, NEAREST or BICUBIC but got null");
    mode = m;
    return this;
  }

  public SpatialTransformer padding(Padding p) {
    if (p == null) throw new IllegalArgumentException("padding: expected ZEROS, BORDER or REFLECTION but got null");
    padding = p;
    return this;
  }

  public SpatialTransformer alignCorners(boolean on) {
    alignCorners = on;
    return this;
  }

  /** Samples an output of outH x outW instead of the input's size. */
  public SpatialTransformer outputSize(int h, int w) {
    if (h <= 0 || w <= 0) throw new IllegalArgumentException("outputSize: expected sizes > 0 but got " + h + "x" + w);
    outH = h;
    outW = w;
    return this;
  }

  public Sequential localization() { return localization; }

  public Sequential fcLoc() { return fcLoc; }

  /** The predicted transforms: x [N, C, H, W] -> theta [N, 2, 3]. */
  public Tensor theta(Tensor x) {
    if (x == null) throw new IllegalArgumentException("x: expected a tensor but got null");
    if (x.rank() != 4) throw new IllegalArgumentException("x: expected rank 4 [N, C, H, W] but got shape " + x.shape());
    int n = x.dim(0);
    Tensor xs = localization.forward(x);
    long perImage = n == 0 ? features : xs.numel() / n;
    if (perImage != features) {
      throw new IllegalArgumentException("x: the localization net turns " + x.shape() + " into " + xs.shape() + ", "
          + perImage + " features per image, but fc_loc expects features = " + features);
    }
    return fcLoc.forward(xs.reshape(n, features)).reshape(n, 2, 3);
  }

  @Override public Tensor forward(Tensor x) {
    Tensor theta = theta(x);
    int h = outH > 0 ? outH : x.dim(2);
    int w = outW > 0 ? outW : x.dim(3);
    Tensor grid = GridSample.affineGrid(theta, x.dim(0), x.dim(1), h, w, alignCorners);
    return GridSample.gridSample(x, grid, mode, padding, alignCorners);
  }
}
