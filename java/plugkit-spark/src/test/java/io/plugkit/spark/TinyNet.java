package io.plugkit.spark;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.nn.BatchNorm2d;
import io.plugkit.nn.Conv2d;
import io.plugkit.nn.Flatten;
import io.plugkit.nn.GlobalAvgPool2d;
import io.plugkit.nn.Linear;
import io.plugkit.nn.Module;
import io.plugkit.nn.ReLU;
import io.plugkit.nn.Sequential;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The test model: conv 3->4 (3x3, pad 1), BatchNorm, ReLU, global average pool, linear 4->5, on
 * rows of shape [3, 6, 5]. A named factory (public, no-argument constructor) that counts its
 * builds and records the batch size of every forward in this JVM (Spark local mode: the tests'
 * JVM is the executor).
 */
public final class TinyNet implements ModelFactory {
  static final int[] SHAPE = {3, 6, 5};
  static final int OUT = 5;
  static final AtomicInteger BUILDS = new AtomicInteger();
  static final Queue<Integer> BATCHES = new ConcurrentLinkedQueue<>();
  static final Queue<String> THREADS = new ConcurrentLinkedQueue<>();

  @Override public Module build(Device device) {
    BUILDS.incrementAndGet();
    return new Recording(new Sequential(new Conv2d(3, 4, 3, 3, 1, true, device).padding(1), new BatchNorm2d(4, 0.1f, 1e-5f, device),
        new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(4, OUT, true, device)));
  }

  /** Records each forward's batch size and thread; state dict keys are the inner Sequential's under "net.". */
  static final class Recording extends Module {
    private final Module net;

    Recording(Module net) { this.net = registerModule("net", net); }

    @Override public Tensor forward(Tensor x) {
      BATCHES.add(x.dim(0));
      THREADS.add(Thread.currentThread().getName());
      return net.forward(x);
    }
  }
}
