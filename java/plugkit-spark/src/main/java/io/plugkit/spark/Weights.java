package io.plugkit.spark;

import io.plugkit.nn.Module;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Safetensors bytes for {@link PlugkitScorer.Builder#weights(byte[])}. */
public final class Weights {
  private Weights() {}

  /** {@code model}'s state dict as the bytes of a safetensors file (as {@link Module#save} writes it). */
  public static byte[] of(Module model) {
    if (model == null) throw new IllegalArgumentException("model: expected a Module but got null");
    Path tmp = null;
    try {
      tmp = Files.createTempFile("plugkit-weights", ".safetensors");
      model.save(tmp);
      return Files.readAllBytes(tmp);
    } catch (IOException e) {
      throw new UncheckedIOException("could not serialize the weights through a temporary file", e);
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // a leftover temp file is harmless
        }
      }
    }
  }
}
