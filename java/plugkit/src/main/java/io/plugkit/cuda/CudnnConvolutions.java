package io.plugkit.cuda;

import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.UnsupportedFeatureException;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * 2-D convolutions through cuDNN: descriptors built per call and destroyed after it, the
 * algorithm chosen once per (direction, geometry) from cuDNN's heuristic ranking and cached,
 * the workspace taken from the stream-ordered pool for the call.
 *
 * <p>Precision: unless TF32 is allowed, the convolution descriptor asks for FMA math (true FP32)
 * and algorithms that need tensor-op math are passed over while another fits, so results match
 * the CPU driver and PyTorch within FP32 rounding. With TF32 allowed, cuDNN's own choice stands.
 */
final class CudnnConvolutions {
  /** A chosen algorithm: its id, the workspace it needs, the math type to run it with. */
  record Choice(int algo, long workspaceBytes, int mathType) {}

  private record Key(Cudnn.Direction direction, Conv2dGeometry geometry) {}

  private final Cudnn cudnn;
  private final long workspaceLimit;
  private final boolean allowTf32;
  private final ConcurrentHashMap<Key, Choice> choices = new ConcurrentHashMap<>();

  CudnnConvolutions(Cudnn cudnn, long workspaceLimit, boolean allowTf32) {
    this.cudnn = cudnn;
    this.workspaceLimit = workspaceLimit;
    this.allowTf32 = allowTf32;
  }

  Cudnn cudnn() { return cudnn; }

  /**
   * Runs one direction with alpha = 1, beta = 0 (the output is overwritten). Operands as the
   * cuDNN call takes them: FORWARD (x, w) -> y, BACKWARD_DATA (w, dy) -> dx, BACKWARD_FILTER
   * (x, dy) -> dw. The geometry's batch must be at least 1.
   */
  void run(Cudnn.Direction direction, Conv2dGeometry g, long handle, ThreadStream ts, DeviceMemory memory, long first,
      long second, long out) {
    long x = 0;
    long y = 0;
    long w = 0;
    long conv = 0;
    try {
      x = cudnn.tensor(g.n(), g.inChannels(), g.inH(), g.inW());
      y = cudnn.tensor(g.n(), g.outChannels(), g.outH(), g.outW());
      w = cudnn.filter(g.outChannels(), g.inChannelsPerGroup(), g.kernelH(), g.kernelW());
      conv = cudnn.convolution(g.padH(), g.padW(), g.strideH(), g.strideW(), g.dilationH(), g.dilationW(), g.groups(),
          allowTf32 ? Cudnn.DEFAULT_MATH : Cudnn.FMA_MATH);
      long[] d = switch (direction) {
        case FORWARD -> new long[] {x, w, y};
        case BACKWARD_DATA -> new long[] {w, y, x};
        case BACKWARD_FILTER -> new long[] {x, y, w};
      };
      long convDesc = conv;
      Choice c = choices.computeIfAbsent(new Key(direction, g),
          k -> choose(direction, g, cudnn.algorithms(direction, handle, d[0], d[1], convDesc, d[2])));
      cudnn.setMathType(conv, c.mathType());
      long workspace = c.workspaceBytes() > 0 ? memory.allocate(c.workspaceBytes(), ts) : 0;
      try {
        cudnn.run(direction, handle, d[0], first, d[1], second, conv, c.algo(), workspace, c.workspaceBytes(), d[2], out);
      } finally {
        if (workspace != 0) memory.free(workspace, ts);
      }
    } finally {
      if (conv != 0) cudnn.destroyConvolution(conv);
      if (w != 0) cudnn.destroyFilter(w);
      if (y != 0) cudnn.destroyTensor(y);
      if (x != 0) cudnn.destroyTensor(x);
    }
  }

  /**
   * The first algorithm in cuDNN's ranking that succeeded and whose workspace fits the limit;
   * without TF32, one that needs no tensor-op math if any fits, else the first fitting one.
   */
  Choice choose(Cudnn.Direction direction, Conv2dGeometry g, List<Cudnn.AlgoPerf> ranked) {
    Cudnn.AlgoPerf fallback = null;
    for (Cudnn.AlgoPerf p : ranked) {
      if (p.status() != 0 || p.memory() < 0 || p.memory() > workspaceLimit) continue;
      boolean tensorOp = p.mathType() == Cudnn.TENSOR_OP_MATH || p.mathType() == Cudnn.TENSOR_OP_MATH_ALLOW_CONVERSION;
      if (allowTf32) return new Choice(p.algo(), p.memory(), p.mathType());
      if (!tensorOp) return new Choice(p.algo(), p.memory(), Cudnn.FMA_MATH);
      if (fallback == null) fallback = p;
    }
    if (fallback != null) return new Choice(fallback.algo(), fallback.memory(), fallback.mathType());
    throw new UnsupportedFeatureException("cuDNN offers no " + direction.callName + " convolution algorithm for " + g
        + " within " + workspaceLimit + " bytes of workspace (ranking: " + ranked + "); raise PLUGKIT_CUDNN_WORKSPACE_MB");
  }
}
