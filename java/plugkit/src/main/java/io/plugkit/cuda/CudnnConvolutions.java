package io.plugkit.cuda;

import io.plugkit.driver.Conv2dGeometry;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * 2-D convolutions through cuDNN: descriptors built per call and destroyed after it, the
 * algorithms ranked once per (direction, geometry) by cuDNN's heuristic and cached, the workspace
 * taken from the stream-ordered pool for the call.
 *
 * <p>Fallback: the heuristic ranks without trying, so its first choice can still fail at run
 * time (not supported for this geometry on this GPU, an engine whose library did not load) or
 * want more workspace than the device has free. Then the next ranked algorithm is tried, as
 * PyTorch does; the one that worked moves to the front of the cached ranking, so later calls
 * start with it. When every one fails, the exception lists each algorithm and its error.
 *
 * <p>Precision: unless TF32 is allowed, the convolution descriptor asks for FMA math (true FP32)
 * and algorithms that need tensor-op math are ranked after every other one that fits, so results
 * match the CPU driver and PyTorch within FP32 rounding. With TF32 allowed, cuDNN's ranking stands.
 */
final class CudnnConvolutions {
  /** A ranked algorithm: its id, the workspace it needs, the math type to run it with. */
  record Choice(int algo, long workspaceBytes, int mathType) {}

  private record Key(Cudnn.Direction direction, Conv2dGeometry geometry) {}

  private final Cudnn cudnn;
  private final long workspaceLimit;
  private final boolean allowTf32;
  private final ConcurrentHashMap<Key, List<Choice>> rankings = new ConcurrentHashMap<>();

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
      Key key = new Key(direction, g);
      List<Choice> ranked = rankings.computeIfAbsent(key,
          k -> candidates(direction, g, cudnn.algorithms(direction, handle, d[0], d[1], convDesc, d[2])));
      Choice worked = firstThatRuns(direction, g, ranked, c -> {
        cudnn.setMathType(convDesc, c.mathType());
        long workspace = c.workspaceBytes() > 0 ? memory.allocate(c.workspaceBytes(), ts) : 0;
        try {
          cudnn.run(direction, handle, d[0], first, d[1], second, convDesc, c.algo(), workspace, c.workspaceBytes(), d[2],
              out);
        } finally {
          if (workspace != 0) memory.free(workspace, ts);
        }
      });
      if (!worked.equals(ranked.get(0))) rankings.put(key, promote(ranked, worked));
    } finally {
      if (conv != 0) cudnn.destroyConvolution(conv);
      if (w != 0) cudnn.destroyFilter(w);
      if (y != 0) cudnn.destroyTensor(y);
      if (x != 0) cudnn.destroyTensor(x);
    }
  }

  /**
   * The algorithms worth trying, best first: those in cuDNN's ranking that succeeded and whose
   * workspace fits the limit; without TF32, the ones that need no tensor-op math before the others.
   */
  List<Choice> candidates(Cudnn.Direction direction, Conv2dGeometry g, List<Cudnn.AlgoPerf> ranked) {
    List<Choice> plain = new ArrayList<>();
    List<Choice> tensorOps = new ArrayList<>();
    for (Cudnn.AlgoPerf p : ranked) {
      if (p.status() != 0 || p.memory() < 0 || p.memory() > workspaceLimit) continue;
      boolean tensorOp = p.mathType() == Cudnn.TENSOR_OP_MATH || p.mathType() == Cudnn.TENSOR_OP_MATH_ALLOW_CONVERSION;
      if (allowTf32) plain.add(new Choice(p.algo(), p.memory(), p.mathType()));
      else if (tensorOp) tensorOps.add(new Choice(p.algo(), p.memory(), p.mathType()));
      else plain.add(new Choice(p.algo(), p.memory(), Cudnn.FMA_MATH));
    }
    plain.addAll(tensorOps);
    if (plain.isEmpty()) {
      throw new UnsupportedFeatureException("cuDNN offers no " + direction.callName + " convolution algorithm for " + g
          + " within " + workspaceLimit + " bytes of workspace (ranking: " + ranked + "); raise PLUGKIT_CUDNN_WORKSPACE_MB");
    }
    return List.copyOf(plain);
  }

  /**
   * Runs {@code attempt} with each choice in order until one returns; that one is the result. A
   * cuDNN error, or the CUDA driver out of memory for the workspace, moves on to the next; any
   * other driver error is thrown at once (the context is broken: no algorithm would help). When
   * all fail: the one error when there was one choice, else an exception listing every attempt.
   */
  static Choice firstThatRuns(Cudnn.Direction direction, Conv2dGeometry g, List<Choice> ranked, Consumer<Choice> attempt) {
    List<String> failures = new ArrayList<>();
    NativeException last = null;
    for (Choice c : ranked) {
      try {
        attempt.accept(c);
        return c;
      } catch (NativeException e) {
        boolean outOfMemory = e.library().equals("CUDA driver") && e.code() == CudaLibrary.ERROR_OUT_OF_MEMORY;
        if (!e.library().equals("cuDNN") && !outOfMemory) throw e;
        failures.add("algo " + c.algo() + " (" + c.workspaceBytes() + " bytes of workspace): " + e.getMessage());
        last = e;
      }
    }
    if (ranked.size() == 1) throw last;
    throw new NativeException("cuDNN", "cudnnConvolution" + direction.callName, last.code(), last.errorName(),
        "every ranked algorithm failed for " + g + ": " + String.join("; ", failures));
  }

  /** The ranking with {@code worked} first, the others in their order. */
  static List<Choice> promote(List<Choice> ranked, Choice worked) {
    List<Choice> out = new ArrayList<>(List.of(worked));
    for (Choice c : ranked) if (!c.equals(worked)) out.add(c);
    return List.copyOf(out);
  }
}
