package io.plugkit.dist;

import static io.plugkit.testing.ChildJvm.check;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.dist.Communicator.ReduceOp;
import io.plugkit.testing.ChildJvm;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * One rank of a communicator whose ranks are processes, meeting through a file: args rank, size,
 * id file. Run by {@link NcclCommunicatorTest#twoProcessesMeetThroughAFile}.
 */
public final class NcclRankCheck {
  private NcclRankCheck() {}

  public static void main(String[] args) {
    int rank = Integer.parseInt(args[0]);
    int size = Integer.parseInt(args[1]);
    Device device = Device.cuda(rank);
    try (NcclCommunicator c = NcclCommunicator.init(rank, size, device, Rendezvous.file(Path.of(args[2]), Duration.ofSeconds(90)));
        Scope s = Scope.open()) {
      check(c.rank() == rank && c.size() == size && c.device().equals(device), "rank " + rank + " of " + size + " on " + device);
      float[][] x = new float[size][];
      for (int r = 0; r < size; r++) x[r] = NcclTesting.values(r, 21);
      Tensor t = Tensor.of(device, x[rank], 3, 7);
      c.allReduce(t, ReduceOp.SUM).await();
      check(Arrays.equals(NcclTesting.fold(x, ReduceOp.SUM), t.toArray()), "allReduce SUM is the rank-order fold");
      Tensor b = Tensor.of(device, x[rank], 21);
      c.broadcast(b, size - 1).await();
      check(Arrays.equals(x[size - 1], b.toArray()), "broadcast from the last rank");
      Tensor out = Tensor.empty(device, DType.F32, Shape.of(size, 21));
      c.allGather(Tensor.of(device, x[rank], 21), out).await();
      float[] expected = new float[size * 21];
      for (int r = 0; r < size; r++) System.arraycopy(x[r], 0, expected, r * 21, 21);
      check(Arrays.equals(expected, out.toArray()), "allGather in rank order");
    } catch (RuntimeException e) {
      e.printStackTrace(System.out);
      check(false, "rank " + rank + ": " + e);
    }
    ChildJvm.exitWithChecks();
  }
}
