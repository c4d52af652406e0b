package io.plugkit;

import io.plugkit.driver.Drivers;

/** Where a tensor lives: the host (CPU driver) or a CUDA device. */
public record Device(Kind kind, int index) {
  public enum Kind { CPU, CUDA }

  private static final Device CPU = new Device(Kind.CPU, 0);

  public Device {
    if (index < 0) throw new IllegalArgumentException("index: expected >= 0 but got " + index);
  }

  public static Device cpu() { return CPU; }

  public static Device cuda(int index) { return new Device(Kind.CUDA, index); }

  /**
   * CUDA device 0 when CUDA is usable, else the CPU. The environment variable
   * {@code PLUGKIT_DEVICE=cpu|cuda} overrides; asking for cuda where it is not usable throws.
   */
  public static Device best() {
    String forced = System.getenv("PLUGKIT_DEVICE");
    if (forced != null && !forced.isBlank()) {
      return switch (forced.trim().toLowerCase()) {
        case "cpu" -> CPU;
        case "cuda" -> {
          Drivers.requireCuda();
          yield cuda(0);
        }
        default -> throw new IllegalArgumentException("PLUGKIT_DEVICE: expected cpu or cuda but got " + forced);
      };
    }
    return Drivers.cudaUsable() ? cuda(0) : CPU;
  }

  public boolean isCuda() { return kind == Kind.CUDA; }

  @Override public String toString() { return kind == Kind.CPU ? "cpu" : "cuda:" + index; }
}
