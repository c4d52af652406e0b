package io.plugkit.spark;

import io.plugkit.Device;
import java.io.Serializable;

/** The device a scorer's tasks run on, as it travels to the executors (Device itself is not Serializable). */
record DeviceChoice(Kind kind, int index) implements Serializable {
  enum Kind { BEST, CPU, CUDA }

  static final DeviceChoice BEST = new DeviceChoice(Kind.BEST, 0);

  static DeviceChoice of(Device d) {
    return d.isCuda() ? new DeviceChoice(Kind.CUDA, d.index()) : new DeviceChoice(Kind.CPU, 0);
  }

  /** The forced device; not for BEST, which each task resolves on its executor. */
  Device device() { return kind == Kind.CUDA ? Device.cuda(index) : Device.cpu(); }

  @Override public String toString() { return kind == Kind.BEST ? "best" : device().toString(); }
}
