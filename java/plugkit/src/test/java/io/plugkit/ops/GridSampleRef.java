package io.plugkit.ops;

import io.plugkit.ops.GridSample.Mode;
import io.plugkit.ops.GridSample.Padding;

/**
 * Pure-Java reference of grid_sample and affine_grid (test scope). The source coordinates are
 * computed in float with PyTorch's expressions, so that the discrete choices (floor, round half
 * to even, which side of a border or reflection) are the kernel's; interpolation weights, sums
 * and gradients are then computed in double, with naive loops.
 */
final class GridSampleRef {
  private GridSampleRef() {}

  /** Sizes: input [n, c, inH, inW], grid [n, outH, outW, 2]. */
  record Problem(int n, int c, int inH, int inW, int outH, int outW, Mode mode, Padding padding, boolean align) {
    int inIndex(int b, int ch, int y, int x) { return ((b * c + ch) * inH + y) * inW + x; }

    int outIndex(int b, int ch, int h, int w) { return ((b * c + ch) * outH + h) * outW + w; }

    int gridIndex(int b, int h, int w) { return ((b * outH + h) * outW + w) * 2; }
  }

  /** Gradients of sum(output * gout). */
  record Grads(double[] input, double[] grid) {}

  /** One tap: a pixel (or -1 outside) and its weight and the weight's derivatives by pixel x, y. */
  private record Tap(int y, int x, double weight, double dx, double dy) {}

  static double[] forward(Problem p, float[] input, float[] grid) {
    double[] out = new double[p.n * p.c * p.outH * p.outW];
    for (int b = 0; b < p.n; b++) {
      for (int h = 0; h < p.outH; h++) {
        for (int w = 0; w < p.outW; w++) {
          Tap[] taps = taps(p, grid, p.gridIndex(b, h, w));
          for (int ch = 0; ch < p.c; ch++) {
            double acc = 0;
            for (Tap t : taps) if (t.y >= 0) acc += t.weight * input[p.inIndex(b, ch, t.y, t.x)];
            out[p.outIndex(b, ch, h, w)] = acc;
          }
        }
      }
    }
    return out;
  }

  static Grads backward(Problem p, float[] input, float[] grid, float[] gout) {
    double[] gIn = new double[input.length];
    double[] gGrid = new double[grid.length];
    for (int b = 0; b < p.n; b++) {
      for (int h = 0; h < p.outH; h++) {
        for (int w = 0; w < p.outW; w++) {
          int gi = p.gridIndex(b, h, w);
          Tap[] taps = taps(p, grid, gi);
          double dx = 0;
          double dy = 0;
          for (int ch = 0; ch < p.c; ch++) {
            double g = gout[p.outIndex(b, ch, h, w)];
            for (Tap t : taps) {
              if (t.y < 0) continue;
              int at = p.inIndex(b, ch, t.y, t.x);
              gIn[at] += t.weight * g;
              dx += t.dx * input[at] * g;
              dy += t.dy * input[at] * g;
            }
          }
          if (p.mode != Mode.NEAREST) {
            gGrid[gi] = dx * sourceMultiplier(p, grid[gi], p.inW);
            gGrid[gi + 1] = dy * sourceMultiplier(p, grid[gi + 1], p.inH);
          }
        }
      }
    }
    return new Grads(gIn, gGrid);
  }

  private static Tap[] taps(Problem p, float[] grid, int gi) {
    float gx = grid[gi];
    float gy = grid[gi + 1];
    if (p.mode == Mode.BICUBIC) {
      float ix = unnormalize(gx, p.inW, p.align);
      float iy = unnormalize(gy, p.inH, p.align);
      float x0 = (float) Math.floor(ix);
      float y0 = (float) Math.floor(iy);
      double tx = ix - x0;
      double ty = iy - y0;
      Tap[] taps = new Tap[16];
      for (int k = 0; k < 4; k++) {
        for (int r = 0; r < 4; r++) {
          int x = (int) pad(x0 - 1 + k, p.inW, p);
          int y = (int) pad(y0 - 1 + r, p.inH, p);
          boolean inside = x >= 0 && x < p.inW && y >= 0 && y < p.inH;
          // Tap k sits at distance k - 1 - t; the weight is K(k - 1 - t), so d/dt = -K'(k - 1 - t).
          double wx = keys(k - 1 - tx);
          double wy = keys(r - 1 - ty);
          taps[k * 4 + r] = new Tap(inside ? y : -1, x, wx * wy, -keysSlope(k - 1 - tx) * wy, -keysSlope(r - 1 - ty) * wx);
        }
      }
      return taps;
    }
    float ix = pad(unnormalize(gx, p.inW, p.align), p.inW, p);
    float iy = pad(unnormalize(gy, p.inH, p.align), p.inH, p);
    if (p.mode == Mode.NEAREST) {
      int x = (int) Math.rint(ix);
      int y = (int) Math.rint(iy);
      return new Tap[] {tap(p, y, x, 1, 0, 0)};
    }
    int x0 = (int) Math.floor(ix);
    int y0 = (int) Math.floor(iy);
    double fx = ix - x0;
    double fy = iy - y0;
    return new Tap[] {
        tap(p, y0, x0, (1 - fx) * (1 - fy), -(1 - fy), -(1 - fx)),
        tap(p, y0, x0 + 1, fx * (1 - fy), 1 - fy, -fx),
        tap(p, y0 + 1, x0, (1 - fx) * fy, -fy, 1 - fx),
        tap(p, y0 + 1, x0 + 1, fx * fy, fy, fx)};
  }

