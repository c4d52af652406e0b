package io.plugkit.ops;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.ops.AtrousConv.Path;
import java.util.Arrays;

/**
 * Conv2d on CNN-typical geometries with the path measured (AUTO), forced onto the tap kernels
 * (ATROUS) and forced onto im2col + GEMM (STANDARD, what an undilated conv always ran before),
 * interleaved in one run; prints the best of each for forward and forward+backward. Not a test:
 * run by hand after {@code make java} (the bench module's lib/ holds OpenBLAS):
 * {@code java --enable-native-access=ALL-UNNAMED -cp
 * "java/plugkit/target/classes:java/plugkit/target/test-classes:java/plugkit-bench/target/lib/*"
 * io.plugkit.ops.ConvPathBench [rounds]}.
 */
public final class ConvPathBench {
  /** n, cin, h, w, cout, kernel, stride, padding. */
  private static final int[][] CASES = {
      {8, 64, 56, 56, 64, 3, 1, 1}, {8, 64, 56, 56, 128, 3, 2, 1}, {8, 128, 28, 28, 128, 3, 1, 1},
      {8, 128, 28, 28, 256, 3, 2, 1}, {8, 256, 14, 14, 256, 3, 1, 1}, {8, 512, 7, 7, 512, 3, 1, 1},
      {1, 64, 56, 56, 64, 3, 1, 1}, {8, 16, 32, 32, 32, 5, 1, 2}, {1, 3, 224, 224, 64, 7, 2, 3}};
  private static final Path[] PATHS = {Path.AUTO, Path.ATROUS, Path.STANDARD};

  private ConvPathBench() {}

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    Device d = Device.cpu();
    System.out.printf("%-30s %-7s %9s %9s %9s  %s%n", "n,cin,h,w,cout,k,s,p", "mode", "auto ms", "atrous", "standard",
        "standard/auto");
    for (int[] c : CASES) {
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.uniform(d, 1, -1, 1, c[0], c[1], c[2], c[3]).requiresGrad(true);
        Tensor w = Tensor.uniform(d, 2, -1, 1, c[4], c[1], c[5], c[5]).requiresGrad(true);
        Tensor b = Tensor.uniform(d, 3, -1, 1, c[4]).requiresGrad(true);
        Conv.Options o = Conv.Options.DEFAULT.stride(c[6]).padding(c[7]);
        double[][] best = new double[2][PATHS.length];
        for (double[] row : best) Arrays.fill(row, Double.MAX_VALUE);
        for (int round = 0; round <= rounds; round++) { // round 0 warms up (and measures AUTO's choice)
          for (int p = 0; p < PATHS.length; p++) {
            Path old = AtrousConv.forcePath(PATHS[p]);
            try {
              for (int mode = 0; mode < 2; mode++) {
                long t0 = System.nanoTime();
                try (Scope t = Scope.open()) {
                  Tensor y = Conv.conv2d(x, w, b, o);
                  if (mode == 1) y.backward(Tensor.ones(d, y.dims()));
                }
                double ms = (System.nanoTime() - t0) / 1e6;
                x.clearGrad();
                w.clearGrad();
                b.clearGrad();
                if (round > 0) best[mode][p] = Math.min(best[mode][p], ms);
              }
            } finally {
              AtrousConv.forcePath(old);
            }
          }
        }
        for (int mode = 0; mode < 2; mode++) {
          System.out.printf("%-30s %-7s %9.2f %9.2f %9.2f  %.2fx%n", Arrays.toString(c).replace(" ", ""),
              mode == 0 ? "fwd" : "fwdbwd", best[mode][0], best[mode][1], best[mode][2], best[mode][2] / best[mode][0]);
        }
      }
    }
  }
}
