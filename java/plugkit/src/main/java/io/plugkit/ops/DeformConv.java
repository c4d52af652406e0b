package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Pins;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;
import java.util.Arrays;

/**
 * Deformable convolution v1 and v2 (cuda-kernels/deform_conv.cu) with the semantics of
 * torchvision.ops.deform_conv2d: deformable im2col (bilinear samples at learned offsets, times
 * the mask in v2) followed by a GEMM per group. The batch runs in chunks whose column matrices
 * fit a bounded workspace ({@link #setWorkspaceBytes}, 64 MiB by default).
 */
public final class DeformConv {
  /** The default column workspace bound: 64 MiB, i.e. 16 Mi floats of column matrices. */
  public static final long DEFAULT_WORKSPACE_BYTES = 64L << 20;

  private static final int GEOMETRY_INTS = 15;
  static final Kernel IM2COL = kernel("deform_conv_im2col", 4);
  static final Kernel COL2IM_INPUT = kernel("deform_conv_col2im_input", 4);
  static final Kernel COL2IM_INPUT_SERIAL = kernel("deform_conv_col2im_input_serial", 4);
  static final Kernel COL2IM_COORD = kernel("deform_conv_col2im_coord", 6);
  static final Kernel ADD_BIAS = Kernel.of("deform_conv_add_bias", PTR, PTR, I32, I64);

  private static volatile long workspaceBytes = DEFAULT_WORKSPACE_BYTES;
  private static volatile boolean deterministic;

  private DeformConv() {}

  /** A kernel taking {@code pointers} pointers and then the 15 ints of {@link DeformConvGeometry#kernelArgs()}. */
  private static Kernel kernel(String name, int pointers) {
    ArgKind[] kinds = new ArgKind[pointers + GEOMETRY_INTS];
    Arrays.fill(kinds, 0, pointers, PTR);
    Arrays.fill(kinds, pointers, kinds.length, I32);
    return Kernel.of(name, kinds);
  }

  /**
   * Bounds the column workspace of one call (forward: one column matrix per image of a chunk;
   * backward: up to two). A chunk holds max(1, bytes / bytes per image) images, so one image
   * larger than the bound still runs, alone. Applies to all threads.
   */
  public static void setWorkspaceBytes(long bytes) {
    if (bytes <= 0) throw new IllegalArgumentException("bytes: expected > 0 but got " + bytes);
    workspaceBytes = bytes;
  }

  public static long workspaceBytes() { return workspaceBytes; }

  /**
   * With {@code on}, the backward uses no floating-point atomics and gives the same bits every
   * run: the input gradient is scattered by one work item per (image, channel) plane walking its
   * samples in a fixed order. That has far less parallelism than the default atomic scatter (one
   * item per sample), so it is slower, most of all on a GPU with small batches. Applies to all
   * threads; read when a backward runs.
   */
  public static void setDeterministic(boolean on) { deterministic = on; }

  public static boolean isDeterministic() { return deterministic; }

  /**
   * Deformable convolution; v1 when {@code mask} is null, v2 (modulated) otherwise.
   *
   * <p>Shapes: input [N, Cin, H, W]; weight [Cout, Cin / groups, kh, kw] (groups = Cin /
   * weight.dim(1)); bias [Cout] or null; offset [N, 2 * offsetGroups * kh * kw, outH, outW]
   * (offsetGroups = offset.dim(1) / (2 * kh * kw), dividing Cin), laid out as
   * [offsetGroup][kernel point i * kw + j][dy, dx]; mask [N, offsetGroups * kh * kw, outH, outW]
   * or null. Output [N, Cout, outH, outW] with
   * {@code outH = (H + 2 * padH - dilationH * (kh - 1) - 1) / strideH + 1} (likewise outW).
   *
   * <p>Kernel point (i, j) of output (oh, ow) samples the input at
   * {@code (oh * strideH - padH + i * dilationH + dy, ow * strideW - padW + j * dilationW + dx)}
   * bilinearly; a corner outside the image reads 0, and a sample with h <= -1, h >= H, w <= -1
   * or w >= W reads 0 entirely. The sample is multiplied by the mask entry (v2). Beyond
   * torchvision: a NaN offset makes its sample NaN (infinite ones read 0), never an out-of-bounds read.
   *
   * @param stride {strideH, strideW} or one value for both, each > 0
   * @param padding {padH, padW} or one value, each >= 0
   * @param dilation {dilationH, dilationW} or one value, each > 0
   */
  public static Tensor deformConv2d(Tensor input, Tensor offset, Tensor weight, Tensor bias, Tensor mask, int[] stride,
      int[] padding, int[] dilation) {
    DeformConvGeometry g = validate(input, offset, weight, bias, mask, stride, padding, dilation);
    Tensor out = Tensor.empty(input.device(), g.n(), g.outChannels(), g.outH(), g.outW());
    if (out.numel() > 0) forward(g, input, offset, weight, bias, mask, out);
    return Autograd.record("deform_conv2d", out, gout -> backward(g, input, offset, weight, bias, mask, gout),
        input, offset, weight, bias, mask);
  }

