package io.plugkit.testing;

import io.plugkit.io.SafeTensors;
import java.io.IOException;
import java.io.InputStream;

/**
 * Golden fixtures written by PyTorch ({@code tools/fixtures/make_fixtures.py}, run by
 * {@code make fixtures}); committed under src/test/resources/fixtures. Naming inside a file:
 * {@code in.X} inputs, {@code out.X} outputs, {@code grad.X} gradients of a summed weighted
 * loss (the weights are {@code in.gout}); parameters in the metadata.
 */
public final class Fixtures {
  private Fixtures() {}

  public static SafeTensors.Contents load(String name) {
    String path = "fixtures/" + name + ".safetensors";
    try (InputStream in = Fixtures.class.getClassLoader().getResourceAsStream(path)) {
      if (in == null) throw new IllegalStateException("missing fixture " + path + " (run `make fixtures`)");
      return SafeTensors.parse(in.readAllBytes(), path);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
