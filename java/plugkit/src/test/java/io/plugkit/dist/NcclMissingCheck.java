package io.plugkit.dist;

import io.plugkit.Device;
import io.plugkit.driver.UnsupportedFeatureException;

/** Prints what NcclCommunicator.initAll throws where no libnccl loads; run by NcclCommunicatorTest. */
public final class NcclMissingCheck {
  private NcclMissingCheck() {}

  public static void main(String[] args) {
    try {
      NcclCommunicator.initAll(Device.cuda(0), Device.cuda(1)).forEach(NcclCommunicator::close);
      System.out.println("NCCL LOADED from " + Nccl.instance().location());
    } catch (UnsupportedFeatureException e) {
      System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
    }
    for (String line : io.plugkit.Doctor.report().split("\n")) {
      if (line.startsWith("NCCL")) System.out.println("Doctor: " + line);
    }
  }
}
