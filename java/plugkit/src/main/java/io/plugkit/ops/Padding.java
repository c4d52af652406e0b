package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.Arrays;

/**
 * Padding of the last two dims (op id {@code pad2d}, cuda-kernels/padding.cu) as PyTorch 1.13's
 * {@code F.pad(x, (left, right, top, bottom), mode, value)}, forward and backward, with its
 * validity rules checked here, before any native call.
 */
public final class Padding {
  static final Kernel FORWARD = Kernel.of("pad2d_forward", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32);
  static final Kernel BACKWARD = Kernel.of("pad2d_backward", PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32);

  /** Padding modes, F.pad's {@code mode}; the ordinal is the kernel's mode code. */
  public enum Mode {
    /** {@code value} outside the input; negative pads crop. */
    CONSTANT,
    /** The input mirrored about its edge values (edges not repeated): pads below the size. */
    REFLECT,
    /** The edge value repeated. */
    REPLICATE,
    /** The input wrapped around: pads at most the size (of the crop, when the other side crops). */
    CIRCULAR
  }

  private Padding() {}

  /** {@code pad2d(x, pad, CONSTANT, 0)}: zero padding. */
  public static Tensor pad2d(Tensor x, int... pad) { return pad2d(x, pad, Mode.CONSTANT, 0f); }

  /** {@code pad2d(x, pad, mode, 0)}. */
  public static Tensor pad2d(Tensor x, int[] pad, Mode mode) { return pad2d(x, pad, mode, 0f); }

  /**
   * Pads (or, with negative pads, crops) the last two dims. Shapes: x [N, C, H, W] or [C, H, W]
   * -> [..., H + top + bottom, W + left + right], with {@code pad = {left, right, top, bottom}}
   * (F.pad's order, last dim first). Output index j of a dim of size S and low pad p reads input
   * c = j - p: CONSTANT gives {@code value} outside [0, S); REFLECT mirrors c about 0 and S - 1;
   * REPLICATE clamps c to [0, S - 1]; CIRCULAR first crops by the negative pads, then wraps the
   * crop with the positive ones. The gradient of x sums the output gradients of every position
   * that read it (zero for cropped-away values).
   *
   * <p>PyTorch 1.13's rules, each rejected with an IllegalArgumentException:
   * <ul>
   * <li>CONSTANT: any N, C, H, W >= 0; the crop leaves size S + min(p, 0) + min(q, 0) >= 0 in
   *     each dim, and when any pad is positive each output size is > 0;
   * <li>REFLECT, REPLICATE: [N, C, H, W] (N may be 0) or [C, H, W] with C, H, W > 0; output sizes
   *     >= 0 and not both 0; REFLECT also needs every pad < the size of its dim (negatives too);
   * <li>CIRCULAR: [N, C, H, W] only (PyTorch 1.13 rejects an unbatched input for a 4-value pad);
   *     every pad <= the size of its dim, output sizes >= 0, and every positive pad <= the
   *     size left after the other side's crop (PyTorch 1.13 then copies uninitialised memory or
   *     fails, so it is rejected here);
   * <li>{@code value} other than 0 only with CONSTANT (PyTorch: "doesn't take in value argument").
   * </ul>
   */
  public static Tensor pad2d(Tensor x, int[] pad, Mode mode, float value) {
    Checks.tensor(x, "x");
    if (mode == null) throw new IllegalArgumentException("mode: expected a padding mode but got null");
    if (pad == null || pad.length != 4) {
      throw new IllegalArgumentException("pad: expected 4 values {left, right, top, bottom} but got " + Arrays.toString(pad));
    }
    int rank = x.rank();
    if (rank != 4 && (rank != 3 || mode == Mode.CIRCULAR)) {
      throw new IllegalArgumentException("x: expected " + (mode == Mode.CIRCULAR ? "rank 4 [N, C, H, W] for mode CIRCULAR"
          : "rank 4 [N, C, H, W] or rank 3 [C, H, W]") + " but got shape " + x.shape());
    }
    if (mode != Mode.CONSTANT && value != 0f) {
      throw new IllegalArgumentException("value: expected 0 for mode " + mode + " (PyTorch takes a value only in mode"
          + " CONSTANT) but got " + value);
    }
    int height = x.dim(rank - 2);
    int width = x.dim(rank - 1);
    int left = pad[0];
    int right = pad[1];
    int top = pad[2];
    int bottom = pad[3];
    long outH = (long) height + top + bottom;
    long outW = (long) width + left + right;
    switch (mode) {
      case CONSTANT -> {
        checkCrop(pad, x, "height", height, top, bottom);
        checkCrop(pad, x, "width", width, left, right);
        if ((left > 0 || right > 0 || top > 0 || bottom > 0) && (outH <= 0 || outW <= 0)) {
          throw new IllegalArgumentException("pad: expected output sizes > 0 when a pad is positive (PyTorch's rule) but "
              + Arrays.toString(pad) + " gives " + outH + "x" + outW + " for x " + x.shape());
        }
      }
      case REFLECT, REPLICATE -> {
        for (int i = 0; i < rank; i++) {
          if (x.dim(i) == 0 && (rank == 3 || i > 0)) {
            throw new IllegalArgumentException("x: expected non-zero sizes except the batch for mode " + mode
                + " but got shape " + x.shape());
          }
        }
        if (mode == Mode.REFLECT) {
          checkBelow(pad, x, "width", width, left, right);
          checkBelow(pad, x, "height", height, top, bottom);
        }
        if (outH < 0 || outW < 0 || (outH == 0 && outW == 0)) {
          throw new IllegalArgumentException("pad: expected output sizes >= 0 and not both 0 for mode " + mode
              + " but " + Arrays.toString(pad) + " gives " + outH + "x" + outW + " for x " + x.shape());
        }
      }
      case CIRCULAR -> {
        checkWrap(pad, x, "width", width, left, right);
        checkWrap(pad, x, "height", height, top, bottom);
      }
    }
    if (outH > Integer.MAX_VALUE || outW > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("pad: expected output sizes <= " + Integer.MAX_VALUE + " but "
          + Arrays.toString(pad) + " gives " + outH + "x" + outW + " for x " + x.shape());
    }
    int[] outDims = x.dims();
    outDims[rank - 2] = (int) outH;
    outDims[rank - 1] = (int) outW;
    Tensor y = Tensor.emptyLike(x, Shape.of(outDims));
    Object[] geometry = {height, width, (int) outH, (int) outW, left, right, top, bottom, mode.ordinal()};
    if (y.numel() > 0) x.driver().launch(FORWARD, y.numel(), args(x.address(), y.address(), geometry, value));
    return Autograd.record("pad2d", y, g -> {
      // An empty output (cropped to nothing) read nothing; else the kernel writes every dx value.
      if (g.numel() == 0) return new Tensor[] {Tensor.zerosLike(x)};
      Tensor dx = Tensor.emptyLike(x);
      if (dx.numel() > 0) x.driver().launch(BACKWARD, dx.numel(), args(g.address(), dx.address(), geometry, null));
      return new Tensor[] {dx};
    }, x);
  }

