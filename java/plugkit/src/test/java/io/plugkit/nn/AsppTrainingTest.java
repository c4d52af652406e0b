package io.plugkit.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.ops.Losses;
import io.plugkit.optim.Adam;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A tiny segmentation head (Aspp + 1x1 classifier, training mode: batch statistics and the real
 * Dropout(0.5)) learns to mark a bright square in noise, per pixel, on the CPU: the loss must fall
 * well below its start.
 */
class AsppTrainingTest {
  private static final int SIZE = 12;

  /** Noise plus, per image, a 4x4 square of +1 at a random place; target 1 inside the square. */
  private static Tensor[] batch(Device d, SplittableRandom r, int n) {
    float[] x = new float[n * 3 * SIZE * SIZE];
    long[] t = new long[n * SIZE * SIZE];
    for (int i = 0; i < n; i++) {
      int top = r.nextInt(SIZE - 4);
      int left = r.nextInt(SIZE - 4);
      for (int y = 0; y < SIZE; y++) {
        for (int xx = 0; xx < SIZE; xx++) {
          boolean in = y >= top && y < top + 4 && xx >= left && xx < left + 4;
          t[(i * SIZE + y) * SIZE + xx] = in ? 1 : 0;
          for (int c = 0; c < 3; c++) {
            x[((i * 3 + c) * SIZE + y) * SIZE + xx] = (float) (r.nextGaussian() * 0.5 + (in ? 1.0 : 0.0));
          }
        }
      }
    }
    return new Tensor[] {Tensor.of(d, x, n, 3, SIZE, SIZE), Tensor.ofLongs(d, t, n, SIZE, SIZE)};
  }

  @Test
  void lossFalls() {
    Device d = Device.cpu();
    Init.seed(17);
    io.plugkit.ops.Dropout.seed(17);
    try (Scope model = Scope.open()) {
      Aspp aspp = new Aspp(3, new int[] {1, 2, 3}, 8, d);
      Conv2d classifier = new Conv2d(8, 2, 1, 1, 1, true, d);
      Sequential net = new Sequential(aspp, classifier);
      net.train();
      Adam adam = new Adam(net.parameters(), Adam.Options.lr(0.01f));
      SplittableRandom r = new SplittableRandom(5);
      double first = 0;
      double last = 0;
      int steps = 40;
      for (int step = 0; step < steps; step++) {
        try (Scope s = Scope.open()) {
          Tensor[] b = batch(d, r, 4);
          Tensor loss = Losses.crossEntropy(net.forward(b[0]), b[1]);
          loss.backward();
          adam.step();
          adam.zeroGrad();
          double v = loss.item();
          assertTrue(Double.isFinite(v), "loss at step " + step + ": " + v);
          if (step < 3) first += v / 3;
          if (step >= steps - 5) last += v / 5;
        }
      }
      // Start ~ln 2 = 0.69 (two classes, 1 pixel in 9 positive); a learnt head ends far below.
      assertTrue(last < 0.4 * first, "loss " + first + " -> " + last);
    }
  }
}
