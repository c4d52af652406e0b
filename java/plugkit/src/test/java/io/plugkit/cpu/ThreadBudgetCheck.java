package io.plugkit.cpu;

import static io.plugkit.testing.ChildJvm.check;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.autograd.GradMode;
import io.plugkit.ops.BatchNorm;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Linear;
import io.plugkit.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Child JVM of {@link ThreadBudgetTest}: request threads named "pk-req-i" call in at once and,
 * while they are alive, the OS threads named after them are counted. An OpenMP worker inherits
 * its name from the thread that started its team, so the count is requests x team size.
 * Virtual request threads are counted by their carriers' name instead: with a limit of 1 no
 * carrier starts a team, so no more OS threads bear that name than there are cores.
 * Args: the process-wide threads to set (0: leave PLUGKIT_THREADS's), the per-request limit (0:
 * none), the expected team size, platform or virtual.
 */
public final class ThreadBudgetCheck {
  private static final int REQUESTS = 6;
  private static final String NAME = "pk-req-";

  public static void main(String[] args) throws Exception {
    int threads = Integer.parseInt(args[0]);
    int limit = Integer.parseInt(args[1]);
    int team = Integer.parseInt(args[2]);
    boolean virtual = args[3].equals("virtual");
    if (threads > 0) CpuDriver.instance().setThreads(threads);
    check(CpuDriver.instance().threads() == team || limit > 0, "main thread's team: " + CpuDriver.instance().threads());

    AtomicReference<String> carrier = new AtomicReference<>();
    CyclicBarrier done = new CyclicBarrier(REQUESTS + 1);
    CyclicBarrier counted = new CyclicBarrier(REQUESTS + 1);
    List<Thread> requests = new ArrayList<>();
    for (int i = 0; i < REQUESTS; i++) {
      Thread.Builder builder = virtual ? Thread.ofVirtual() : Thread.ofPlatform().name(NAME + i);
      requests.add(builder.start(() -> {
        try {
          if (limit > 0) {
            try (ThreadLimit l = CpuDriver.limitThreads(limit)) {
              request();
            }
          } else {
            request();
          }
          if (virtual) carrier.compareAndSet(null, carrierName());
          done.await();
          counted.await();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }));
    }
    done.await();
    long named = countOsThreads(virtual ? carrier.get() : NAME);
    counted.await();
    for (Thread t : requests) t.join();
    if (virtual) {
      int cores = Runtime.getRuntime().availableProcessors();
      check(named >= 1 && named <= cores, "virtual requests at team size 1 start no OS threads beside their"
          + " carriers: " + named + " named " + carrier.get() + "* for " + cores + " cores");
    } else {
      check(named == (long) REQUESTS * team, REQUESTS + " requests at team size " + team + " make "
          + REQUESTS * team + " OS threads (found " + named + ")");
    }
    ChildJvm.exitWithChecks();
  }

  /** A parallel kernel through PK_FOR, one through a raw OpenMP pragma, and a GEMM cut into blocks. */
  private static void request() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open(); var off = GradMode.disable()) {
      Tensor a = Tensor.randn(cpu, 1, 1 << 20);
      Elementwise.add(a, a);
      Tensor x = Tensor.randn(cpu, 2, 8, 16, 32, 32);
      BatchNorm.batchNorm(x, null, null, null, null, true, 0.1f, 1e-5f);
      Linear.linear(Tensor.randn(cpu, 3, 256, 512), Tensor.randn(cpu, 4, 512, 512), null);
    }
  }

  /** The OS name (15 characters at most) of the carrier of the calling virtual thread. */
  private static String carrierName() {
    String s = Thread.currentThread().toString();  // VirtualThread[#22]/runnable@ForkJoinPool-1-worker-1
    String name = s.substring(s.indexOf('@') + 1);
    return name.substring(0, Math.min(15, name.length()));
  }

  private static long countOsThreads(String prefix) throws IOException {
    try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
      return tasks.filter(t -> {
        try {
          return Files.readString(t.resolve("comm")).startsWith(prefix);
        } catch (IOException gone) {
          return false;
        }
      }).count();
    }
  }
}
