package io.plugkit.dist;

import io.plugkit.Tensor;
import io.plugkit.autograd.Autograd;
import io.plugkit.autograd.GradMode;
import io.plugkit.dist.Communicator.ReduceOp;
import io.plugkit.dist.Communicator.Work;
import io.plugkit.driver.Driver;
import io.plugkit.nn.Module;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * torch.nn.parallel.DistributedDataParallel: each rank wraps its own replica of the same model,
 * runs it on its share of the batch, and after {@code loss.backward()} every rank holds the
 * gradients averaged over all ranks (for a mean loss and equal per-rank batches: the gradients of
 * the mean loss over the concatenated batch), so optimizers step identically on every rank.
 *
 * <ul>
 *   <li>Construction (a collective: every rank at once) checks that the ranks wrap the same
 *   parameters and buffers (names, shapes, dtypes), then copies rank 0's values to all.</li>
 *   <li>Gradients are all-reduced (AVG) in buckets of about {@link Options#bucketBytes()}, filled
 *   with the parameters in reverse registration order (roughly the order the backward finalizes
 *   them), each flattened into one buffer. A bucket is launched from inside the backward as soon as
 *   every gradient in it is final ({@link Autograd#onGradientFinal}), in bucket order only, so every
 *   rank issues the same collectives in the same order while the backward goes on; the end of the
 *   backward awaits them and copies the averages back into the gradients (automatically: nothing
 *   to call after {@code backward()}).</li>
 *   <li>Only a training-mode forward through this wrapper, with grad mode on and outside
 *   {@link #noSync()}, arms the next backward; other backwards leave gradients local.</li>
 *   <li>With {@link Options#broadcastBuffers()} (the default, as PyTorch) each forward first copies
 *   rank 0's buffers (BatchNorm running statistics) to all ranks.</li>
 *   <li>A parameter that got no gradient in a synced backward is an error naming it, as PyTorch's
 *   {@code find_unused_parameters=False}; {@link UnusedParameters#ZERO} all-reduces its current
 *   gradient (zeros when it has none) instead.</li>
 * </ul>
 *
 * <p>One thread per rank drives its replica; the wrapper is not for sharing between threads.
 * {@link #close()} removes its autograd hooks. The state dict keys carry PyTorch's
 * {@code module.} prefix; save {@link #module()} for the bare names.
 */
public final class DistributedDataParallel extends Module implements AutoCloseable {
  /** PyTorch's default bucket_cap_mb (25 MiB). */
  public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

  /** What a synced backward does with a parameter that received no gradient. */
  public enum UnusedParameters {
    /** Fail, naming the parameters (PyTorch's find_unused_parameters=False). */
    ERROR,
    /** Average its current gradient, zeros when it has none, with the others'. */
    ZERO
  }

  /** Options; {@link #defaults()} as PyTorch's. */
  public record Options(long bucketBytes, boolean broadcastBuffers, UnusedParameters unusedParameters) {
    public Options {
      if (bucketBytes <= 0) throw new IllegalArgumentException("bucketBytes: expected > 0 but got " + bucketBytes);
      if (unusedParameters == null) throw new IllegalArgumentException("unusedParameters: expected ERROR or ZERO but got null");
    }

    public static Options defaults() { return new Options(DEFAULT_BUCKET_BYTES, true, UnusedParameters.ERROR); }

    public Options withBucketBytes(long b) { return new Options(b, broadcastBuffers, unusedParameters); }

    public Options withBroadcastBuffers(boolean b) { return new Options(bucketBytes, b, unusedParameters); }

    public Options withUnusedParameters(UnusedParameters u) { return new Options(bucketBytes, broadcastBuffers, u); }
  }

  /** Ends a {@link #noSync()} scope. */
  public interface NoSync extends AutoCloseable {
    @Override void close();
  }

  private final Module module;
  private final Communicator comm;
  private final Options options;
  private final List<Tensor> buffers;
  private final List<String> names = new ArrayList<>(); // bucketed parameters, reverse registration order
  private final List<Tensor> params = new ArrayList<>();
  private final List<Bucket> buckets = new ArrayList<>();
  private final List<Autograd.Registration> hooks = new ArrayList<>();
  private int noSyncDepth;
  private boolean closed;
  // The pass in progress: armed by forward, ended by finishPass (queued from the first hook).
  private boolean armed;
  private boolean queued;
  private boolean[] ready;
  private boolean[] received;
  private int nextBucket;

  /** One flat buffer: parameters [first, end) of {@link #params}, at element offsets. */
  private static final class Bucket {
    final int first;
    final int end;
    final long[] offsets;
    Tensor flat;
    int pending; // parameters not final yet this pass
    int missing; // parameters final without a gradient this pass
    Work work;

    Bucket(int first, int end, long[] offsets) {
      this.first = first;
      this.end = end;
      this.offsets = offsets;
    }
  }

  /** {@link #DistributedDataParallel(Module, Communicator, Options)} with {@link Options#defaults()}. */
  public DistributedDataParallel(Module module, Communicator comm) { this(module, comm, Options.defaults()); }

  /**
   * Wraps this rank's {@code module} (parameters and buffers on {@code comm.device()}); a collective:
   * every rank constructs its wrapper at the same point. Bucket buffers are allocated in the
   * current Scope (keep it open as long as the wrapper is used, like the module's).
   *
   * @throws IllegalArgumentException when the ranks' modules differ (names, shapes or dtypes of
   *     parameters and buffers), naming the first difference; every rank throws it
   */
  public DistributedDataParallel(Module module, Communicator comm, Options options) {
    if (module == null) throw new IllegalArgumentException("module: expected a Module but got null");
    if (comm == null) throw new IllegalArgumentException("comm: expected a Communicator but got null");
    if (options == null) throw new IllegalArgumentException("options: expected Options but got null");
    if (module instanceof DistributedDataParallel) throw new IllegalArgumentException("module: is already a DistributedDataParallel");
    Map<String, Tensor> state = module.stateDict();
    for (var e : state.entrySet()) {
      Tensor t = e.getValue();
      if (t.isFreed()) throw new IllegalArgumentException("module: '" + e.getKey() + "' was freed");
      if (!t.device().equals(comm.device())) {
        throw new IllegalArgumentException("module: '" + e.getKey() + "' is on " + t.device() + " but the communicator's device is " + comm.device());
      }
    }
    this.module = registerModule("module", module);
    this.comm = comm;
    this.options = options;
    this.buffers = List.copyOf(module.namedBuffers().values());
    ReplicaCheck.requireSameAcrossRanks(comm, module.namedParameters(), module.namedBuffers());
    for (Tensor t : state.values()) comm.broadcast(t, 0).await(); // rank 0's values everywhere
    IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
    List<Map.Entry<String, Tensor>> named = new ArrayList<>(module.namedParameters().entrySet());
    Collections.reverse(named);
    for (var e : named) {
      if (!e.getValue().requiresGrad() || seen.put(e.getValue(), true) != null) continue;
      names.add(e.getKey());
      params.add(e.getValue());
    }
    assignBuckets();
    for (int i = 0; i < params.size(); i++) {
      int index = i;
      hooks.add(Autograd.onGradientFinal(params.get(i), (leaf, got) -> onFinal(index, got)));
    }
    ready = new boolean[params.size()];
    received = new boolean[params.size()];
  }

  private void assignBuckets() {
    int first = 0;
    long bytes = 0;
    for (int i = 0; i <= params.size(); i++) {
      long b = i < params.size() ? params.get(i).byteSize() : 0;
      // Close the bucket when this parameter would overflow it (a parameter alone may exceed the cap).
      if (i == params.size() || (i > first && bytes + b > options.bucketBytes())) {
        if (i > first) {
          long[] offsets = new long[i - first];
          long off = 0;
          for (int j = first; j < i; j++) {
            offsets[j - first] = off;
            off += params.get(j).numel();
          }
          Bucket k = new Bucket(first, i, offsets);
          k.flat = Tensor.empty(comm.device(), Math.toIntExact(off));
          buckets.add(k);
        }
        first = i;
        bytes = 0;
      }
      bytes += b;
    }
  }

  /** The wrapped module. */
  public Module module() { return module; }

  public Communicator communicator() { return comm; }

  public Options options() { return options; }

  /** The parameter names of each bucket, in launch order (for inspection and tests). */
  public List<List<String>> buckets() {
    List<List<String>> out = new ArrayList<>();
    for (Bucket b : buckets) out.add(List.copyOf(names.subList(b.first, b.end)));
    return out;
  }

  /** Size in bytes of each bucket's flat buffer, in launch order. */
  public List<Long> bucketBytes() {
    List<Long> out = new ArrayList<>();
    for (Bucket b : buckets) out.add(b.flat.byteSize());
    return out;
  }

  /**
   * Gradient accumulation (PyTorch's no_sync): backwards after forwards made inside this scope
   * keep their gradients local; the first synced backward after it averages the accumulated sums.
   * {@code try (var s = ddp.noSync()) { ... }}.
   */
  public NoSync noSync() {
    noSyncDepth++;
    boolean[] done = {false};
    return () -> {
      if (!done[0]) {
        done[0] = true;
        noSyncDepth--;
      }
    };
  }

  @Override public Tensor forward(Tensor x) {
    if (closed) throw new IllegalStateException("DistributedDataParallel: closed");
    abandonPass(); // a backward that threw left its pass open
    if (options.broadcastBuffers() && comm.size() > 1) {
      for (Tensor b : buffers) comm.broadcast(b, 0).await();
    }
    if (isTraining() && GradMode.isEnabled() && noSyncDepth == 0 && !params.isEmpty()) startPass();
    return module.forward(x);
  }

  /** Removes the autograd hooks; the wrapped module stays usable on its own. */
  @Override public void close() {
    if (closed) return;
    closed = true;
    for (Autograd.Registration r : hooks) r.close();
  }

  private void startPass() {
    java.util.Arrays.fill(ready, false);
    java.util.Arrays.fill(received, false);
    for (Bucket b : buckets) {
      b.pending = b.end - b.first;
      b.missing = 0;
      b.work = null;
    }
    nextBucket = 0;
    queued = false;
    armed = true;
  }

  private void onFinal(int i, boolean got) {
    if (!armed) return;
    if (!queued) {
      Autograd.queueCallback(this::finishPass);
      queued = true;
    }
    if (ready[i]) {
      throw new IllegalStateException("DistributedDataParallel: the gradient of '" + names.get(i) + "' was finalized twice "
          + "in one iteration; run a forward through the wrapper before each backward");
    }
    ready[i] = true;
    received[i] = got;
    Bucket b = buckets.get(bucketOf(i));
    b.pending--;
    if (!got) b.missing++;
    launchReady();
  }

  private int bucketOf(int param) {
    for (int k = 0; k < buckets.size(); k++) if (param < buckets.get(k).end) return k;
    throw new IllegalStateException("parameter index " + param);
  }

  /** Launches, in order, every bucket from nextBucket on whose gradients are all final. */
  private void launchReady() {
    while (nextBucket < buckets.size()) {
      Bucket b = buckets.get(nextBucket);
      if (b.pending > 0 || (b.missing > 0 && options.unusedParameters() == UnusedParameters.ERROR)) return;
      launch(b);
      nextBucket++;
    }
  }

  private void launch(Bucket b) {
    Driver d = b.flat.driver();
    boolean complete = true;
    for (int i = b.first; i < b.end; i++) complete &= params.get(i).grad() != null;
    if (!complete) b.flat.fill(0f);
    long base = b.flat.address();
    for (int i = b.first; i < b.end; i++) {
      Tensor g = params.get(i).grad();
      if (g != null) d.copy(g.address(), base + 4 * b.offsets[i - b.first], g.byteSize());
    }
    b.work = comm.allReduce(b.flat, ReduceOp.AVG);
  }

  /** End of the synced backward: the unused-parameter rule, then await every bucket and copy back. */
  private void finishPass() {
    try {
      List<String> unused = new ArrayList<>();
      for (int i = 0; i < params.size(); i++) if (!ready[i] || !received[i]) unused.add(names.get(i));
      if (!unused.isEmpty() && options.unusedParameters() == UnusedParameters.ERROR) {
        throw new IllegalStateException("DistributedDataParallel: parameter(s) " + unused + " got no gradient in this "
            + "backward on rank " + comm.rank() + "; every parameter must take part in the loss on every rank (as "
            + "PyTorch's DDP with find_unused_parameters=False), or build the wrapper with "
            + "Options.withUnusedParameters(ZERO) to average them as zero gradients");
      }
      for (int i = 0; i < params.size(); i++) {
        if (!ready[i]) {
          ready[i] = true;
          buckets.get(bucketOf(i)).pending--;
        }
      }
      launchReady();
      for (Bucket b : buckets) {
        b.work.await();
        b.work = null;
        copyBack(b);
      }
    } finally {
      abandonPass();
    }
  }

  private void copyBack(Bucket b) {
    Driver d = b.flat.driver();
    long base = b.flat.address();
    for (int i = b.first; i < b.end; i++) {
      Tensor p = params.get(i);
      if (p.grad() == null) {
        try (Tensor zeros = Tensor.zerosLike(p)) {
          p.accumulateGrad(zeros); // makes the gradient tensor, in the parameter's scope
        }
      }
      d.copy(base + 4 * b.offsets[i - b.first], p.grad().address(), p.grad().byteSize());
    }
  }

  /** Waits for whatever a pass launched and disarms; nothing to do when no pass is open. */
  private void abandonPass() {
    if (!armed) return;
    armed = false;
    queued = false;
    for (Bucket b : buckets) {
      if (b.work != null) b.work.await();
      b.work = null;
    }
  }

  @Override public String toString() {
    return "DistributedDataParallel(rank " + comm.rank() + " of " + comm.size() + ", " + buckets.size() + " buckets)";
  }
}
