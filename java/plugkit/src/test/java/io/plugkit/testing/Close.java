package io.plugkit.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Element-wise comparison with |a - e| <= atol + rtol * |e|; NaN must match NaN. */
public final class Close {
  private Close() {}

  public static void assertClose(float[] expected, float[] actual, double atol, double rtol, String what) {
    assertEquals(expected.length, actual.length, what + ": element count");
    for (int i = 0; i < expected.length; i++) {
      double e = expected[i];
      double a = actual[i];
      if (Double.isNaN(e) && Double.isNaN(a)) continue;
      if (Double.isInfinite(e) && e == a) continue;
      if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
        fail(what + ": element " + i + " expected " + e + " but got " + a + " (atol " + atol + ", rtol " + rtol + ")");
      }
    }
  }

  public static void assertClose(double[] expected, float[] actual, double atol, double rtol, String what) {
    float[] f = new float[expected.length];
    for (int i = 0; i < f.length; i++) f[i] = (float) expected[i];
    assertClose(f, actual, atol, rtol, what);
  }
}
