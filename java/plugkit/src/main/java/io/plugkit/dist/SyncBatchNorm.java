package io.plugkit.dist;

import io.plugkit.nn.BatchNorm2d;
import io.plugkit.nn.Module;

/**
 * torch.nn.SyncBatchNorm.convert_sync_batchnorm for plugkit: switches every {@link BatchNorm2d}
 * of a model to sync mode (statistics over all ranks' batches) or back to local mode, in place.
 */
public final class SyncBatchNorm {
  private SyncBatchNorm() {}

  /** Puts every BatchNorm2d in {@code module} (itself included) in sync mode over {@code comm}; returns module. */
  public static <M extends Module> M convert(M module, Communicator comm) {
    if (module == null) throw new IllegalArgumentException("module: expected a Module but got null");
    if (comm == null) throw new IllegalArgumentException("comm: expected a Communicator (toLocal for local mode) but got null");
    set(module, comm);
    return module;
  }

  /** Puts every BatchNorm2d in {@code module} back in local mode; returns module. */
  public static <M extends Module> M toLocal(M module) {
    if (module == null) throw new IllegalArgumentException("module: expected a Module but got null");
    set(module, null);
    return module;
  }

  /** How many BatchNorm2d layers of {@code module} are in sync mode. */
  public static int countSynced(Module module) {
    int n = module instanceof BatchNorm2d bn && bn.syncCommunicator() != null ? 1 : 0;
    for (Module c : module.children().values()) n += countSynced(c);
    return n;
  }

  private static void set(Module m, Communicator comm) {
    if (m instanceof BatchNorm2d bn) bn.sync(comm);
    for (Module c : m.children().values()) set(c, comm);
  }
}
