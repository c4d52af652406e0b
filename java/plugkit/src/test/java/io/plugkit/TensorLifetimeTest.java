package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.autograd.GradMode;
import io.plugkit.ops.Activations;
import io.plugkit.testing.TestDevices;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Pins: memory a call uses outlives a close from another thread; a call after the close throws. */
class TensorLifetimeTest {
  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void aCloseWhilePinnedFreesAfterTheHold(Device device) throws Exception {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.of(device, new float[] {1, -2, 3}, 3);
      long live = MemoryStats.liveStorages();
      try (Pins hold = Pins.hold()) {
        t.address();
        CompletableFuture.runAsync(t::close).get(); // another thread closes it
        assertTrue(t.isFreed());
        assertEquals(live, MemoryStats.liveStorages(), "the free waits for the pin");
      }
      assertEquals(live - 1, MemoryStats.liveStorages(), "the last pin frees");
      assertFreed(t::address);
      assertFreed(t::toArray);
      assertFreed(() -> t.reshape(3));
      assertFreed(t::detach);
    }
  }

  @ParameterizedTest
  @MethodSource("io.plugkit.testing.TestDevices#all")
  void aDriverCallDropsItsPins(Device device) {
    TestDevices.assumeUsable(device);
    try (Scope s = Scope.open(); GradMode.Restore g = GradMode.disable()) {
      Tensor x = Tensor.of(device, new float[] {1, -2, 3}, 3);
      Tensor y = Activations.relu(x);
      assertEquals(0, Pins.heldByThisThread());
      assertArrayEquals(new float[] {1, 0, 3}, y.toArray());
      assertEquals(0, Pins.heldByThisThread());
      // A failing address() outside a call drops what the statement had pinned.
      Tensor gone = Tensor.zeros(device, 3);
      gone.close();
      assertFreed(() -> x.driver().copy(x.address(), gone.address(), 12));
      assertEquals(0, Pins.heldByThisThread());
    }
  }

  @Test
  void aViewKeepsStorageThatItsBaseFreed() {
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.of(Device.cpu(), new float[] {1, 2, 3, 4}, 4);
      Tensor v = t.reshape(2, 2);
      t.close();
      assertArrayEquals(new float[] {1, 2, 3, 4}, v.toArray());
      assertFreed(t::address);
    }
  }

  @Test
  void pinsHoldMustCloseOnItsThread() throws Exception {
    Pins hold = Pins.hold();
    try {
      var e = assertThrows(Exception.class, () -> CompletableFuture.runAsync(hold::close).get());
      assertTrue(e.getCause() instanceof IllegalStateException, e.toString());
    } finally {
      hold.close();
    }
  }

  @Test
  void nullDimsAreArgumentErrors() {
    Device cpu = Device.cpu();
    try (Scope s = Scope.open()) {
      assertNullDims(() -> Tensor.empty(cpu, (int[]) null));
      assertNullDims(() -> Tensor.zeros(cpu, (int[]) null));
      assertNullDims(() -> Tensor.ones(cpu, (int[]) null));
      assertNullDims(() -> Tensor.full(cpu, 1f, (int[]) null));
      assertNullDims(() -> Tensor.of(cpu, new float[0], (int[]) null));
      assertNullDims(() -> Tensor.ofLongs(cpu, new long[0], (int[]) null));
      assertNullDims(() -> Tensor.randn(cpu, 1, (int[]) null));
      assertNullDims(() -> Tensor.uniform(cpu, 1, 0f, 1f, (int[]) null));
      Tensor t = Tensor.zeros(cpu, 2);
      assertNullDims(() -> t.reshape((int[]) null));
      var e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(cpu, null, 2));
      assertEquals("data: expected an array but got null", e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Tensor.empty(cpu, DType.F32, null));
      assertEquals("shape: expected a Shape but got null", e.getMessage());
    }
  }

  private static void assertNullDims(Executable call) {
    var e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith("dims: expected ") && e.getMessage().endsWith("but got null"), e.getMessage());
  }

  private static void assertFreed(Executable call) {
    var e = assertThrows(IllegalStateException.class, call);
    assertTrue(e.getMessage().contains("was freed (its Scope closed or it was closed)"), e.getMessage());
  }
}