  /** CONSTANT: PyTorch narrows by each negative pad first; the rest must not be negative. */
  private static void checkCrop(int[] pad, Tensor x, String dim, int size, int lo, int hi) {
    long left = (long) size + Math.min(lo, 0) + Math.min(hi, 0);
    if (left < 0) {
      throw new IllegalArgumentException("pad: expected negative pads that crop at most the " + dim + " " + size
          + " but got " + Arrays.toString(pad) + " for x " + x.shape());
    }
  }

  /** REFLECT: PyTorch's "Padding size should be less than the corresponding input dimension". */
  private static void checkBelow(int[] pad, Tensor x, String dim, int size, int lo, int hi) {
    if (lo >= size || hi >= size) {
      throw new IllegalArgumentException("pad: expected pads below the " + dim + " " + size + " for mode REFLECT but got "
          + Arrays.toString(pad) + " for x " + x.shape());
    }
  }

  /** CIRCULAR: no wrapping more than once around the crop, and no negative output size. */
  private static void checkWrap(int[] pad, Tensor x, String dim, int size, int lo, int hi) {
    if (lo > size || hi > size) {
      throw new IllegalArgumentException("pad: expected pads at most the " + dim + " " + size + " for mode CIRCULAR"
          + " (PyTorch: \"Padding value causes wrapping around more than once\") but got " + Arrays.toString(pad)
          + " for x " + x.shape());
    }
    long out = (long) size + lo + hi;
    if (out < 0) {
      throw new IllegalArgumentException("pad: expected an output " + dim + " >= 0 but " + Arrays.toString(pad)
          + " gives " + out + " for x " + x.shape());
    }
    long crop = (long) size + Math.min(lo, 0) + Math.min(hi, 0);
    if (lo > crop || hi > crop) {
      throw new IllegalArgumentException("pad: expected positive pads at most the " + dim + " left after the other"
          + " side's crop (" + crop + ") for mode CIRCULAR, where PyTorch 1.13 reads uninitialised memory, but got "
          + Arrays.toString(pad) + " for x " + x.shape());
    }
  }

  private static Object[] args(long from, long to, Object[] geometry, Float value) {
    Object[] a = new Object[geometry.length + (value == null ? 2 : 3)];
    a[0] = from;
    a[1] = to;
    System.arraycopy(geometry, 0, a, 2, geometry.length);
    if (value != null) a[a.length - 1] = value;
    return a;
  }
}
