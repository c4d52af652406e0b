package io.plugkit.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.plugkit.MemoryStats;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Registered for every test (service file + autodetection): fails a test that leaves more tensor
 * storage alive than it found.
 */
public final class LeakCheck implements BeforeEachCallback, AfterEachCallback {
  private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LeakCheck.class);

  @Override public void beforeEach(ExtensionContext ctx) {
    ctx.getStore(NS).put("live", MemoryStats.liveStorages());
  }

  @Override public void afterEach(ExtensionContext ctx) {
    long before = ctx.getStore(NS).get("live", Long.class);
    assertEquals(before, MemoryStats.liveStorages(), "tensor storages leaked by " + ctx.getDisplayName());
  }
}
