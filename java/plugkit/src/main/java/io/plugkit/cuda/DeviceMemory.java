package io.plugkit.cuda;

import io.plugkit.driver.NativeException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Device memory from the device's stream-ordered pool ({@code cuMemAllocAsync} /
 * {@code cuMemFreeAsync}), safe across threads. Each thread works on its own stream, so the rule
 * that makes a block safe to share is:
 * <ul>
 *   <li>a block belongs to the stream of the thread that allocated it (its owner);</li>
 *   <li>the first time another thread's stream uses a block (any pointer into it passed to a
 *       launch, GEMM, convolution or copy), that stream first waits for everything already
 *       enqueued on the owner and on every stream that used the block before. So a tensor made on
 *       one thread and handed to another (weights loaded once, shared by inference threads) is
 *       complete when the second thread's work reads it, with no explicit synchronize;</li>
 *   <li>a free, from any thread, makes the freeing thread's stream wait for all work enqueued so
 *       far on the owner and on every stream that used the block, then enqueues
 *       {@code cuMemFreeAsync} on the freeing stream. The pool can hand the memory out again only
 *       after that free executes (stream order, and the pool's event dependencies for other
 *       streams), so no kernel still reading or writing the block can see it reused. Only
 *       waiting for the freeing thread's own stream would not be enough: another thread's kernel
 *       may still be using the block on its stream.</li>
 * </ul>
 * What this does not order is two threads writing the same block after its first shared use:
 * that is a data race in the caller's program, as it would be for host memory.
 *
 * <p>Memory plugkit did not allocate (a CUDA pointer wrapped as a tensor, {@code Tensor.wrap})
 * is registered as a <em>foreign</em> block by {@link #adoptForeign}: it belongs to the stream
 * current on the wrapping thread (the caller's, inside {@code CudaStreams.use}) and is ordered
 * like any block. {@link #releaseForeign} waits on the host until every stream that used it is
 * done, so the caller's release callback may free it at once; it never frees it itself.
 */
final class DeviceMemory {
  private static final class Block {
    final long address;
    final long bytes;
    final ThreadStream owner;
    final boolean foreign;
    final Set<ThreadStream> users = ConcurrentHashMap.newKeySet();

    Block(long address, long bytes, ThreadStream owner, boolean foreign) {
      this.address = address;
      this.bytes = bytes;
      this.owner = owner;
      this.foreign = foreign;
    }
  }

  private final CudaLibrary cu;
  private final long pool;
  private final ConcurrentSkipListMap<Long, Block> blocks = new ConcurrentSkipListMap<>();

  DeviceMemory(CudaLibrary cu, long pool, long keepBytes) {
    this.cu = cu;
    this.pool = pool;
    // The default threshold (0) hands every freed byte back to the OS at each synchronize, so each
    // step would pay cudaMalloc again; a threshold keeps a working set cached but not without end.
    cu.setPoolReleaseThreshold(pool, keepBytes);
  }

  /**
   * {@code bytes} from the pool, ordered on {@code ts}. When the pool is out of memory, waits for
   * every stream (so pending frees complete), hands cached memory back (the shapes may have
   * changed and fragmented it) and tries once more.
   */
  long allocate(long bytes, ThreadStream ts) {
    long address;
    try {
      address = cu.memAllocAsync(bytes, ts.stream);
    } catch (NativeException e) {
      if (e.code() != CudaLibrary.ERROR_OUT_OF_MEMORY) throw e;
      cu.contextSynchronize();
      cu.poolTrimTo(pool, 0);
      address = cu.memAllocAsync(bytes, ts.stream);
    }
    blocks.put(address, new Block(address, bytes, ts, false));
    return address;
  }

  /** Records that {@code ts} is about to use the block holding {@code address}. */
  void touch(long address, ThreadStream ts) {
    Map.Entry<Long, Block> e = blocks.floorEntry(address);
    if (e == null) return;
    Block b = e.getValue();
    if (address >= b.address + b.bytes || b.owner == ts || b.users.contains(ts)) return;
    synchronized (b) {
      if (b.users.contains(ts)) return;
      waitForUses(b, ts);
      b.users.add(ts);
    }
  }

  /** Frees a block this class allocated, ordered after every use of it on every stream. */
  void free(long address, ThreadStream ts) {
    Block b = blocks.get(address);
    if (b == null || b.foreign) {
      throw new IllegalArgumentException("address: expected a block allocated by this CUDA driver but got 0x"
          + Long.toHexString(address) + " (foreign, or freed already)");
    }
    blocks.remove(address);
    synchronized (b) {
      waitForUses(b, ts);
    }
    cu.memFreeAsync(address, ts.stream);
  }

  /** Makes {@code ts} wait for all work enqueued so far on the owner of {@code b} and every user. */
  private void waitForUses(Block b, ThreadStream ts) {
    if (b.owner != ts) cu.streamWaitForStream(ts.stream, b.owner.waitStream());
    for (ThreadStream u : b.users) if (u != ts) cu.streamWaitForStream(ts.stream, u.waitStream());
  }

  /**
   * Registers {@code [address, address + bytes)}, memory plugkit did not allocate, as a block owned
   * by {@code ts}. Returns false, registering nothing, when the range lies inside a block already
   * known (plugkit's own memory handed back through DLPack, or a pointer wrapped twice): that
   * block's bookkeeping orders it. A range that straddles a known block's edge is rejected.
   */
  synchronized boolean adoptForeign(long address, long bytes, ThreadStream ts) { // check and insert as one step
    long end = address + Math.max(bytes, 1);
    Map.Entry<Long, Block> below = blocks.floorEntry(address);
    if (below != null && address < below.getValue().address + below.getValue().bytes) {
      Block b = below.getValue();
      if (end <= b.address + b.bytes) return false;
      throw new IllegalArgumentException("address: expected memory outside or inside one block plugkit knows but 0x"
          + Long.toHexString(address) + " + " + bytes + " bytes runs past the end of the block at 0x"
          + Long.toHexString(b.address) + " (" + b.bytes + " bytes)");
    }
    Map.Entry<Long, Block> above = blocks.higherEntry(address);
    if (above != null && above.getKey() < end) {
      throw new IllegalArgumentException("address: expected memory outside or inside one block plugkit knows but 0x"
          + Long.toHexString(address) + " + " + bytes + " bytes overlaps the block at 0x" + Long.toHexString(above.getKey()));
    }
    blocks.put(address, new Block(address, Math.max(bytes, 1), ts, true));
    return true;
  }

  /**
   * Waits on the host until no plugkit work on any stream uses the memory at {@code address} (a
   * wrapped pointer), then forgets the block when {@code registered} (what {@link #adoptForeign} returned).
   */
  void releaseForeign(long address, boolean registered, ThreadStream ts) {
    Map.Entry<Long, Block> e = blocks.floorEntry(address);
    Block b = e == null || address >= e.getValue().address + e.getValue().bytes ? null : e.getValue();
    if (b != null) {
      if (registered && b.address == address && b.foreign) blocks.remove(address, b);
      synchronized (b) {
        waitForUses(b, ts);
      }
    }
    cu.streamSynchronize(ts.stream);
  }

  /** Blocks allocated and not yet freed (foreign ones not counted). */
  int liveBlocks() { return (int) blocks.values().stream().filter(b -> !b.foreign).count(); }
}