  private static DeformConvGeometry validate(Tensor input, Tensor offset, Tensor weight, Tensor bias, Tensor mask,
      int[] stride, int[] padding, int[] dilation) {
    Checks.rank(input, "input", 4);
    Checks.rank(offset, "offset", 4);
    Checks.rank(weight, "weight", 4);
    if (bias != null) Checks.rank(bias, "bias", 1);
    if (mask != null) Checks.rank(mask, "mask", 4);
    Checks.sameDevice(input, "input", offset, "offset");
    Checks.sameDevice(input, "input", weight, "weight");
    if (bias != null) Checks.sameDevice(input, "input", bias, "bias");
    if (mask != null) Checks.sameDevice(input, "input", mask, "mask");
    int[] s = Checks.pair(stride, "stride");
    int[] p = Checks.pair(padding, "padding");
    int[] dl = Checks.pair(dilation, "dilation");
    for (int i = 0; i < 2; i++) {
      Checks.positive(s[i], "stride");
      Checks.nonNegative(p[i], "padding");
      Checks.positive(dl[i], "dilation");
    }
    int n = input.dim(0);
    int channels = input.dim(1);
    int outChannels = weight.dim(0);
    int kh = weight.dim(2);
    int kw = weight.dim(3);
    if (kh == 0 || kw == 0) {
      throw new IllegalArgumentException("weight: expected a kernel of size > 0 but got shape " + weight.shape());
    }
    if (channels == 0) {
      throw new IllegalArgumentException("input: expected at least 1 input channel (dim 1) but got shape " + input.shape());
    }
    int groupChannels = weight.dim(1);
    if (groupChannels == 0 || channels % groupChannels != 0) {
      throw new IllegalArgumentException("weight: expected dim 1 (input channels per group) to divide the "
          + channels + " input channels but got shape " + weight.shape());
    }
    int groups = channels / groupChannels;
    if (outChannels % groups != 0) {
      throw new IllegalArgumentException("weight: expected the output channels (dim 0) to be divisible by groups = "
          + groups + " but got shape " + weight.shape());
    }
    int outH = outSize(input.dim(2), kh, s[0], p[0], dl[0]);
    int outW = outSize(input.dim(3), kw, s[1], p[1], dl[1]);
    if (outH < 1 || outW < 1) {
      throw new IllegalArgumentException("input: expected spatial size at least the dilated kernel size (output "
          + outH + "x" + outW + ") but got shape " + input.shape() + " with padding " + Arrays.toString(p));
    }
    int points = kh * kw;
    int offsetChannels = offset.dim(1);
    if (offsetChannels == 0 || offsetChannels % (2 * points) != 0) {
      throw new IllegalArgumentException("offset: expected dim 1 to be a positive multiple of 2 * kh * kw = "
          + 2 * points + " but got shape " + offset.shape());
    }
    int offsetGroups = offsetChannels / (2 * points);
    if (channels % offsetGroups != 0) {
      throw new IllegalArgumentException("offset: expected offset groups (" + offsetGroups + ") to divide the "
          + channels + " input channels but got shape " + offset.shape());
    }
    checkMap(offset, "offset", n, offsetChannels, outH, outW);
    if (mask != null) checkMap(mask, "mask", n, offsetGroups * points, outH, outW);
    if (bias != null) Checks.dim(bias, "bias", 0, outChannels);
    return new DeformConvGeometry(n, channels, input.dim(2), input.dim(3), outChannels, kh, kw, s[0], s[1], p[0],
        p[1], dl[0], dl[1], groups, offsetGroups, outH, outW, mask != null);
  }

