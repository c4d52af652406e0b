package io.plugkit;

/** Live tensor storage across all devices: what leak checks compare before and after. */
public final class MemoryStats {
  private MemoryStats() {}

  /** Storages allocated and not yet freed. */
  public static long liveStorages() { return Storage.liveCount(); }

  public static long liveBytes() { return Storage.liveBytes(); }

  /** The most live bytes since the last {@link #resetPeak()} (all threads, all devices). */
  public static long peakBytes() { return Storage.peakBytes(); }

  /** Starts a new peak measurement from the bytes live now. */
  public static void resetPeak() { Storage.resetPeak(); }
}
