package io.plugkit.dist;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.plugkit.Device;
import io.plugkit.Tensor;
import io.plugkit.cuda.CudaLibrary;
import io.plugkit.driver.UnsupportedFeatureException;
import io.plugkit.nn.BatchNorm2d;
import io.plugkit.nn.Conv2d;
import io.plugkit.nn.Flatten;
import io.plugkit.nn.GlobalAvgPool2d;
import io.plugkit.nn.Linear;
import io.plugkit.nn.ReLU;
import io.plugkit.nn.Sequential;
import io.plugkit.testing.TestDevices;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What the data-parallel tests share: the communicator factories they run over (add a backend's
 * factory to {@link #factories()} and every test runs on it too), and a small CNN with BatchNorm.
 */
final class Groups {
  private Groups() {}

  /**
   * Makes one group of communicators, one per rank, on devices of {@code device}'s kind: all on
   * {@code device}, or rank r on its own device (cuda:r). The tests put rank r's tensors and
   * replica on {@code comms.get(r).device()}.
   */
  interface Factory {
    List<? extends Communicator> create(int ranks, Device device);
  }

  /** A named factory (the name shows in test reports) and the device kinds it runs on. */
  record Backend(String name, Factory factory, boolean cudaOnly) {
    boolean runsOn(Device d) { return d.isCuda() || !cudaOnly; }

    @Override public String toString() { return name; }
  }

  static final Backend IN_PROCESS = new Backend("in-process",
      (ranks, device) -> InProcessCommunicator.group(java.util.Collections.nCopies(ranks, device), Duration.ofSeconds(60)),
      false);

  /**
   * NCCL, rank r on cuda:r (the emulated device's stand-in NCCL in {@code make test}, 4 devices);
   * skipped where NCCL or enough devices are missing.
   */
  static final Backend NCCL = new Backend("nccl", (ranks, device) -> {
    TestDevices.assumeUsable(device);
    assumeTrue(CudaLibrary.instance().deviceCount() >= ranks, () -> "needs " + ranks + " CUDA devices");
    try {
      Nccl.instance();
    } catch (UnsupportedFeatureException e) {
      assumeTrue(false, e.getMessage());
    }
    Device[] devices = new Device[ranks];
    for (int r = 0; r < ranks; r++) devices[r] = Device.cuda(r);
    return NcclCommunicator.initAll(devices);
  }, true);

  /** Every backend the tests run on. */
  static Stream<Backend> factories() { return Stream.of(IN_PROCESS, NCCL); }

  /**
   * conv3x3 -> BN -> ReLU -> conv3x3/2 -> BN -> ReLU -> global average pool -> linear, on 3-channel
   * images. The convs have no bias: BN cancels it, so its gradient is rounding noise, which Adam
   * would blow up to full-size steps that differ between any two summation orders.
   */
  static Sequential cnn(Device d) {
    return new Sequential(
        new Conv2d(3, 4, 3, 3, 1, false, d).padding(1), new BatchNorm2d(4, 0.1f, 1e-5f, d), new ReLU(),
        new Conv2d(4, 5, 3, 3, 1, false, d).stride(2), new BatchNorm2d(5, 0.1f, 1e-5f, d), new ReLU(),
        new GlobalAvgPool2d(), new Flatten(), new Linear(5, 3, true, d));
  }

  /** Every float parameter and buffer of a state dict, by name (I64 counters as floats). */
  static Map<String, float[]> snapshot(Map<String, Tensor> state) {
    Map<String, float[]> out = new java.util.LinkedHashMap<>();
    for (var e : state.entrySet()) {
      Tensor t = e.getValue();
      if (t.dtype() == io.plugkit.DType.F32) {
        out.put(e.getKey(), t.toArray());
      } else {
        long[] l = t.toLongArray();
        float[] f = new float[l.length];
        for (int i = 0; i < l.length; i++) f[i] = l[i];
        out.put(e.getKey(), f);
      }
    }
    return out;
  }

  /** Rows [from, to) of a row-major [N, ...] array with {@code per} values per row. */
  static float[] rows(float[] all, int per, int from, int to) {
    return java.util.Arrays.copyOfRange(all, from * per, to * per);
  }

  static long[] rows(long[] all, int from, int to) { return java.util.Arrays.copyOfRange(all, from, to); }
}
