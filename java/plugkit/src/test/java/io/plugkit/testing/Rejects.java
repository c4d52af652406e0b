package io.plugkit.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.function.Executable;

/** Bad input must be an IllegalArgumentException whose message starts with the argument's name. */
public final class Rejects {
  private Rejects() {}

  public static void assertRejects(String argName, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith(argName + ":"), () -> "expected the message to name " + argName + ": " + e.getMessage());
  }
}