  private static Tap tap(Problem p, int y, int x, double weight, double dx, double dy) {
    boolean inside = x >= 0 && x < p.inW && y >= 0 && y < p.inH;
    return new Tap(inside ? y : -1, x, weight, dx, dy);
  }

  /** Keys' cubic kernel, A = -0.75, at signed distance d. */
  static double keys(double d) {
    double a = -0.75;
    double x = Math.abs(d);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  }

  static double keysSlope(double d) {
    double a = -0.75;
    double x = Math.abs(d);
    double s = Math.signum(d);
    if (x <= 1) return s * (3 * (a + 2) * x - 2 * (a + 3)) * x;
    if (x < 2) return s * ((3 * a * x - 10 * a) * x + 8 * a);
    return 0;
  }

  static float unnormalize(float coord, int size, boolean align) {
    return align ? ((coord + 1) / 2) * (size - 1) : ((coord + 1) * size - 1) / 2;
  }

  /** d(source)/d(grid coordinate): the unnormalize scale times the padding's slope (0, 1 or -1). */
  private static double sourceMultiplier(Problem p, float coord, int size) {
    double scale = p.align ? (size - 1) / 2.0 : size / 2.0;
    if (p.mode == Mode.BICUBIC) return scale;
    float u = unnormalize(coord, size, p.align);
    return switch (p.padding) {
      case ZEROS -> scale;
      case BORDER -> scale * clipSlope(u, size);
      case REFLECTION -> {
        if (size == 1 && p.align) yield 0;
        float lo = p.align ? 0f : -0.5f;
        float span = p.align ? size - 1 : size;
        float in = u - lo;
        double sign = in < 0 ? -1 : 1;
        in = Math.abs(in);
        long flips = (long) Math.floor(in / span);
        double reflectSlope = flips % 2 == 0 ? sign : -sign;
        yield scale * reflectSlope * clipSlope(reflect(u, size, p.align), size);
      }
    };
  }

  private static double clipSlope(float u, int size) { return u > 0 && u < size - 1 ? 1 : 0; }

  /** PyTorch's compute_coordinates in float. */
  static float pad(float u, int size, Problem p) {
    return switch (p.padding) {
      case ZEROS -> u;
      case BORDER -> clip(u, size);
      case REFLECTION -> clip(reflect(u, size, p.align), size);
    };
  }

  private static float clip(float u, int size) { return Math.min(size - 1, Math.max(u, 0f)); }

  private static float reflect(float u, int size, boolean align) {
    if (align && size == 1) return 0f;
    float lo = align ? 0f : -0.5f;
    float span = align ? size - 1 : size;
    float in = Math.abs(u - lo);
    float extra = in % span;
    long flips = (long) Math.floor(in / span);
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
  }

  /** affine_grid: grid [n, h, w, 2] of theta [n, 2, 3]; base coordinates from a double linspace. */
  static double[] affineGrid(float[] theta, int n, int h, int w, boolean align) {
    double[] grid = new double[n * h * w * 2];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < h; i++) {
        for (int j = 0; j < w; j++) {
          double x = base(j, w, align);
          double y = base(i, h, align);
          for (int r = 0; r < 2; r++) {
            int t = b * 6 + r * 3;
            grid[((b * h + i) * w + j) * 2 + r] = x * theta[t] + y * theta[t + 1] + theta[t + 2];
          }
        }
      }
    }
    return grid;
  }

  static double[] affineGridBackward(float[] gradGrid, int n, int h, int w, boolean align) {
    double[] dTheta = new double[n * 6];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < h; i++) {
        for (int j = 0; j < w; j++) {
          double[] xy1 = {base(j, w, align), base(i, h, align), 1};
          for (int r = 0; r < 2; r++) {
            for (int k = 0; k < 3; k++) dTheta[b * 6 + r * 3 + k] += xy1[k] * gradGrid[((b * h + i) * w + j) * 2 + r];
          }
        }
      }
    }
    return dTheta;
  }

  private static double base(int i, int steps, boolean align) {
    if (steps <= 1) return 0;
    double v = -1 + 2.0 * i / (steps - 1);
    return align ? v : v * (steps - 1) / steps;
  }
}
