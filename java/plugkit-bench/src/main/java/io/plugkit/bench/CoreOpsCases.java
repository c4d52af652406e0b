package io.plugkit.bench;

import static io.plugkit.bench.BenchCase.input;
import static io.plugkit.bench.Cost.n;

import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.AvgPool2dOptions;
import io.plugkit.ops.BatchNorm;
import io.plugkit.ops.Conv;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Interpolate;
import io.plugkit.ops.InterpolateOptions;
import io.plugkit.ops.Linear;
import io.plugkit.ops.Losses;
import io.plugkit.ops.MaxPool2dOptions;
import io.plugkit.ops.Pooling;
import io.plugkit.ops.Reductions;
import io.plugkit.ops.Softmax;
import java.util.List;
import java.util.SplittableRandom;

/** The core ops at shapes typical of a ResNet stage, each mirrored in tools/bench/torch_bench.py. */
public final class CoreOpsCases {
  private CoreOpsCases() {}

  /** FLOPs of a convolution forward: 2 x N x Cout x Ho x Wo x (Cin / groups) x kh x kw. */
  static double conv(int n, int cout, int ho, int wo, int cinPerGroup, int taps) {
    return 2 * n(n, cout, ho, wo, cinPerGroup, taps);
  }

  public static List<BenchCase> all() {
    return List.of(
        new BenchCase("conv2d 8x32x56x56 k3 p1 ->64", "conv2d",
            "{\"x\":[8,32,56,56],\"w\":[64,32,3,3],\"stride\":1,\"padding\":1,\"dilation\":1,\"groups\":1}", d -> {
              Tensor x = input(d, 1, 8, 32, 56, 56);
              Tensor w = input(d, 2, 64, 32, 3, 3);
              Tensor b = input(d, 3, 64);
              return new BenchCase.Workload(() -> Conv.conv2d(x, w, b, Conv.Options.DEFAULT.padding(1)), List.of(x, w, b));
            })
            .withCost(Cost.compute(conv(8, 64, 56, 56, 32, 9), 3 * conv(8, 64, 56, 56, 32, 9),
                n(8, 32, 56, 56) + n(64, 32, 3, 3) + 64, n(8, 64, 56, 56))),
        new BenchCase("linear 256x512 ->512", "linear", "{\"x\":[256,512],\"w\":[512,512]}", d -> {
          Tensor x = input(d, 1, 256, 512);
          Tensor w = input(d, 2, 512, 512);
          Tensor b = input(d, 3, 512);
          return new BenchCase.Workload(() -> Linear.linear(x, w, b), List.of(x, w, b));
        })
            .withCost(Cost.compute(2 * n(256, 512, 512), 6 * n(256, 512, 512), n(256, 512) + n(512, 512) + 512, n(256, 512))),
        new BenchCase("matmul 16x128x64 @ 16x64x128", "matmul", "{\"a\":[16,128,64],\"b\":[16,64,128]}", d -> {
          Tensor a = input(d, 1, 16, 128, 64);
          Tensor b = input(d, 2, 16, 64, 128);
          return new BenchCase.Workload(() -> Linear.matmul(a, b), List.of(a, b));
        })
            .withCost(Cost.compute(2 * n(16, 128, 64, 128), 6 * n(16, 128, 64, 128), 2 * n(16, 128, 64), n(16, 128, 128))),
        new BenchCase("batch_norm train 8x64x56x56", "batch_norm", "{\"x\":[8,64,56,56]}", d -> {
          Tensor x = input(d, 1, 8, 64, 56, 56);
          Tensor w = input(d, 2, 64);
          Tensor b = input(d, 3, 64);
          Tensor rm = Tensor.zeros(d, 64);
          Tensor rv = Tensor.ones(d, 64);
          return new BenchCase.Workload(() -> BatchNorm.batchNorm(x, rm, rv, w, b, true, 0.1f, 1e-5f), List.of(x, w, b));
        })
            .withCost(Cost.memory(5 * n(8, 64, 56, 56), 12 * n(8, 64, 56, 56), n(8, 64, 56, 56) + 128, n(8, 64, 56, 56))),
        new BenchCase("max_pool2d 8x64x56x56 k3 s2 p1", "max_pool2d", "{\"x\":[8,64,56,56],\"kernel\":3,\"stride\":2,\"padding\":1}", d -> {
          Tensor x = input(d, 1, 8, 64, 56, 56);
          return new BenchCase.Workload(() -> Pooling.maxPool2d(x, MaxPool2dOptions.kernel(3).stride(2).padding(1)), List.of(x));
        })
            .withCost(Cost.memory(9 * n(8, 64, 28, 28), 10 * n(8, 64, 28, 28), n(8, 64, 56, 56), n(8, 64, 28, 28))),
        new BenchCase("avg_pool2d 8x64x56x56 k2 s2", "avg_pool2d", "{\"x\":[8,64,56,56],\"kernel\":2,\"stride\":2,\"padding\":0}", d -> {
          Tensor x = input(d, 1, 8, 64, 56, 56);
          return new BenchCase.Workload(() -> Pooling.avgPool2d(x, AvgPool2dOptions.kernel(2).stride(2)), List.of(x));
        })
            .withCost(Cost.memory(4 * n(8, 64, 28, 28), 4 * n(8, 64, 28, 28) + n(8, 64, 56, 56), n(8, 64, 56, 56), n(8, 64, 28, 28))),
        new BenchCase("global_avg_pool 8x256x14x14", "global_avg_pool", "{\"x\":[8,256,14,14]}", d -> {
          Tensor x = input(d, 1, 8, 256, 14, 14);
          return new BenchCase.Workload(() -> Pooling.globalAvgPool2d(x), List.of(x));
        })
            .withCost(Cost.memory(n(8, 256, 14, 14), 2 * n(8, 256, 14, 14), n(8, 256, 14, 14), n(8, 256))),
        new BenchCase("bilinear 8x64x28x28 ->56x56", "interpolate",
            "{\"x\":[8,64,28,28],\"size\":[56,56],\"mode\":\"bilinear\",\"align_corners\":false}", d -> {
              Tensor x = input(d, 1, 8, 64, 28, 28);
              return new BenchCase.Workload(
                  () -> Interpolate.interpolate(x, InterpolateOptions.size(56, 56).mode(Interpolate.Mode.BILINEAR)), List.of(x));
            })
            .withCost(Cost.memory(8 * n(8, 64, 56, 56), 16 * n(8, 64, 56, 56), n(8, 64, 28, 28), n(8, 64, 56, 56))),
        new BenchCase("softmax 64x1000 dim1", "softmax", "{\"x\":[64,1000],\"dim\":1}", d -> {
          Tensor x = input(d, 1, 64, 1000);
          return new BenchCase.Workload(() -> Softmax.softmax(x, 1), List.of(x));
        })
            .withCost(Cost.memory(5 * n(64, 1000), 9 * n(64, 1000), n(64, 1000), n(64, 1000))),
        new BenchCase("add 8x64x56x56 + 1x64x1x1", "add", "{\"a\":[8,64,56,56],\"b\":[1,64,1,1]}", d -> {
          Tensor a = input(d, 1, 8, 64, 56, 56);
          Tensor b = input(d, 2, 1, 64, 1, 1);
          return new BenchCase.Workload(() -> Elementwise.add(a, b), List.of(a, b));
        })
            .withCost(Cost.memory(n(8, 64, 56, 56), 2 * n(8, 64, 56, 56), n(8, 64, 56, 56) + 64, n(8, 64, 56, 56))),
        new BenchCase("relu 8x64x56x56", "relu", "{\"x\":[8,64,56,56]}", d -> {
          Tensor x = input(d, 1, 8, 64, 56, 56);
          return new BenchCase.Workload(() -> Activations.relu(x), List.of(x));
        })
            .withCost(Cost.memory(n(8, 64, 56, 56), 2 * n(8, 64, 56, 56), n(8, 64, 56, 56), n(8, 64, 56, 56))),
        new BenchCase("sum 8x64x56x56 dims 0,2,3", "sum", "{\"x\":[8,64,56,56],\"dims\":[0,2,3]}", d -> {
          Tensor x = input(d, 1, 8, 64, 56, 56);
          return new BenchCase.Workload(() -> Reductions.sum(x, new int[] {0, 2, 3}, true), List.of(x));
        })
            .withCost(Cost.memory(n(8, 64, 56, 56), n(8, 64, 56, 56), n(8, 64, 56, 56), 64)),
        new BenchCase("cross_entropy 256x1000", "cross_entropy", "{\"x\":[256,1000]}", d -> {
          Tensor x = input(d, 1, 256, 1000);
          long[] labels = new SplittableRandom(5).longs(256, 0, 1000).toArray();
          Tensor t = Tensor.ofLongs(d, labels, 256);
          return new BenchCase.Workload(() -> Losses.crossEntropy(x, t), List.of(x));
        })
            .withCost(Cost.memory(5 * n(256, 1000), 8 * n(256, 1000), n(256, 1000), 1)));
  }
}
