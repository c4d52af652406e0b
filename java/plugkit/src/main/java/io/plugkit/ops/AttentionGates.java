package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.DType;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Kernel;

/**
 * Fused pieces of SE, CBAM and DCANet attention (cuda-kernels/attention_gates.cu): the global mean
 * and max of each plane in one pass, CBAM's channel mean and max in one pass, the final scaling
 * fused with its sigmoid or hard-sigmoid gate, and the LayerNorm of DCANet's attention connection.
 * Images are [N, C, H, W] F32 with C, H, W > 0 (N may be 0).
 *
 * <p>Maxima follow {@code amax} (timm's SE and CBAM write {@code x.amax(...)}): a NaN is the maximum,
 * and the gradient is shared equally among the elements equal to the maximum (all NaN when the
 * maximum is NaN, as PyTorch computes {@code grad / count * mask}).
 */
public final class AttentionGates {
  static final Kernel CHANNEL_MEAN_MAX_FORWARD = Kernel.of("gate_channel_mean_max_forward", PTR, PTR, PTR, I32, I64);
  static final Kernel CHANNEL_MEAN_MAX_BACKWARD = Kernel.of("gate_channel_mean_max_backward", PTR, PTR, PTR, PTR, PTR, I32,
      I64);
  // GATES_BLOCK in the kernel source: its shared-memory tree is sized for 256 threads.
  static final Kernel GLOBAL_MEAN_MAX_FORWARD = Kernel.withBlock("gate_global_mean_max_forward", 256, PTR, PTR, PTR, I64);
  static final Kernel GLOBAL_MEAN_MAX_BACKWARD = Kernel.of("gate_global_mean_max_backward", PTR, PTR, PTR, PTR, PTR, I64,
      I64);
  static final Kernel CHANNEL_MEAN_MAX_FUSED_FORWARD = Kernel.of("gate_channel_mean_max_fused_forward", PTR, PTR, PTR, PTR,
      PTR, I32, I64, I32);
  static final Kernel CHANNEL_FORWARD = Kernel.of("gate_channel_forward", PTR, PTR, PTR, I64, I32);
  static final Kernel SPATIAL_FORWARD = Kernel.of("gate_spatial_forward", PTR, PTR, PTR, I32, I64, I32);
  // 256 threads: 8 warps reduce one (n, c) plane (784 values at 28x28), enough to hide load latency.
  static final Kernel CHANNEL_BACKWARD = Kernel.withBlock("gate_channel_backward", 256, PTR, PTR, PTR, PTR, PTR, I64, I32);
  static final Kernel SPATIAL_BACKWARD = Kernel.of("gate_spatial_backward", PTR, PTR, PTR, PTR, PTR, I32, I64, I32);
  static final Kernel LAYER_NORM_FORWARD = Kernel.of("dca_layer_norm_forward", PTR, PTR, PTR, PTR, PTR, PTR, I32, F32);
  static final Kernel LAYER_NORM_BACKWARD = Kernel.of("dca_layer_norm_backward", PTR, PTR, PTR, PTR, PTR, PTR, I32);
  static final Kernel LAYER_NORM_PARAM_GRAD = Kernel.of("dca_layer_norm_param_grad", PTR, PTR, PTR, PTR, PTR, PTR, I32);

  private AttentionGates() {}

  /** The gate g applied to attention logits. */
  public enum Gate {
    /** 1 / (1 + exp(-a)). */
    SIGMOID(0),
    /** relu6(a + 3) / 6 (torch.nn.Hardsigmoid); its gradient is 1/6 strictly inside (-3, 3), else 0. */
    HARD_SIGMOID(1);

    final int code;

    Gate(int code) { this.code = code; }
  }

