package io.plugkit.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.testing.ChildJvm;
import io.plugkit.testing.TestDevices;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * JCuda and plugkit share buffers and one stream ({@link JCudaExample}). It runs wherever CUDA is
 * usable: on a GPU, and on the emulated device (JCuda's JNI library binds to the stand-in
 * libcuda.so.1 that plugkit loaded). In a child JVM, because a libcuda function the emulator
 * lacks would end the process (an unresolved lazy symbol) rather than throw.
 */
class JCudaInteropTest {
  @Test void jcudaAndPlugkitShareMemoryAndStream() throws Exception {
    TestDevices.assumeUsable(Device.cuda(0));
    try {
      Class.forName("jcuda.driver.JCudaDriver", false, getClass().getClassLoader());
    } catch (ClassNotFoundException e) {
      Assumptions.abort("JCuda is not on the class path (the GPU bundle does not ship it)");
    }
    String out = ChildJvm.run(null, JCudaExample.class, Map.of(), 0);
    assertTrue(out.contains("ALL OK") && out.contains("ok   JCuda reads relu(x) * x"), out);
  }
}
