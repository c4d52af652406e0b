package io.plugkit.driver;

/**
 * Everything a 2-D convolution's shape is made of. Input {@code [n, inChannels, inH, inW]},
 * weight {@code [outChannels, inChannels/groups, kernelH, kernelW]}, output
 * {@code [n, outChannels, outH, outW]} with
 * {@code outH = (inH + 2*padH - dilationH*(kernelH-1) - 1) / strideH + 1} (and likewise for W).
 */
public record Conv2dGeometry(int n, int inChannels, int inH, int inW, int outChannels, int kernelH, int kernelW,
    int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {

  public int outH() { return (inH + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1; }

  public int outW() { return (inW + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1; }

  public int inChannelsPerGroup() { return inChannels / groups; }

  public int outChannelsPerGroup() { return outChannels / groups; }
}
