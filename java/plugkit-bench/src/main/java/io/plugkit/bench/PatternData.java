package io.plugkit.bench;

import io.plugkit.Device;
import io.plugkit.Tensor;
import java.util.SplittableRandom;

/**
 * Generated images, no downloads: 1x16x16 patterns of four classes with random phase, frequency,
 * contrast and noise: horizontal stripes, vertical stripes, diagonal stripes, concentric rings.
 */
final class PatternData {
  static final int SIZE = 16;
  static final int CLASSES = 4;

  private final SplittableRandom random;

  /** Images [n,1,16,16] and I64 labels [n]. */
  record Batch(Tensor images, Tensor labels) {}

  PatternData(long seed) { random = new SplittableRandom(seed); }

  Batch batch(Device device, int n) {
    float[] pixels = new float[n * SIZE * SIZE];
    long[] labels = new long[n];
    for (int i = 0; i < n; i++) {
      int cls = random.nextInt(CLASSES);
      labels[i] = cls;
      double freq = 0.5 + random.nextDouble() * 0.6;
      double phase = random.nextDouble() * 2 * Math.PI;
      double contrast = 0.5 + random.nextDouble();
      double cy = SIZE / 2.0 + random.nextDouble() * 4 - 2;
      double cx = SIZE / 2.0 + random.nextDouble() * 4 - 2;
      for (int y = 0; y < SIZE; y++) {
        for (int x = 0; x < SIZE; x++) {
          double t = switch (cls) {
            case 0 -> y;
            case 1 -> x;
            case 2 -> (x + y) / Math.sqrt(2);
            default -> Math.hypot(x - cx, y - cy);
          };
          double noise = random.nextDouble() - 0.5;
          pixels[(i * SIZE + y) * SIZE + x] = (float) (contrast * Math.sin(freq * t + phase) + 0.6 * noise);
        }
      }
    }
    return new Batch(Tensor.of(device, pixels, n, 1, SIZE, SIZE), Tensor.ofLongs(device, labels, n));
  }
}
