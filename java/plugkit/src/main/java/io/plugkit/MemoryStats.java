package io.plugkit;

/** Live tensor storage across all devices: what leak checks compare before and after. */
public final class MemoryStats {
  private MemoryStats() {}

  /** Storages allocated and not yet freed. */
  public static long liveStorages() { return Storage.liveCount(); }

  public static long liveBytes() { return Storage.liveBytes(); }
}
