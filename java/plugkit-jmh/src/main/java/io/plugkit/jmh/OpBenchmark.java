package io.plugkit.jmh;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.driver.Driver;
import io.plugkit.driver.Drivers;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * One op at one shape, timed by JMH: {@link #forward} (no grad) and {@link #forwardBackward}. Each
 * subclass makes its inputs (and module) in {@link #build}, which runs in the trial's setup, outside
 * the timed methods, in a plugkit Scope kept open until the teardown; the leaves are then moved
 * out of it to this object (closed at the teardown), so the gradients {@link #forwardBackward}
 * makes and drops belong to no scope and do not pile up in one. Each timed call opens its own
 * Scope, so its outputs and intermediates are freed within the call, as a training or serving loop
 * would, and on CUDA waits for the device before it returns (launches are asynchronous).
 *
 * <p>{@code device}: cpu or cuda. {@link Main} drops cuda when no CUDA device is usable, unless
 * asked for it with {@code -p device=cuda}, where the setup then fails with the reason.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public abstract class OpBenchmark {
  @Param({"cpu", "cuda"})
  public String device;

  private io.plugkit.Scope setupScope;
  private Driver driver;
  private boolean cuda;
  private Supplier<Tensor> op;
  private List<Tensor> leaves;
  private Tensor gradOut;

  /** The inputs (leaves requiring grad) and the op on them; called once per trial, inside a Scope. */
  protected abstract Workload build(Device d);

  /** The op to time and the leaves whose gradients {@link #forwardBackward} makes. */
  protected record Workload(Supplier<Tensor> op, List<Tensor> leaves) {}

  /** Uniform [-1, 1) input requiring grad (the bench CLI's inputs). */
  protected static Tensor input(Device d, long seed, int... dims) {
    return Tensor.uniform(d, seed, -1f, 1f, dims).requiresGrad(true);
  }

  @Setup(Level.Trial)
  public void setUp() {
    Device d = switch (device) {
      case "cpu" -> Device.cpu();
      case "cuda" -> {
        if (!Drivers.cudaUsable()) throw new IllegalStateException("device=cuda: CUDA is not usable here: " + Drivers.cudaProblem());
        yield Device.cuda(0);
      }
      default -> throw new IllegalArgumentException("device: expected cpu or cuda but got " + device);
    };
    cuda = d.isCuda();
    driver = Drivers.of(d);
    setupScope = io.plugkit.Scope.open();
    Workload w = build(d);
    op = w.op();
    // A leaf's gradient belongs to the leaf's scope, and clearGrad frees it but leaves it listed
    // there: with the leaves in the trial's scope, each forwardBackward added one dead Tensor per
    // leaf to that scope until the teardown, and the heap grew through a long run. Moved out to
    // this object (the outermost scope's keep hands them to the caller), their gradients belong to
    // no scope: clearGrad drops the last reference and nothing accumulates.
    Set<Tensor> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
    leaves = new ArrayList<>();
    for (Tensor leaf : w.leaves()) {
      if (distinct.add(leaf)) leaves.add(setupScope.keep(leaf));
    }
    try (var off = GradMode.disable()) {
      gradOut = Tensor.uniform(d, 99, 0f, 1f, op.get().dims());
    }
    driver.synchronize();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (leaves != null) leaves.forEach(Tensor::close); // frees their gradients too
    leaves = null;
    if (setupScope != null) setupScope.close();
    setupScope = null;
  }

  @Benchmark
  public void forward(Blackhole bh) {
    try (io.plugkit.Scope s = io.plugkit.Scope.open(); var off = GradMode.disable()) {
      Tensor y = op.get();
      if (cuda) driver.synchronize();
      bh.consume(y);
    }
  }

  /** Forward and backward from fresh gradients (each leaf's cleared first, as {@code leaf.grad = None}). */
  @Benchmark
  public void forwardBackward(Blackhole bh) {
    for (Tensor leaf : leaves) leaf.clearGrad();
    try (io.plugkit.Scope s = io.plugkit.Scope.open()) {
      Tensor y = op.get();
      y.backward(gradOut);
      if (cuda) driver.synchronize();
      bh.consume(y);
    }
  }
}
