package io.plugkit.ops;

/**
 * The validated sizes of one deform_conv2d call and the sizes derived from them (per image, per
 * group), shared by the forward and the backward.
 */
record DeformConvGeometry(int n, int channels, int height, int width, int outChannels, int kernelH, int kernelW,
    int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups, int offsetGroups,
    int outH, int outW, boolean useMask) {

  int kernelPoints() { return kernelH * kernelW; }

  int outHw() { return outH * outW; }

  /** Rows of one image's column matrix: channels * kernelH * kernelW. */
  int colRows() { return channels * kernelPoints(); }

  /** Rows of one group's column block (the GEMM's inner dimension). */
  int groupColRows() { return channels / groups * kernelPoints(); }

  int groupOutChannels() { return outChannels / groups; }

  long colFloatsPerImage() { return (long) colRows() * outHw(); }

  long inputFloatsPerImage() { return (long) channels * height * width; }

  long offsetFloatsPerImage() { return 2L * offsetGroups * kernelPoints() * outHw(); }

  long maskFloatsPerImage() { return (long) offsetGroups * kernelPoints() * outHw(); }

  long outputFloatsPerImage() { return (long) outChannels * outHw(); }

  /**
   * Images per chunk when each image needs {@code buffers} column matrices and all of them must
   * fit in {@code workspaceBytes}: at least 1 (a single image may exceed the bound), at most n.
   */
  int chunk(long workspaceBytes, int buffers) {
    long perImage = 4L * buffers * colFloatsPerImage();
    long fits = perImage == 0 ? n : workspaceBytes / perImage;
    return (int) Math.max(1, Math.min(n, fits));
  }

  /** The geometry arguments every deform_conv kernel takes after its pointers. */
  Object[] kernelArgs() {
    return new Object[] {channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH,
        dilationW, outH, outW, offsetGroups, useMask ? 1 : 0};
  }
}
