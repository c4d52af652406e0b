package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The stream-scope bookkeeping without a device: nesting, and where waits go once a scope ended. */
class ThreadStreamTest {
  @Test void scopesNestAndRetiredOnesRedirectWaits() {
    ThreadStream own = new ThreadStream(100);
    assertSame(own, own.current());
    ThreadStream s1 = own.push(200);
    ThreadStream s2 = own.push(300);
    assertSame(s2, own.current());
    assertEquals(300, s2.waitStream(), "a live scope is waited on directly");
    assertThrows(IllegalStateException.class, () -> own.pop(s1), "innermost first");
    own.pop(s2);
    assertSame(s1, own.current());
    assertEquals(200, s2.waitStream(), "after its end: the stream that was current before (it waits for the scope)");
    own.pop(s1);
    assertSame(own, own.current());
    assertEquals(100, s1.waitStream());
    assertEquals(100, s2.waitStream(), "through the chain: never a caller's stream after its scope");
    assertEquals(100, own.waitStream());
  }
}
