package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.ops.Elementwise;
import org.junit.jupiter.api.Test;

/** Ownership: freeing at close, moving out, views, use after free, misuse. */
class ScopeTest {
  @Test
  void clearGradTakesTheGradientOffItsScopesList() {
    try (Scope s = Scope.open()) {
      Tensor w = Tensor.ones(Device.cpu(), 3).requiresGrad(true);
      int listed = s.entries();
      for (int step = 0; step < 50; step++) {
        try (Scope inner = Scope.open()) {
          Elementwise.mul(w, w).backward(Tensor.ones(Device.cpu(), 3));
        }
        assertArrayEquals(new float[] {2, 2, 2}, w.grad().toArray());
        w.clearGrad();
      }
      assertEquals(listed, s.entries(), "a cleared gradient stays listed in the leaf's scope");
    }
  }

  @Test
  void closingFreesEverythingMadeInside() {
    long before = MemoryStats.liveStorages();
    Tensor leaked;
    try (Scope s = Scope.open()) {
      leaked = Tensor.zeros(Device.cpu(), 4, 4);
      Tensor.ones(Device.cpu(), 8);
      assertEquals(before + 2, MemoryStats.liveStorages());
    }
    assertEquals(before, MemoryStats.liveStorages());
    var e = assertThrows(IllegalStateException.class, leaked::toArray);
    assertTrue(e.getMessage().contains("was freed"), e.getMessage());
  }

  @Test
  void keepMovesAResultToTheEnclosingScope() {
    try (Scope outer = Scope.open()) {
      Tensor kept;
      try (Scope inner = Scope.open()) {
        kept = inner.keep(Tensor.full(Device.cpu(), 2f, 3));
        Tensor.zeros(Device.cpu(), 3);
      }
      assertArrayEquals(new float[] {2f, 2f, 2f}, kept.toArray(), 0f);
      assertEquals(1, outer.size());
    }
  }

  @Test
  void aViewKeepsItsStorageAliveAfterTheOriginalIsClosed() {
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.of(Device.cpu(), new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
      Tensor view = t.reshape(3, 2);
      t.close();
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, view.toArray(), 0f);
    }
  }

  @Test
  void viewsOfAFreedTensorAreRefused() {
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.zeros(Device.cpu(), 4);
      t.close();
      assertThrows(IllegalStateException.class, () -> t.reshape(2, 2));
      assertThrows(IllegalStateException.class, t::detach);
      assertThrows(IllegalStateException.class, t::copy);
    }
  }

  @Test
  void noOpenScopeIsAClearError() {
    var e = assertThrows(IllegalStateException.class, () -> Tensor.zeros(Device.cpu(), 2));
    assertTrue(e.getMessage().contains("no Scope is open"), e.getMessage());
  }

  @Test
  void scopesCloseInnermostFirst() {
    Scope outer = Scope.open();
    Scope inner = Scope.open();
    assertThrows(IllegalStateException.class, outer::close);
    inner.close();
    outer.close();
  }

  @Test
  void badShapesAndDataNameTheArgument() {
    try (Scope s = Scope.open()) {
      var data = assertThrows(IllegalArgumentException.class, () -> Tensor.of(Device.cpu(), new float[3], 2, 2));
      assertTrue(data.getMessage().startsWith("data:"), data.getMessage());
      var dims = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(Device.cpu(), 6).reshape(4, -1));
      assertTrue(dims.getMessage().startsWith("dims:"), dims.getMessage());
      var shape = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(Device.cpu(), 2, -1));
      assertTrue(shape.getMessage().startsWith("shape:"), shape.getMessage());
    }
  }
}
