package io.plugkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class TensorSmokeTest {
  @Test
  void roundTrip() {
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.of(Device.cpu(), new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
      assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.reshape(3, 2).toArray());
      Tensor z = Tensor.full(Device.cpu(), 2.5f, 5000);
      assertArrayEquals(new float[] {5f, 5f}, new float[] {z.plus(z).toArray()[0], z.plus(z).toArray()[4999]});
    }
  }
}