  private static int outSize(int size, int kernel, int stride, int pad, int dilation) {
    long span = (long) size + 2L * pad - (long) dilation * (kernel - 1) - 1;
    return span < 0 ? 0 : (int) (span / stride + 1);
  }

  private static void checkMap(Tensor t, String name, int n, int channels, int outH, int outW) {
    int[] expected = {n, channels, outH, outW};
    if (!Arrays.equals(t.dims(), expected)) {
      throw new IllegalArgumentException(name + ": expected shape " + Arrays.toString(expected)
          + " (batch, channels, output size) but got " + t.shape());
    }
  }

  // ---- forward --------------------------------------------------------------------------

  private static void forward(DeformConvGeometry g, Tensor input, Tensor offset, Tensor weight, Tensor bias,
      Tensor mask, Tensor out) {
    Driver d = input.driver();
    int chunk = g.chunk(workspaceBytes, 1);
    try (Tensor col = Tensor.empty(input.device(), chunk, g.colRows(), g.outHw())) {
      for (int start = 0; start < g.n(); start += chunk) {
        int images = Math.min(chunk, g.n() - start);
        im2col(g, d, start, images, input, offset, mask, col);
        // out_ig [og, outHw] = W_g [og, kdim] x col_ig [kdim, outHw]
        weightTimes(g, d, false, g.groupOutChannels(), g.groupColRows(), weight, col.address(), g.colFloatsPerImage(),
            at(out, start * g.outputFloatsPerImage()), g.outputFloatsPerImage(),
            (long) g.groupOutChannels() * g.outHw(), images);
      }
    }
    if (bias != null) d.launch(ADD_BIAS, out.numel(), out.address(), bias.address(), g.outChannels(), (long) g.outHw());
  }

  private static void im2col(DeformConvGeometry g, Driver d, int start, int images, Tensor input, Tensor offset,
      Tensor mask, Tensor col) {
    d.launch(IM2COL, (long) images * g.channels() * g.outHw(), args(g, at(input, start * g.inputFloatsPerImage()),
        at(offset, start * g.offsetFloatsPerImage()), maskAt(g, mask, start), col.address()));
  }

  /**
   * For each image i of a chunk and group g: C_ig = op(W_g) x B_ig, op(W_g) being m x k (W_g or
   * its transpose), B_ig k x outHw. With one group the weight is shared by a single batched GEMM
   * over the images (stride 0); otherwise one GEMM per image, batched over the groups.
   */
  private static void weightTimes(DeformConvGeometry g, Driver d, boolean transW, int m, int k, Tensor weight,
      long b, long bImageStride, long c, long cImageStride, long cGroupStride, int images) {
    int kdim = g.groupColRows();
    int outHw = g.outHw();
    // b and c were taken by the caller and serve every GEMM of the loop.
    try (Pins hold = Pins.hold()) {
      if (g.groups() == 1) {
        d.gemm(transW, false, m, outHw, k, 1f, weight.address(), kdim, 0, b, outHw, bImageStride, 0f, c, outHw,
            cImageStride, images);
        return;
      }
      long bGroupStride = (long) k * outHw;
      for (int i = 0; i < images; i++) {
        d.gemm(transW, false, m, outHw, k, 1f, weight.address(), kdim, (long) g.groupOutChannels() * kdim,
            b + 4L * i * bImageStride, outHw, bGroupStride, 0f, c + 4L * i * cImageStride, outHw, cGroupStride,
            g.groups());
      }
    }
  }

  // ---- backward -------------------------------------------------------------------------

