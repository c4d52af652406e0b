package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.autograd.GradMode;
import io.plugkit.ops.Activations;
import org.junit.jupiter.api.Test;

class InferenceTest {
  @Test
  void turnsGradOffAndFreesTheRequestsTensors() {
    Device d = Device.cpu();
    try (Scope model = Scope.open()) {
      Tensor w = Tensor.ones(d, 4).requiresGrad(true);
      Tensor y;
      Tensor kept;
      try (Inference request = Inference.open()) {
        assertFalse(GradMode.isEnabled());
        y = Activations.relu(w);
        assertFalse(y.requiresGrad(), "no tape is recorded in a request");
        assertNull(y.gradFn());
        kept = request.keep(Activations.relu(w));
      }
      assertTrue(GradMode.isEnabled(), "closing restores grad mode");
      assertTrue(y.isFreed(), "the request's tensors are freed on close");
      assertFalse(kept.isFreed(), "a kept tensor moved to the enclosing scope");
      assertFalse(w.isFreed());
    }
  }

  @Test
  void restoresThePreviousModeAndClosesOnce() {
    try (GradMode.Restore off = GradMode.disable()) {
      Inference request = Inference.open();
      request.close();
      request.close();
      assertFalse(GradMode.isEnabled(), "the mode before the request was off");
    }
    assertTrue(GradMode.isEnabled());
  }
}
