package io.plugkit.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.Device;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.ops.Activations;
import io.plugkit.ops.Elementwise;
import io.plugkit.ops.Reductions;
import io.plugkit.testing.Rejects;
import io.plugkit.testing.TestDevices;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Autograd.onGradientFinal: once per pass, after the leaf's last contribution; queueCallback after all of them. */
class GradientFinalHookTest {
  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void firesOnceAfterTheLastContributionInTapeOrder(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(d, new float[] {1f, -2f}, 2).requiresGrad(true);
      Tensor b = Tensor.of(d, new float[] {3f, 4f}, 2).requiresGrad(true);
      Tensor unused = Tensor.of(d, new float[] {5f}, 1).requiresGrad(true);
      List<String> events = new ArrayList<>();
      // At the moment the hook runs, the gradient must already be the pass's whole sum.
      try (var ha = Autograd.onGradientFinal(a, (leaf, got) -> events.add("a " + got + " " + java.util.Arrays.toString(leaf.grad().toArray())));
          var hb = Autograd.onGradientFinal(b, (leaf, got) -> events.add("b " + got));
          var hu = Autograd.onGradientFinal(unused, (leaf, got) -> events.add("unused"))) {
        // a is used first (by mul with b) and last (by the relu branch): its hook waits for both.
        Tensor ab = Elementwise.mul(a, b);
        Tensor y = Reductions.sum(Elementwise.add(ab, Activations.relu(a)));
        y.backward();
        // backward order: sum, add, relu(a) [a: 1 of 2 edges], mul [a: last, b: last].
        assertEquals(List.of("a true [4.0, 4.0]", "b true"), events);
        events.clear();
        y = Reductions.sum(Elementwise.mul(a, b));
        y.backward();
        assertEquals(List.of("a true [7.0, 8.0]", "b true"), events, "a second pass fires again, gradients accumulate");
      }
      events.clear();
      Reductions.sum(Elementwise.mul(a, b)).backward();
      assertEquals(List.of(), events, "closed registrations do not fire");
    }
  }

  @ParameterizedTest @MethodSource("io.plugkit.testing.TestDevices#all")
  void reportsALeafReachedOnlyThroughNullGradients(Device d) {
    TestDevices.assumeUsable(d);
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(d, new float[] {1f, 2f}, 2).requiresGrad(true);
      Tensor c = Tensor.of(d, new float[] {1f, 1f}, 2).requiresGrad(true);
      List<String> events = new ArrayList<>();
      try (var h = Autograd.onGradientFinal(c, (leaf, got) -> events.add("c " + got + " " + (leaf.grad() == null)))) {
        // A node that returns no gradient for c: c is reached, its gradient stays null.
        Tensor y = Elementwise.add(a, c.detach());
        Tensor z = Tensor.of(d, new float[] {0f, 0f}, 2);
        Autograd.record("test_no_grad_for_c", z, g -> new Tensor[] {g, null}, y, c);
        z.backward(Tensor.ones(d, 2));
      }
      assertEquals(List.of("c false true"), events);
      assertArrayEquals(new float[] {1f, 1f}, a.grad().toArray());
    }
  }

  @Test
  void callbacksRunAfterEveryHookAndOnlyInsideAPass() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(d, new float[] {2f}, 1).requiresGrad(true);
      Tensor b = Tensor.of(d, new float[] {3f}, 1).requiresGrad(true);
      List<String> events = new ArrayList<>();
      try (var ha = Autograd.onGradientFinal(a, (leaf, got) -> {
            events.add("a");
            Autograd.queueCallback(() -> events.add("end a:" + leaf.grad().item()));
          });
          var hb = Autograd.onGradientFinal(b, (leaf, got) -> events.add("b"))) {
        Reductions.sum(Elementwise.mul(Elementwise.mul(a, a), b)).backward();
      }
      assertEquals(3, events.size());
      assertEquals("end a:12.0", events.get(2), "the callback runs last, with the final gradient");
      assertTrue(events.subList(0, 2).containsAll(List.of("a", "b")));
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> Autograd.queueCallback(() -> {}));
      assertTrue(e.getMessage().contains("no backward pass"), e.getMessage());
    }
  }

  @Test
  void aLeafRootFiresItsHookAndAThrowingPassDropsItsCallbacks() {
    Device d = Device.cpu();
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.of(d, new float[] {2f}, 1).requiresGrad(true);
      List<String> events = new ArrayList<>();
      try (var h = Autograd.onGradientFinal(a, (leaf, got) -> events.add("a " + got))) {
        a.backward();
        assertEquals(List.of("a true"), events);
      }
      Tensor b = Tensor.of(d, new float[] {2f}, 1).requiresGrad(true);
      try (var h = Autograd.onGradientFinal(b, (leaf, got) -> {
        Autograd.queueCallback(() -> events.add("callback"));
        throw new IllegalStateException("hook failed");
      })) {
        assertThrows(IllegalStateException.class, () -> Reductions.sum(Elementwise.mul(b, b)).backward());
      }
      assertEquals(List.of("a true"), events, "the failed pass's callback did not run");
      Rejects.assertRejects("leaf", () -> Autograd.onGradientFinal(Elementwise.mul(a, a), (l, g) -> {}));
      Rejects.assertRejects("leaf", () -> Autograd.onGradientFinal(Tensor.zeros(d, 1), (l, g) -> {}));
      Rejects.assertRejects("hook", () -> Autograd.onGradientFinal(a, null));
    }
  }
}
