package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;
import java.util.Locale;

/**
 * Spatial transformer ops (cuda-kernels/grid_sample.cu; Jaderberg et al. 2015): {@code grid_sample}
 * and {@code affine_grid} with PyTorch 1.13 semantics ({@code F.grid_sample}, {@code F.affine_grid}),
 * forward and backward.
 */
public final class GridSample {
  static final Kernel FORWARD = Kernel.of("grid_sample_forward", PTR, PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel BACKWARD = Kernel.of("grid_sample_backward",
      PTR, PTR, PTR, PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel BACKWARD_INPUT_ORDERED = Kernel.of("grid_sample_backward_input_ordered",
      PTR, PTR, PTR, I32, I32, I32, I32, I32, I32, I32, I32);
  static final Kernel AFFINE_FORWARD = Kernel.of("affine_grid_forward", PTR, PTR, I32, I32, I32);
  static final Kernel AFFINE_BASE = Kernel.of("affine_grid_base", PTR, I32, I32, I32);

  /** How a sample between pixels is read (PyTorch's {@code mode}); ordinals are the kernel's codes. */
  public enum Mode {
    BILINEAR, NEAREST, BICUBIC;

    /** PyTorch's string: "bilinear", "nearest" or "bicubic". */
    public static Mode of(String name) {
      for (Mode m : values()) if (m.name().toLowerCase(Locale.ROOT).equals(name)) return m;
      throw new IllegalArgumentException("mode: expected 'bilinear', 'nearest' or 'bicubic' but got " + quoted(name));
    }
  }

  /** What a sample outside the input reads (PyTorch's {@code padding_mode}); ordinals are the kernel's codes. */
  public enum Padding {
    ZEROS, BORDER, REFLECTION;

    /** PyTorch's string: "zeros", "border" or "reflection". */
    public static Padding of(String name) {
      for (Padding p : values()) if (p.name().toLowerCase(Locale.ROOT).equals(name)) return p;
      throw new IllegalArgumentException("paddingMode: expected 'zeros', 'border' or 'reflection' but got " + quoted(name));
    }
  }

  private static volatile boolean deterministic;

  private GridSample() {}

  /**
   * Chooses how the backward computes the input gradient (read when the backward runs; the forward
   * and the grid gradient are reproducible either way). Off (the default): one work item per output
   * location scatters with atomic adds, fast but the float sums depend on arrival order, so the
   * low bits can change from run to run. On: one work item per (n, c) plane visits the output
   * locations in order, so the bits are the same on every run and thread count; it only has N*C
   * items of parallelism and recomputes the coordinates per channel, so it is much slower on a GPU.
   */
  public static void setDeterministic(boolean on) { deterministic = on; }

  public static boolean isDeterministic() { return deterministic; }

  /** {@link #gridSample(Tensor, Tensor, Mode, Padding, boolean)} with PyTorch's mode and padding strings. */
  public static Tensor gridSample(Tensor input, Tensor grid, String mode, String paddingMode, boolean alignCorners) {
    return gridSample(input, grid, Mode.of(mode), Padding.of(paddingMode), alignCorners);
  }

  /**
   * Samples {@code input} at the locations in {@code grid} ({@code F.grid_sample}). Shapes: input
   * [N, C, Hin, Win] (Hin, Win >= 1), grid [N, Hout, Wout, 2] -> output [N, C, Hout, Wout].
   * grid[n, h, w] = (x, y) is in [-1, 1] across the input's width and height: with
   * {@code alignCorners} -1 and 1 are the centres of the corner pixels (pixel x = (gx + 1) / 2 *
   * (Win - 1)), without them their outer edges (x = ((gx + 1) * Win - 1) / 2). Locations outside
   * read zeros, the nearest border pixel or the reflection, by {@code paddingMode}. Nearest rounds
   * half to even; bicubic uses Keys' kernel (A = -0.75) and pads each of its 16 taps. Gradients
   * flow to input and grid; the grid gradient of {@link Mode#NEAREST} is zero, as in PyTorch.
   */
  public static Tensor gridSample(Tensor input, Tensor grid, Mode mode, Padding paddingMode, boolean alignCorners) {
    Checks.tensor(input, "input");
    Checks.tensor(grid, "grid");
    if (input.rank() != 4) {
      throw new IllegalArgumentException("input: expected rank 4 [N, C, Hin, Win] (only 2-D sampling is supported) but got shape "
          + input.shape());
    }
    if (grid.rank() != 4 || grid.dim(3) != 2) {
      throw new IllegalArgumentException("grid: expected shape [N, Hout, Wout, 2] but got " + grid.shape());
    }
    Checks.sameDevice(input, "input", grid, "grid");
    if (grid.dim(0) != input.dim(0)) {
      throw new IllegalArgumentException("grid: expected batch size " + input.dim(0) + " (that of input " + input.shape()
          + ") but got shape " + grid.shape());
    }
    if (input.dim(2) == 0 || input.dim(3) == 0) {
      throw new IllegalArgumentException("input: expected non-empty spatial dims Hin, Win but got shape " + input.shape());
    }
    if (mode == null) throw new IllegalArgumentException("mode: expected BILINEAR, NEAREST or BICUBIC but got null");
    if (paddingMode == null) throw new IllegalArgumentException("paddingMode: expected ZEROS, BORDER or REFLECTION but got null");

    Geometry g = new Geometry(input, grid, mode, paddingMode, alignCorners);
    Tensor output = Tensor.emptyLike(input, Shape.of(g.n, g.channels, g.outH, g.outW));
    input.driver().launch(FORWARD, g.locations(), input.address(), grid.address(), output.address(), g.channels,
        g.inH, g.inW, g.outH, g.outW, mode.ordinal(), paddingMode.ordinal(), alignCorners ? 1 : 0);
    return Autograd.record("grid_sample", output, gradOut -> backward(g, input, grid, gradOut), input, grid);
  }

  private static Tensor[] backward(Geometry g, Tensor input, Tensor grid, Tensor gradOut) {
    boolean ordered = deterministic;
    boolean wantInput = input.requiresGrad();
    boolean wantGrid = grid.requiresGrad();
    Tensor gradInput = null;
    if (wantInput) gradInput = ordered ? Tensor.emptyLike(input) : Tensor.zerosLike(input);
    Tensor gradGrid = wantGrid ? Tensor.emptyLike(grid) : null;
    boolean scatter = wantInput && !ordered;
    if (scatter || wantGrid) {
      input.driver().launch(BACKWARD, g.locations(), gradOut.address(), input.address(), grid.address(),
          scatter ? gradInput.address() : 0L, wantGrid ? gradGrid.address() : 0L, g.channels, g.inH, g.inW, g.outH,
          g.outW, g.mode.ordinal(), g.padding.ordinal(), g.alignCorners ? 1 : 0, scatter ? 1 : 0, wantGrid ? 1 : 0);
    }
    if (wantInput && ordered) {
      input.driver().launch(BACKWARD_INPUT_ORDERED, (long) g.n * g.channels, gradOut.address(), grid.address(),
          gradInput.address(), g.channels, g.inH, g.inW, g.outH, g.outW, g.mode.ordinal(), g.padding.ordinal(),
          g.alignCorners ? 1 : 0);
    }
    return new Tensor[] {gradInput, gradGrid};
  }

  /**
   * The sampling grid of a batch of 2-D affine transforms ({@code F.affine_grid} with size
   * [n, c, h, w]): theta [n, 2, 3] -> grid [n, h, w, 2], grid[b, i, j] = theta[b] @ (x_j, y_i, 1)
   * where x_j = linspace(-1, 1, w)[j] and y_i = linspace(-1, 1, h)[i], each scaled by (size - 1) /
   * size without {@code alignCorners}, and 0 when the size is 1. {@code c} is only checked, as in
   * PyTorch. The gradient flows to theta.
   */
  public static Tensor affineGrid(Tensor theta, int n, int c, int h, int w, boolean alignCorners) {
    Checks.tensor(theta, "theta");
    Checks.positive(n, "n");
    Checks.positive(c, "c");
    Checks.positive(h, "h");
    Checks.positive(w, "w");
    if (theta.rank() != 3 || theta.dim(0) != n || theta.dim(1) != 2 || theta.dim(2) != 3) {
      throw new IllegalArgumentException("theta: expected shape [" + n + ", 2, 3] (a batch of n 2-D affine matrices) but got "
          + theta.shape());
    }
    int align = alignCorners ? 1 : 0;
    Tensor grid = Tensor.emptyLike(theta, Shape.of(n, h, w, 2));
    theta.driver().launch(AFFINE_FORWARD, (long) n * h * w, theta.address(), grid.address(), h, w, align);
    return Autograd.record("affine_grid", grid, gradGrid -> {
      // dtheta[b] (2x3) = gradGrid[b]^T (2 x hw) @ base (hw x 3); the base grid is shared by the batch.
      int hw = Math.multiplyExact(h, w);
      Tensor base = Tensor.emptyLike(theta, Shape.of(hw, 3));
      Tensor dTheta = Tensor.emptyLike(theta);
      theta.driver().launch(AFFINE_BASE, hw, base.address(), h, w, align);
      theta.driver().gemm(true, false, 2, 3, hw, 1f, gradGrid.address(), 2, 2L * hw, base.address(), 3, 0L, 0f,
          dTheta.address(), 3, 6L, n);
      base.close();
      return new Tensor[] {dTheta};
    }, theta);
  }

  private static String quoted(String s) { return s == null ? "null" : "'" + s + "'"; }

  /** Sizes and options of one grid_sample call, shared by its forward and backward. */
  private record Geometry(int n, int channels, int inH, int inW, int outH, int outW, Mode mode, Padding padding,
      boolean alignCorners) {
    Geometry(Tensor input, Tensor grid, Mode mode, Padding padding, boolean alignCorners) {
      this(input.dim(0), input.dim(1), input.dim(2), input.dim(3), grid.dim(1), grid.dim(2), mode, padding, alignCorners);
    }

    long locations() { return (long) n * outH * outW; }
  }
}
