package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * ASFF's adaptive fusion, op id {@code asff_fuse} (cuda-kernels/asff.cu): Liu et al., "Learning
 * Spatial Fusion for Single-Shot Object Detection" (2019). Given the weight logits
 * {@code [N, 3, H, W]} (the output of ASFF's {@code weight_levels} conv) and the three resized
 * levels {@code [N, C, H, W]}, computes in one kernel
 * {@code y = f0 * w[:, 0:1] + f1 * w[:, 1:2] + f2 * w[:, 2:3]} with {@code w = softmax(logits, dim=1)},
 * as the reference's {@code F.softmax} then weighted sum. The softmax map is never stored: the
 * backward recomputes it from the logits. Gradients flow to the logits and to all three levels.
 *
 * <p>C, H, W > 0; N may be 0. A NaN logit makes every weight of its pixel NaN, as PyTorch's softmax.
 */
public final class FeatureFusion {
  static final Kernel ASFF_FUSE_FORWARD = Kernel.of("asff_fuse_forward", PTR, PTR, PTR, PTR, PTR, I32, I64);
  static final Kernel ASFF_FUSE_BACKWARD =
      Kernel.of("asff_fuse_backward", PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, I32, I32, I64);
  static final Kernel ASFF_FUSE_BACKWARD_LOGITS = Kernel.of("asff_fuse_backward_logits", PTR, PTR, PTR, I32, I64);

  /**
   * Channels per item of the backward's main pass: the logit gradients' channel sums are split in
   * chunks of this many (partial sums [N, chunks, 3, H, W], then added up in order), so the pass has
   * C / CHUNK times more items than pixels (GPU threads; host work items).
   */
  static final int CHUNK = 32;

  private FeatureFusion() {}

  /**
   * {@code softmax(logits, 1)}-weighted sum of {@code f0, f1, f2}: logits [N, 3, H, W], each level
   * [N, C, H, W] -> [N, C, H, W].
   */
  public static Tensor asff(Tensor logits, Tensor f0, Tensor f1, Tensor f2) {
    PoolGeometry.checkImages(logits, "logits");
    Checks.dim(logits, "logits", 1, 3);
    PoolGeometry.checkImages(f0, "f0");
    if (f0.dim(0) != logits.dim(0) || f0.dim(2) != logits.dim(2) || f0.dim(3) != logits.dim(3)) {
      throw new IllegalArgumentException("f0: expected [N, C, H, W] with N, H, W of logits " + logits.shape()
          + " but got shape " + f0.shape());
    }
    Checks.sameDevice(logits, "logits", f0, "f0");
    Checks.tensor(f1, "f1");
    Checks.sameShape(f0, "f0", f1, "f1");
    Checks.sameDevice(logits, "logits", f1, "f1");
    Checks.tensor(f2, "f2");
    Checks.sameShape(f0, "f0", f2, "f2");
    Checks.sameDevice(logits, "logits", f2, "f2");
    int channels = f0.dim(1);
    long planeSize = (long) f0.dim(2) * f0.dim(3);
    Tensor y = Tensor.emptyLike(f0);
    f0.driver().launch(ASFF_FUSE_FORWARD, y.numel(), logits.address(), f0.address(), f1.address(), f2.address(),
        y.address(), channels, planeSize);
    return Autograd.record("asff_fuse", y, dy -> {
      int chunks = (channels + CHUNK - 1) / CHUNK;
      Tensor dLogits = Tensor.emptyLike(logits);
      Tensor d0 = Tensor.emptyLike(f0);
      Tensor d1 = Tensor.emptyLike(f0);
      Tensor d2 = Tensor.emptyLike(f0);
      Tensor partial = Tensor.emptyLike(logits, Shape.of(f0.dim(0), chunks, 3, f0.dim(2), f0.dim(3)));
      long pixels = (long) f0.dim(0) * planeSize;
      f0.driver().launch(ASFF_FUSE_BACKWARD, pixels * chunks, logits.address(), f0.address(), f1.address(),
          f2.address(), dy.address(), partial.address(), d0.address(), d1.address(), d2.address(), channels, CHUNK,
          planeSize);
      f0.driver().launch(ASFF_FUSE_BACKWARD_LOGITS, pixels, logits.address(), partial.address(), dLogits.address(),
          chunks, planeSize);
      partial.close();
      return new Tensor[] {dLogits, d0, d1, d2};
    }, logits, f0, f1, f2);
  }
}