  private static Tensor[] backward(DeformConvGeometry g, Tensor input, Tensor offset, Tensor weight, Tensor bias,
      Tensor mask, Tensor gout) {
    boolean needInput = input.requiresGrad();
    boolean needOffset = offset.requiresGrad();
    boolean needMask = mask != null && mask.requiresGrad();
    boolean needWeight = weight.requiresGrad();
    boolean needColGrad = needInput || needOffset || needMask;
    Tensor dInput = needInput ? Tensor.zerosLike(input) : null;
    Tensor dOffset = needOffset ? Tensor.emptyLike(offset) : null;
    Tensor dMask = needMask ? Tensor.emptyLike(mask) : null;
    Tensor dWeight = needWeight ? Tensor.zerosLike(weight) : null;
    if (g.n() > 0 && (needColGrad || needWeight)) {
      Driver d = input.driver();
      int chunk = g.chunk(workspaceBytes, (needColGrad ? 1 : 0) + (needWeight ? 1 : 0));
      try (Tensor colGrad = needColGrad ? Tensor.empty(input.device(), chunk, g.colRows(), g.outHw()) : null;
          Tensor col = needWeight ? Tensor.empty(input.device(), chunk, g.colRows(), g.outHw()) : null) {
        for (int start = 0; start < g.n(); start += chunk) {
          int images = Math.min(chunk, g.n() - start);
          if (needColGrad) {
            // colGrad_ig [kdim, outHw] = W_g^T [kdim, og] x gout_ig [og, outHw]
            weightTimes(g, d, true, g.groupColRows(), g.groupOutChannels(), weight,
                at(gout, start * g.outputFloatsPerImage()), g.outputFloatsPerImage(), colGrad.address(),
                g.colFloatsPerImage(), (long) g.groupColRows() * g.outHw(), images);
            if (needInput) inputGrad(g, d, start, images, offset, mask, colGrad, dInput);
            if (needOffset || needMask) coordGrad(g, d, start, images, input, offset, mask, colGrad, dOffset, dMask);
          }
          if (needWeight) {
            im2col(g, d, start, images, input, offset, mask, col);
            weightGrad(g, d, start, images, gout, col, dWeight);
          }
        }
      }
    }
    Tensor dBias = bias != null && bias.requiresGrad() ? Reductions.sum(gout, new int[] {0, 2, 3}, false) : null;
    return new Tensor[] {dInput, dOffset, dWeight, dBias, dMask};
  }

  private static void inputGrad(DeformConvGeometry g, Driver d, int start, int images, Tensor offset, Tensor mask,
      Tensor colGrad, Tensor dInput) {
    Object[] a = args(g, colGrad.address(), at(offset, start * g.offsetFloatsPerImage()), maskAt(g, mask, start),
        at(dInput, start * g.inputFloatsPerImage()));
    long planes = (long) images * g.channels();
    if (deterministic) d.launch(COL2IM_INPUT_SERIAL, planes, a);
    else d.launch(COL2IM_INPUT, planes * g.kernelPoints() * g.outHw(), a);
  }

  private static void coordGrad(DeformConvGeometry g, Driver d, int start, int images, Tensor input, Tensor offset,
      Tensor mask, Tensor colGrad, Tensor dOffset, Tensor dMask) {
    long items = (long) images * g.offsetGroups() * g.kernelPoints() * g.outHw();
    d.launch(COL2IM_COORD, items, args(g, colGrad.address(), at(input, start * g.inputFloatsPerImage()),
        at(offset, start * g.offsetFloatsPerImage()), maskAt(g, mask, start),
        dOffset == null ? 0L : at(dOffset, start * g.offsetFloatsPerImage()),
        dMask == null ? 0L : at(dMask, start * g.maskFloatsPerImage())));
  }

  /** dW_g [og, kdim] += gout_ig [og, outHw] x col_ig^T [outHw, kdim], image by image (dW starts at zero). */
  private static void weightGrad(DeformConvGeometry g, Driver d, int start, int images, Tensor gout, Tensor col,
      Tensor dWeight) {
    int og = g.groupOutChannels();
    int kdim = g.groupColRows();
    int outHw = g.outHw();
    for (int i = 0; i < images; i++) {
      d.gemm(false, true, og, kdim, outHw, 1f, at(gout, (start + i) * g.outputFloatsPerImage()), outHw,
          (long) og * outHw, col.address() + 4L * i * g.colFloatsPerImage(), outHw, (long) kdim * outHw, 1f,
          dWeight.address(), kdim, (long) og * kdim, g.groups());
    }
  }

  // ---- arguments ------------------------------------------------------------------------

  /** The address of float element {@code index} of {@code t}. */
  private static long at(Tensor t, long index) { return t.address() + 4L * index; }

  private static long maskAt(DeformConvGeometry g, Tensor mask, int start) {
    return mask == null ? 0L : at(mask, start * g.maskFloatsPerImage());
  }

  private static Object[] args(DeformConvGeometry g, long... pointers) {
    Object[] geometry = g.kernelArgs();
    Object[] all = new Object[pointers.length + geometry.length];
    for (int i = 0; i < pointers.length; i++) all[i] = pointers[i];
    System.arraycopy(geometry, 0, all, pointers.length, geometry.length);
    return all;
  }
}
