package io.plugkit.ops;

/**
 * Options of {@link Interpolate#interpolate}: an output size or scale factors, the mode, and
 * alignCorners. {@code InterpolateOptions.size(14, 10).mode(Interpolate.Mode.BILINEAR)} or
 * {@code InterpolateOptions.scale(1.5).alignCorners(true).mode(Interpolate.Mode.BILINEAR)}.
 * Exactly one of size (outH, outW > 0) and scale (scaleH, scaleW > 0) is set; the other is 0.
 * Defaults as in PyTorch: mode NEAREST, alignCorners false, recomputeScaleFactor false.
 *
 * @param recomputeScaleFactor with scale factors: interpolate with the step in/out of the output
 *     size they give instead of 1/scale (PyTorch's recompute_scale_factor=True)
 */
public record InterpolateOptions(int outH, int outW, double scaleH, double scaleW, Interpolate.Mode mode,
    boolean alignCorners, boolean recomputeScaleFactor) {

  public InterpolateOptions {
    if (mode == null) throw new IllegalArgumentException("mode: expected an Interpolate.Mode but got null");
    boolean sized = outH != 0 || outW != 0;
    if (sized) {
      Checks.positive(outH, "outH");
      Checks.positive(outW, "outW");
      if (scaleH != 0 || scaleW != 0) {
        throw new IllegalArgumentException("scaleH: expected 0 when an output size is given but got " + scaleH + ", " + scaleW);
      }
    } else {
      positiveScale(scaleH, "scaleH");
      positiveScale(scaleW, "scaleW");
    }
  }

  private static void positiveScale(double s, String name) {
    if (!(s > 0) || Double.isInfinite(s)) {
      throw new IllegalArgumentException(name + ": expected a finite scale factor > 0 (or an output size) but got " + s);
    }
  }

  /** Output size (outH, outW). */
  public static InterpolateOptions size(int outH, int outW) {
    return new InterpolateOptions(outH, outW, 0, 0, Interpolate.Mode.NEAREST, false, false);
  }

  /** Scale factors: the output is floor(H * scaleH) x floor(W * scaleW). */
  public static InterpolateOptions scale(double scaleH, double scaleW) {
    return new InterpolateOptions(0, 0, scaleH, scaleW, Interpolate.Mode.NEAREST, false, false);
  }

  public static InterpolateOptions scale(double scale) { return scale(scale, scale); }

  public InterpolateOptions mode(Interpolate.Mode m) {
    return new InterpolateOptions(outH, outW, scaleH, scaleW, m, alignCorners, recomputeScaleFactor);
  }

  /** Only for BILINEAR and BICUBIC (the op rejects it with the other modes, as PyTorch does). */
  public InterpolateOptions alignCorners(boolean on) {
    return new InterpolateOptions(outH, outW, scaleH, scaleW, mode, on, recomputeScaleFactor);
  }

  public InterpolateOptions recomputeScaleFactor(boolean on) {
    return new InterpolateOptions(outH, outW, scaleH, scaleW, mode, alignCorners, on);
  }

  boolean hasSize() { return outH != 0; }
}
