package io.plugkit.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The host allocator's cache of freed large blocks (native/pk_host_memory.cpp). */
class HostMemoryCacheTest {
  private static final long MIB = 1 << 20;

  @Test
  void aFreedLargeBlockIsReusedAndTheLimitIsKept() {
    CpuDriver cpu = CpuDriver.instance();
    try {
      cpu.setCacheLimit(8 * MIB);
      assertEquals(0, cpu.cachedBytes(), "setting the limit frees what was cached");
      long a = cpu.allocate(3 * MIB);
      assertEquals(0, a % 64, "64-byte aligned");
      cpu.free(a, 3 * MIB);
      assertEquals(3 * MIB, cpu.cachedBytes());
      // A slightly smaller request takes the cached block (at most 1/4 larger than asked).
      long b = cpu.allocate(3 * MIB - 4096);
      assertEquals(a, b, "the cached block is handed out again");
      assertEquals(0, cpu.cachedBytes());
      MemorySegment.ofAddress(b).reinterpret(3 * MIB).fill((byte) 7);
      // Far smaller requests do not take it: the cached block stays cached.
      cpu.free(b, 3 * MIB);
      long small = cpu.allocate(MIB);
      assertNotEquals(b, small);
      assertEquals(3 * MIB, cpu.cachedBytes());
      cpu.free(small, MIB);
      // Past the limit, freed blocks go back to the system.
      long big = cpu.allocate(6 * MIB);
      cpu.free(big, 6 * MIB);
      assertTrue(cpu.cachedBytes() <= 8 * MIB, "cached " + cpu.cachedBytes());
      cpu.setCacheLimit(0);
      assertEquals(0, cpu.cachedBytes());
      long c = cpu.allocate(2 * MIB);
      MemorySegment.ofAddress(c).reinterpret(2 * MIB).set(ValueLayout.JAVA_FLOAT, 0, 1f);
      cpu.free(c, 2 * MIB);
      assertEquals(0, cpu.cachedBytes(), "limit 0: nothing is kept");
    } finally {
      cpu.setCacheLimit(1024 * MIB);
    }
  }

  @Test
  void aNegativeLimitIsRejected() {
    var e = assertThrows(IllegalArgumentException.class, () -> CpuDriver.instance().setCacheLimit(-1));
    assertTrue(e.getMessage().startsWith("bytes:"), e.getMessage());
  }
}
