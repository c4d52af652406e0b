package io.plugkit.cuda;

import static io.plugkit.driver.ArgKind.F32;
import static io.plugkit.driver.ArgKind.I32;
import static io.plugkit.driver.ArgKind.I64;
import static io.plugkit.driver.ArgKind.PTR;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.driver.ArgKind;
import io.plugkit.driver.Kernel;
import io.plugkit.driver.KernelArgs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Argument checking (shared by both drivers) and the kernelParams array cuLaunchKernel reads. */
class KernelArgsTest {
  // An instance field, not a static Kernel constant: the kernel-signature test scans those against the sources.
  private final Kernel k = Kernel.of("demo_kernel", PTR, I32, F32, I64, PTR);

  @Test void packPutsNFirstThenEachArgumentWithItsSize() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment params = LaunchParams.pack(k, 1_000_000_007L, new Object[] {0x7f00_1234_5678L, -7, 2.5f, -3L, 0L}, a);

      assertEquals(6 * ADDRESS.byteSize(), params.byteSize());
      MemorySegment[] p = new MemorySegment[6];
      for (int i = 0; i < 6; i++) p[i] = params.getAtIndex(ADDRESS, i);
      assertEquals(1_000_000_007L, p[0].reinterpret(8).get(JAVA_LONG, 0));
      assertEquals(0x7f00_1234_5678L, p[1].reinterpret(8).get(JAVA_LONG, 0));
      assertEquals(-7, p[2].reinterpret(4).get(JAVA_INT, 0));
      assertEquals(2.5f, p[3].reinterpret(4).get(JAVA_FLOAT, 0));
      assertEquals(-3L, p[4].reinterpret(8).get(JAVA_LONG, 0));
      assertEquals(0L, p[5].reinterpret(8).get(JAVA_LONG, 0));
      // Each value has its own 8-byte slot, in parameter order.
      for (int i = 1; i < 6; i++) assertEquals(8, p[i].address() - p[i - 1].address());
      assertEquals(0, p[0].address() % 8);
    }
  }

  @Test void packOfAKernelWithOnlyNHasOneEntry() {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment params = LaunchParams.pack(Kernel.of("only_n"), 5, new Object[0], a);
      assertEquals(ADDRESS.byteSize(), params.byteSize());
      assertEquals(5L, params.get(ADDRESS, 0).reinterpret(8).get(JAVA_LONG, 0));
    }
  }

  @Test void validateAcceptsTheDeclaredTypes() {
    KernelArgs.validate(k, 10, new Object[] {1L, 2, 3f, 4L, 5L});
  }

  @Test void wrongCountNamesKernelAndCounts() {
    var e = assertThrows(IllegalArgumentException.class, () -> KernelArgs.validate(k, 10, new Object[] {1L, 2, 3f}));
    assertEquals("kernel demo_kernel: expected 5 arguments after n but got 3", e.getMessage());
  }

  @Test void wrongKindNamesKernelAndArgumentIndex() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> KernelArgs.validate(k, 10, new Object[] {1L, 2, 3.0, 4L, 5L}));
    assertEquals("kernel demo_kernel: argument 2 (F32): expected Float but got Double 3.0", e.getMessage());
  }

  @Test void intForAPointerIsRejected() {
    var e = assertThrows(IllegalArgumentException.class, () -> KernelArgs.validate(k, 10, new Object[] {1, 2, 3f, 4L, 5L}));
    assertTrue(e.getMessage().startsWith("kernel demo_kernel: argument 0 (PTR): expected Long"), e.getMessage());
  }

  @Test void nullArgumentAndNegativeNAreRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> KernelArgs.validate(k, 10, new Object[] {1L, 2, 3f, null, 5L}));
    assertEquals("kernel demo_kernel: argument 3 (I64): expected Long but got null", e.getMessage());
    var n = assertThrows(IllegalArgumentException.class, () -> KernelArgs.validate(k, -1, new Object[] {1L, 2, 3f, 4L, 5L}));
    assertEquals("kernel demo_kernel: n: expected >= 0 but got -1", n.getMessage());
  }

  @Test void gridCoversEveryItemUpToTheCap() {
    assertEquals(1, LaunchParams.gridSize(k, 1, 4224));
    assertEquals(1, LaunchParams.gridSize(k, 256, 4224));
    assertEquals(2, LaunchParams.gridSize(k, 257, 4224));
    assertEquals(4224, LaunchParams.gridSize(k, 1L << 40, 4224));
  }

  @Test void blockCooperativeKernelsGetOneBlockPerItem() {
    Kernel perChannel = Kernel.withBlock("per_channel", 256, PTR);
    assertEquals(1, LaunchParams.gridSize(perChannel, 1, 4224));
    assertEquals(300, LaunchParams.gridSize(perChannel, 300, 4224));
    assertEquals(4224, LaunchParams.gridSize(perChannel, 100_000, 4224));
  }

  @Test void blockSizeIsTheKernelsOwnOrTheDefault() {
    assertEquals(256, LaunchParams.blockSize(k));
    assertEquals(128, LaunchParams.blockSize(Kernel.withBlock("reduce", 128, PTR)));
  }
}
