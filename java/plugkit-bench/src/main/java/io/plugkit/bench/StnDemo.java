package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.nn.SpatialTransformer;
import io.plugkit.ops.GridSample;
import io.plugkit.ops.Losses;
import io.plugkit.optim.Adam;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The demo's spatial-transformer stage: glyphs are distorted by random affine transforms
 * (rotation, scale, shear, shift) and a spatial transformer (PyTorch tutorial layout) learns to
 * undo them, trained on the MSE between its output and the undistorted glyph.
 */
final class StnDemo {
  private static final int SIZE = 28;
  private static final int STEPS = 200;
  private static final int BATCH = 16;

  private StnDemo() {}

  static void run(Device device) {
    System.out.printf("%nstage 2: a spatial transformer learns to undo random affine distortions of %dx%d glyphs, batch %d, %d steps%n",
        SIZE, SIZE, BATCH, STEPS);
    SplittableRandom random = new SplittableRandom(11);
    try (Scope modelScope = Scope.open()) {
      SpatialTransformer stn = SpatialTransformer.tutorial(device);
      Adam adam = new Adam(stn.parameters(), Adam.Options.lr(2e-3f));
      double first = Double.NaN;
      double running = 0;
      long start = System.nanoTime();
      for (int step = 1; step <= STEPS; step++) {
        try (Scope s = Scope.open()) {
          Tensor clean = glyphs(device, random, BATCH);
          Tensor distorted;
          try (var off = GradMode.disable()) {
            Tensor theta = randomTheta(device, random, BATCH);
            distorted = GridSample.gridSample(clean, GridSample.affineGrid(theta, BATCH, 1, SIZE, SIZE, false),
                GridSample.Mode.BILINEAR, GridSample.Padding.ZEROS, false);
          }
          Tensor loss = Losses.mse(stn.forward(distorted), clean, Losses.Reduction.MEAN);
          loss.backward();
          adam.step();
          adam.zeroGrad();
          double v = loss.item();
          if (step == 1) first = v;
          running = step == 1 ? v : 0.9 * running + 0.1 * v;
          if (step % 10 == 0) Demo.progress(step, STEPS, running);
          if (step % 50 == 0) System.out.printf(Locale.ROOT, "%nstep %3d  reconstruction MSE %.4f%n", step, running);
        }
      }
      System.out.printf(Locale.ROOT, "%nreconstruction MSE %.4f -> %.4f in %.1f s%n", first, running, (System.nanoTime() - start) / 1e9);
    }
  }

  /** Random affine maps near the identity: rotation up to 25 degrees, scale 0.85-1.15, shift up to 0.15. */
  private static Tensor randomTheta(Device device, SplittableRandom r, int n) {
    float[] t = new float[n * 6];
    for (int i = 0; i < n; i++) {
      double angle = Math.toRadians(r.nextDouble(-25, 25));
      double scale = r.nextDouble(0.85, 1.15);
      t[6 * i] = (float) (scale * Math.cos(angle));
      t[6 * i + 1] = (float) (-scale * Math.sin(angle));
      t[6 * i + 2] = (float) r.nextDouble(-0.15, 0.15);
      t[6 * i + 3] = (float) (scale * Math.sin(angle));
      t[6 * i + 4] = (float) (scale * Math.cos(angle));
      t[6 * i + 5] = (float) r.nextDouble(-0.15, 0.15);
    }
    return Tensor.of(device, t, n, 2, 3);
  }

  /** Upright glyphs "F", "L", "P" (asymmetric, so every rotation shows) with random stroke width. */
  private static Tensor glyphs(Device device, SplittableRandom r, int n) {
    float[] px = new float[n * SIZE * SIZE];
    for (int i = 0; i < n; i++) {
      int kind = r.nextInt(3);
      int w = 2 + r.nextInt(2);
      int top = 6;
      int bottom = 22;
      int left = 9;
      int right = 19;
      for (int y = 0; y < SIZE; y++) {
        for (int x = 0; x < SIZE; x++) {
          boolean stem = x >= left && x < left + w && y >= top && y < bottom;
          boolean topBar = y >= top && y < top + w && x >= left && x < right;
          boolean midBar = y >= 13 && y < 13 + w && x >= left && x < right - 2;
          boolean bottomBar = y >= bottom - w && y < bottom && x >= left && x < right;
          boolean rightBar = x >= right - w && x < right && y >= top && y < 13 + w;
          boolean on = switch (kind) {
            case 0 -> stem || topBar || midBar;
            case 1 -> stem || bottomBar;
            default -> stem || topBar || midBar || rightBar;
          };
          px[(i * SIZE + y) * SIZE + x] = on ? 1f : 0f;
        }
      }
    }
    return Tensor.of(device, px, n, 1, SIZE, SIZE);
  }
}