  /**
   * SE's and CBAM's squeeze in one read of x: x [N, C, H, W] -> [2N, C, 1, 1], rows 0..N-1 the
   * means over H, W and rows N..2N-1 the maxima (x.mean((2, 3)) stacked on x.amax((2, 3))), so a
   * shared MLP runs once over both.
   */
  public static Tensor globalMeanMax(Tensor x) {
    PoolGeometry.checkImages(x, "x");
    long planes = (long) x.dim(0) * x.dim(1);
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x, Shape.of(2 * x.dim(0), x.dim(1), 1, 1));
    Tensor count = Tensor.empty(x.device(), DType.F32, Shape.of(Math.toIntExact(planes)));
    x.driver().launch(GLOBAL_MEAN_MAX_FORWARD, planes, x.address(), y.address(), count.address(), plane);
    if (!Autograd.needsGrad(x)) {
      count.close();
      return y;
    }
    return Autograd.record("global_mean_max", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(GLOBAL_MEAN_MAX_BACKWARD, x.numel(), x.address(), y.address(), count.address(), g.address(),
          dx.address(), planes, plane);
      return new Tensor[] {dx};
    }, x);
  }

  /**
   * CBAM's spatial descriptor: x [N, C, H, W] -> [N, 2, H, W], channel 0 the mean over C and
   * channel 1 the maximum over C (torch.cat([x.mean(1, True), x.amax(1, True)], 1)) in one pass.
   */
  public static Tensor channelMeanMax(Tensor x) {
    PoolGeometry.checkImages(x, "x");
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x, Shape.of(x.dim(0), 2, x.dim(2), x.dim(3)));
    Tensor count = Tensor.empty(x.device(), DType.F32, Shape.of(x.dim(0), x.dim(2), x.dim(3)));
    x.driver().launch(CHANNEL_MEAN_MAX_FORWARD, x.dim(0) * plane, x.address(), y.address(), count.address(), x.dim(1),
        plane);
    return recordChannelMeanMax(x, y, count);
  }

  /**
   * CBAM's channel attention output and its spatial descriptor in one read of x: returns
   * {y, desc} with y = {@link #channelGate}(x, a, gate) and desc = {@link #channelMeanMax}(y),
   * each with its own backward (desc's flows into y's).
   */
  public static Tensor[] channelGateMeanMax(Tensor x, Tensor a, Gate gate) {
    PoolGeometry.checkImages(x, "x");
    checkLogits(x, a, x.dim(1), 1, 1);
    checkGate(gate);
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x);
    Tensor desc = Tensor.emptyLike(x, Shape.of(x.dim(0), 2, x.dim(2), x.dim(3)));
    Tensor count = Tensor.empty(x.device(), DType.F32, Shape.of(x.dim(0), x.dim(2), x.dim(3)));
    x.driver().launch(CHANNEL_MEAN_MAX_FUSED_FORWARD, x.dim(0) * plane, x.address(), a.address(), y.address(),
        desc.address(), count.address(), x.dim(1), plane, gate.code);
    Tensor gated = recordChannelGate(x, a, gate, y);
    return new Tensor[] {gated, recordChannelMeanMax(gated, desc, count)};
  }

  private static Tensor recordChannelMeanMax(Tensor x, Tensor y, Tensor count) {
    if (!Autograd.needsGrad(x)) {
      count.close();
      return y;
    }
    long plane = (long) x.dim(2) * x.dim(3);
    return Autograd.record("channel_mean_max", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      x.driver().launch(CHANNEL_MEAN_MAX_BACKWARD, x.numel(), x.address(), y.address(), count.address(), g.address(),
          dx.address(), x.dim(1), plane);
      return new Tensor[] {dx};
    }, x);
  }

  /**
   * The channel gate fused with the scaling: y = x * g(a), x [N, C, H, W], a [N, C, 1, 1] (SE's and
   * CBAM's excitation logits), y [N, C, H, W]. Backward: dx = dy * g(a),
   * da = g'(a) * sum over H, W of dy * x.
   */
  public static Tensor channelGate(Tensor x, Tensor a, Gate gate) {
    PoolGeometry.checkImages(x, "x");
    checkLogits(x, a, x.dim(1), 1, 1);
    checkGate(gate);
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(CHANNEL_FORWARD, x.numel(), x.address(), a.address(), y.address(), plane, gate.code);
    return recordChannelGate(x, a, gate, y);
  }

  private static Tensor recordChannelGate(Tensor x, Tensor a, Gate gate, Tensor y) {
    long plane = (long) x.dim(2) * x.dim(3);
    return Autograd.record("channel_gate", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      Tensor da = Tensor.emptyLike(a);
      x.driver().launch(CHANNEL_BACKWARD, a.numel(), x.address(), a.address(), g.address(), dx.address(), da.address(),
          plane, gate.code);
      return onlyNeeded(x, dx, a, da);
    }, x, a);
  }

  /**
   * The spatial gate fused with the scaling: y = x * g(a), x [N, C, H, W], a [N, 1, H, W] (CBAM's
   * spatial attention logits), y [N, C, H, W]. Backward: dx = dy * g(a),
   * da = g'(a) * sum over C of dy * x.
   */
  public static Tensor spatialGate(Tensor x, Tensor a, Gate gate) {
    PoolGeometry.checkImages(x, "x");
    checkLogits(x, a, 1, x.dim(2), x.dim(3));
    checkGate(gate);
    int channels = x.dim(1);
    long plane = (long) x.dim(2) * x.dim(3);
    Tensor y = Tensor.emptyLike(x);
    x.driver().launch(SPATIAL_FORWARD, x.numel(), x.address(), a.address(), y.address(), channels, plane, gate.code);
    return Autograd.record("spatial_gate", y, g -> {
      Tensor dx = Tensor.emptyLike(x);
      Tensor da = Tensor.emptyLike(a);
      x.driver().launch(SPATIAL_BACKWARD, a.numel(), x.address(), a.address(), g.address(), dx.address(), da.address(),
          channels, plane, gate.code);
      return onlyNeeded(x, dx, a, da);
    }, x, a);
  }

  /**
   * torch.nn.functional.layer_norm over the last dim: x [..., K] (rank >= 1, K > 0), weight and
   * bias [K]; y = (x - mean) / sqrt(var + eps) * weight + bias with the biased variance of each
   * row. Meant for DCANet's short channel descriptors (one thread per row).
   */
  public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
    Checks.tensor(x, "x");
    if (x.rank() < 1 || x.dim(x.rank() - 1) == 0) {
      throw new IllegalArgumentException("x: expected rank >= 1 with a last dim > 0 but got shape " + x.shape());
    }
    int cols = x.dim(x.rank() - 1);
    checkAffine(x, weight, "weight", cols);
    checkAffine(x, bias, "bias", cols);
    if (!(eps > 0f)) throw new IllegalArgumentException("eps: expected > 0 but got " + eps);
    long rows = x.numel() / cols;
    Tensor y = Tensor.emptyLike(x);
    Tensor mean = Tensor.empty(x.device(), DType.F32, Shape.of(Math.toIntExact(rows)));
    Tensor rstd = Tensor.emptyLike(mean);
    x.driver().launch(LAYER_NORM_FORWARD, rows, x.address(), weight.address(), bias.address(), y.address(),
        mean.address(), rstd.address(), cols, eps);
    if (!Autograd.needsGrad(x, weight, bias)) {
      mean.close();
      rstd.close();
      return y;
    }
    return Autograd.record("dca_layer_norm", y, g -> {
      Tensor dx = null;
      if (x.requiresGrad()) {
        dx = Tensor.emptyLike(x);
        x.driver().launch(LAYER_NORM_BACKWARD, rows, x.address(), weight.address(), mean.address(), rstd.address(),
            g.address(), dx.address(), cols);
      }
      Tensor dw = Tensor.emptyLike(weight);
      Tensor db = Tensor.emptyLike(bias);
      x.driver().launch(LAYER_NORM_PARAM_GRAD, cols, x.address(), mean.address(), rstd.address(), g.address(),
          dw.address(), db.address(), Math.toIntExact(rows));
      return new Tensor[] {dx, onlyIfNeeded(weight, dw), onlyIfNeeded(bias, db)};
    }, x, weight, bias);
  }

  private static void checkLogits(Tensor x, Tensor a, int c, int h, int w) {
    Checks.rank(a, "a", 4);
    Checks.sameDevice(x, "x", a, "a");
    if (a.dim(0) != x.dim(0) || a.dim(1) != c || a.dim(2) != h || a.dim(3) != w) {
      throw new IllegalArgumentException("a: expected shape [" + x.dim(0) + ", " + c + ", " + h + ", " + w
          + "] for x of shape " + x.shape() + " but got " + a.shape());
    }
  }

  private static void checkAffine(Tensor x, Tensor t, String name, int cols) {
    Checks.rank(t, name, 1);
    Checks.dim(t, name, 0, cols);
    Checks.sameDevice(x, "x", t, name);
  }

  private static void checkGate(Gate gate) {
    if (gate == null) throw new IllegalArgumentException("gate: expected SIGMOID or HARD_SIGMOID but got null");
  }

  private static Tensor[] onlyNeeded(Tensor x, Tensor dx, Tensor a, Tensor da) {
    return new Tensor[] {onlyIfNeeded(x, dx), onlyIfNeeded(a, da)};
  }

  /** The gradient when its input takes one; otherwise frees it at once and returns null. */
  private static Tensor onlyIfNeeded(Tensor input, Tensor grad) {
    if (input.requiresGrad()) return grad;
    grad.close();
    return null;
  }
}
