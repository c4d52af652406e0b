package io.plugkit.cuda;

import io.plugkit.driver.Driver;
import io.plugkit.driver.UnsupportedFeatureException;

/** Placeholder until the FFM CUDA driver lands in this same change. */
public final class CudaDriver {
  private CudaDriver() {}

  public static Driver open(int index) {
    throw new UnsupportedFeatureException("CUDA driver not built yet");
  }
}
