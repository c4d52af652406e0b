package io.plugkit.dist;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.plugkit.cuda.LibraryLocator;
import io.plugkit.cuda.LoadedLibrary;
import io.plugkit.driver.NativeException;
import io.plugkit.driver.UnsupportedFeatureException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * Every FFM downcall into NCCL 2 ({@code libnccl.so.2}), found as cuBLAS is (see
 * {@link LibraryLocator}: {@code PLUGKIT_CUDA_LIBS}, the system loader, {@code CUDA_HOME}, the
 * {@code nvidia-nccl-cu12/cu13} wheels' {@code nvidia/nccl/lib}, ...). Communicators and streams
 * travel as {@code long}; every {@code ncclResult_t} but success becomes a {@link NativeException}
 * with {@code ncclGetErrorString}'s text and, where NCCL has it (2.13+), {@code ncclGetLastError}'s.
 */
public final class Nccl {
  public static final List<String> SONAMES = List.of("libnccl.so.2");
  /** NCCL_UNIQUE_ID_BYTES. */
  public static final int UNIQUE_ID_BYTES = 128;
  /** ncclDataType_t values plugkit uses. */
  static final int UINT8 = 1;
  static final int INT64 = 4;
  static final int FLOAT32 = 7;
  /** ncclResult_t ncclInProgress: not an error (non-blocking communicators). */
  private static final int IN_PROGRESS = 7;

  private static final Linker LINKER = Linker.nativeLinker();
  private static final GroupLayout UNIQUE_ID = MemoryLayout.structLayout(
      MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal"));
  private static volatile Object loaded;

  private final LoadedLibrary lib;
  private final MethodHandle getVersion;
  private final MethodHandle getErrorString;
  private final MethodHandle getLastError;
  private final MethodHandle getUniqueId;
  private final MethodHandle commInitRank;
  private final MethodHandle commInitAll;
  private final MethodHandle commDestroy;
  private final MethodHandle commAbort;
  private final MethodHandle commCount;
  private final MethodHandle commCuDevice;
  private final MethodHandle commUserRank;
  private final MethodHandle commGetAsyncError;
  private final MethodHandle allReduce;
  private final MethodHandle broadcast;
  private final MethodHandle allGather;
  private final MethodHandle reduceScatter;
  private final MethodHandle groupStart;
  private final MethodHandle groupEnd;

  private Nccl(LoadedLibrary lib) {
    this.lib = lib;
    getVersion = bind("ncclGetVersion", ADDRESS);
    getErrorString = LINKER.downcallHandle(lib.require("ncclGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
    getLastError = lib.lookup().find("ncclGetLastError")
        .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS, JAVA_LONG))).orElse(null);
    getUniqueId = bind("ncclGetUniqueId", ADDRESS);
    commInitRank = bind("ncclCommInitRank", ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT);
    commInitAll = bind("ncclCommInitAll", ADDRESS, JAVA_INT, ADDRESS);
    commDestroy = bind("ncclCommDestroy", JAVA_LONG);
    commAbort = bind("ncclCommAbort", JAVA_LONG);
    commCount = bind("ncclCommCount", JAVA_LONG, ADDRESS);
    commCuDevice = bind("ncclCommCuDevice", JAVA_LONG, ADDRESS);
    commUserRank = bind("ncclCommUserRank", JAVA_LONG, ADDRESS);
    commGetAsyncError = bind("ncclCommGetAsyncError", JAVA_LONG, ADDRESS);
    allReduce = bind("ncclAllReduce", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
    broadcast = bind("ncclBroadcast", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
    allGather = bind("ncclAllGather", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG);
    reduceScatter = bind("ncclReduceScatter", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
    groupStart = bind("ncclGroupStart");
    groupEnd = bind("ncclGroupEnd");
  }

  /**
   * The process's NCCL, loaded once. Throws {@link UnsupportedFeatureException} (every time,
   * with the same reason) when no libnccl.so.2 loads or an entry point is missing.
   */
  public static Nccl instance() {
    Object state = loaded;
    if (state == null) {
      synchronized (Nccl.class) {
        state = loaded;
        if (state == null) {
          try {
            state = load(LibraryLocator.system());
          } catch (UnsupportedFeatureException e) {
            state = e.getMessage().substring("unsupported: ".length());
          }
          loaded = state;
        }
      }
    }
    if (state instanceof String reason) throw new UnsupportedFeatureException(reason);
    return (Nccl) state;
  }

  /** Loads NCCL through {@code locator}, or throws {@link UnsupportedFeatureException} saying where it looked. */
  public static Nccl load(LibraryLocator locator) {
    return new Nccl(LoadedLibrary.load("NCCL", locator.candidates(SONAMES), locator.describeSearch()
        + " (pip install nvidia-nccl-cu12 or nvidia-nccl-cu13 provides it)"));
  }

  public String location() { return lib.location(); }

  private MethodHandle bind(String symbol, MemoryLayout... args) {
    return LINKER.downcallHandle(lib.require(symbol), FunctionDescriptor.of(JAVA_INT, args));
  }

  private void check(int result, String call, long comm) {
    if (result == 0 || result == IN_PROGRESS) return;
    throw new NativeException("NCCL", call, result, name(result), text(result) + detail(comm));
  }

  /** The ncclResult_t's name in nccl.h. */
  static String name(int result) {
    List<String> names = List.of("ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
        "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress");
    return result >= 0 && result < names.size() ? names.get(result) : "ncclResult " + result;
  }

  /** {@code ncclGetErrorString}. */
  public String text(int result) {
    try {
      MemorySegment s = (MemorySegment) getErrorString.invokeExact(result);
      return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(1024).getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code ncclGetLastError}'s text in parentheses, or "" where NCCL lacks it or has none. */
  private String detail(long comm) {
    if (getLastError == null) return "";
    try {
      MemorySegment s = (MemorySegment) getLastError.invokeExact(comm);
      String text = s.equals(MemorySegment.NULL) ? "" : s.reinterpret(4096).getString(0);
      return text.isBlank() ? "" : " (" + text.strip() + ")";
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code ncclGetVersion}: e.g. 22603 for 2.26.3 (2.9+; older: major * 1000 + minor * 100 + patch). */
  public int version() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) getVersion.invokeExact(out), "ncclGetVersion", 0L);
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** The version as major.minor.patch. */
  public static String dotted(int code) {
    return code >= 20900 ? code / 10000 + "." + code % 10000 / 100 + "." + code % 100
        : code / 1000 + "." + code % 1000 / 100 + "." + code % 100;
  }

  /** {@code ncclGetUniqueId}: the 128 bytes every rank of a new communicator must be given. */
  public byte[] uniqueId() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(UNIQUE_ID);
      check((int) getUniqueId.invokeExact(out), "ncclGetUniqueId", 0L);
      return out.toArray(JAVA_BYTE);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code ncclCommInitRank} on the calling thread's current device; blocks until every rank joined. */
  public long commInitRank(int nranks, byte[] id, int rank) {
    if (id.length != UNIQUE_ID_BYTES) {
      throw new IllegalArgumentException("id: expected " + UNIQUE_ID_BYTES + " bytes but got " + id.length);
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      MemorySegment idValue = a.allocate(UNIQUE_ID);
      idValue.copyFrom(MemorySegment.ofArray(id));
      check((int) commInitRank.invokeExact(out, nranks, idValue, rank), "ncclCommInitRank(rank " + rank + " of " + nranks + ")", 0L);
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code ncclCommInitAll}: one communicator per device of this process, rank i on devices[i]. */
  public long[] commInitAll(int[] devices) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG, devices.length);
      check((int) commInitAll.invokeExact(out, devices.length, a.allocateFrom(JAVA_INT, devices)), "ncclCommInitAll", 0L);
      return out.toArray(JAVA_LONG);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void commDestroy(long comm) {
    call("ncclCommDestroy", 0L, () -> (int) commDestroy.invokeExact(comm));
  }

  public void commAbort(long comm) {
    call("ncclCommAbort", 0L, () -> (int) commAbort.invokeExact(comm));
  }

  public int commCount(long comm) { return intQuery(commCount, comm, "ncclCommCount"); }

  public int commCuDevice(long comm) { return intQuery(commCuDevice, comm, "ncclCommCuDevice"); }

  public int commUserRank(long comm) { return intQuery(commUserRank, comm, "ncclCommUserRank"); }

  /** {@code ncclCommGetAsyncError}: 0, or the error a collective met after it was enqueued. */
  public int commAsyncError(long comm) { return intQuery(commGetAsyncError, comm, "ncclCommGetAsyncError"); }

  /** Throws the communicator's async error, if it has one. */
  public void checkAsyncError(long comm) {
    int e = commAsyncError(comm);
    if (e != 0 && e != IN_PROGRESS) check(e, "a collective (ncclCommGetAsyncError)", comm);
  }

  private int intQuery(MethodHandle h, long comm, String call) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(comm, out), call, comm);
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public void allReduce(long send, long recv, long count, int type, int op, long comm, long stream) {
    call("ncclAllReduce", comm, () -> (int) allReduce.invokeExact(send, recv, count, type, op, comm, stream));
  }

  public void broadcast(long send, long recv, long count, int type, int root, long comm, long stream) {
    call("ncclBroadcast", comm, () -> (int) broadcast.invokeExact(send, recv, count, type, root, comm, stream));
  }

  public void allGather(long send, long recv, long sendCount, int type, long comm, long stream) {
    call("ncclAllGather", comm, () -> (int) allGather.invokeExact(send, recv, sendCount, type, comm, stream));
  }

  public void reduceScatter(long send, long recv, long recvCount, int type, int op, long comm, long stream) {
    call("ncclReduceScatter", comm, () -> (int) reduceScatter.invokeExact(send, recv, recvCount, type, op, comm, stream));
  }

  public void groupStart() {
    call("ncclGroupStart", 0L, () -> (int) groupStart.invokeExact());
  }

  public void groupEnd() {
    call("ncclGroupEnd", 0L, () -> (int) groupEnd.invokeExact());
  }

  /** An NCCL call returning its ncclResult_t. */
  private interface Call {
    int run() throws Throwable;
  }

  /** Runs an NCCL call, throwing its error (named by `name`, on `comm`) if it returns one. */
  private void call(String name, long comm, Call c) {
    try {
      check(c.run(), name, comm);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) return r;
    if (t instanceof Error e) throw e;
    return new IllegalStateException(t);
  }
}
