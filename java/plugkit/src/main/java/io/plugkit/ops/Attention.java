package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.PTR;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Kernel;

/**
 * Attention {@code softmax(scale * q k^T) v} over batched rows (cuda-kernels/attention.cu), the
 * affinity-and-aggregate step of non-local blocks. {@link #attention} is fused (FlashAttention-style
 * online softmax over key tiles): it keeps O(N*Dv + N) memory for the output and the per-row
 * max and reciprocal sum it saves, never the N x M affinity matrix, and its backward recomputes
 * the probabilities tile by tile from the very logits the forward rounded (accurate at any logit
 * size, as PyTorch's float32 softmax). {@link #attentionPlain} is the same function as matmul, softmax,
 * matmul (it stores N x M twice); it is the reference and the path for affinities without a softmax.
 */
public final class Attention {
  /** Threads per block of the GPU tiles: 64 rows x 4 threads (see attention.cu). */
  private static final int BLOCK = 256;

  static final Kernel FORWARD = Kernel.withBlock("attention_forward", BLOCK, PTR, PTR, PTR, PTR, PTR, I32, I32, I32, I32, F32);
  static final Kernel BACKWARD_DELTA = Kernel.of("attention_backward_delta", PTR, PTR, PTR, I32);
  static final Kernel BACKWARD_DQ = Kernel.withBlock("attention_backward_dq", BLOCK, PTR, PTR, PTR, PTR, PTR, PTR, PTR,
      I32, I32, I32, I32, F32);
  static final Kernel BACKWARD_DKDV = Kernel.withBlock("attention_backward_dkdv", BLOCK, PTR, PTR, PTR, PTR, PTR, PTR, PTR,
      PTR, I32, I32, I32, I32, F32);

  private Attention() {}

  /**
   * Fused {@code out = softmax(scale * q k^T, dim=-1) v}. Shapes: q {@code [B, N, D]}, k
   * {@code [B, M, D]}, v {@code [B, M, Dv]} -> {@code [B, N, Dv]}. With M = 0 the output is 0 (the
   * plain path's empty product). Records the backward of q, k and v.
   */
  public static Tensor attention(Tensor q, Tensor k, Tensor v, float scale) {
    check(q, k, v, scale);
    int batch = q.dim(0);
    int queries = q.dim(1);
    int keys = k.dim(1);
    int dim = q.dim(2);
    int valueDim = v.dim(2);
    Driver d = q.driver();
    Tensor out = Tensor.empty(q.device(), batch, queries, valueDim);
    // Per query row (m, 1 / l): the row max of the scaled logits and the reciprocal of the sum of
    // exp(t - m). Not their logsumexp: at large logits log(l) is lost in m + log(l).
    Tensor stats = Tensor.empty(q.device(), batch, queries, 2);
    long rows = (long) batch * queries;
    if (rows > 0) {
      d.launch(FORWARD, rows, q.address(), k.address(), v.address(), out.address(), stats.address(), queries, keys, dim,
          valueDim, scale);
    }
    return Autograd.record("attention", out, g -> {
      Tensor dq = q.requiresGrad() ? Tensor.emptyLike(q) : null;
      Tensor dk = k.requiresGrad() || v.requiresGrad() ? Tensor.emptyLike(k) : null;
      Tensor dv = dk != null ? Tensor.emptyLike(v) : null;
      try (Tensor delta = Tensor.empty(q.device(), batch, queries)) {
        if (rows > 0) d.launch(BACKWARD_DELTA, rows, g.address(), out.address(), delta.address(), valueDim);
        if (dq != null && rows > 0) {
          d.launch(BACKWARD_DQ, rows, q.address(), k.address(), v.address(), g.address(), stats.address(), delta.address(),
              dq.address(), queries, keys, dim, valueDim, scale);
        }
        long keyRows = (long) batch * keys;
        if (dk != null && keyRows > 0) { // with N = 0 the kernel writes zeros (no query attends to a key)
          d.launch(BACKWARD_DKDV, keyRows, q.address(), k.address(), v.address(), g.address(), stats.address(),
              delta.address(), dk.address(), dv.address(), queries, keys, dim, valueDim, scale);
        }
      }
      return new Tensor[] {dq, k.requiresGrad() ? dk : null, v.requiresGrad() ? dv : null};
    }, q, k, v);
  }

  /**
   * The same function unfused: {@code matmul(softmax(scale * matmul(q, k^T), -1), v)}, with the
   * shapes of {@link #attention}. It stores the N x M affinities (and their softmax) per batch.
   */
  public static Tensor attentionPlain(Tensor q, Tensor k, Tensor v, float scale) {
    check(q, k, v, scale);
    Tensor scores = Linear.matmul(q, Layout.transpose(k, 1, 2));
    if (scale != 1f) scores = Elementwise.mulScalar(scores, scale);
    return Linear.matmul(Softmax.softmax(scores, -1), v);
  }

  private static void check(Tensor q, Tensor k, Tensor v, float scale) {
    Checks.rank(q, "q", 3);
    Checks.rank(k, "k", 3);
    Checks.rank(v, "v", 3);
    Checks.sameDevice(q, "q", k, "k");
    Checks.sameDevice(q, "q", v, "v");
    Checks.dim(k, "k", 0, q.dim(0));
    Checks.dim(k, "k", 2, q.dim(2));
    Checks.dim(v, "v", 0, q.dim(0));
    Checks.dim(v, "v", 1, k.dim(1));
    if (!Float.isFinite(scale)) throw new IllegalArgumentException("scale: expected a finite value but got " + scale);
  }
}
