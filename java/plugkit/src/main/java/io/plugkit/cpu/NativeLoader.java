package io.plugkit.cpu;

import io.plugkit.driver.UnsupportedFeatureException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;

/**
 * Finds native files shipped as classpath resources and extracts them to one temporary folder
 * per process (deleted at exit), so that they can be loaded by path with no flags.
 */
public final class NativeLoader {
  /** Where the Makefile's outputs sit inside the jar. */
  public static final String NATIVE_RESOURCES = "io/plugkit/native/linux-x86_64/";

  private static Path dir;

  private NativeLoader() {}

  /** The bytes of a resource, or null when the classpath lacks it. */
  public static byte[] readResource(String resource) {
    try (InputStream in = NativeLoader.class.getClassLoader().getResourceAsStream(resource)) {
      return in == null ? null : in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOExceptionWrapper(resource, e);
    }
  }

  /** Extracts a resource to the process's native folder and returns its path. */
  public static synchronized Path extract(String resource) {
    Path target = folder().resolve(resource.substring(resource.lastIndexOf('/') + 1));
    if (Files.exists(target)) return target;
    try (InputStream in = NativeLoader.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new UnsupportedFeatureException("native resource " + resource + " is not on the classpath"
            + " (build it with `make native`, or use the plugkit jar that carries it)");
      }
      Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOExceptionWrapper(resource, e);
    }
  }

  private static Path folder() {
    if (dir == null) {
      try {
        dir = Files.createTempDirectory("plugkit-native-");
      } catch (IOException e) {
        throw new UncheckedIOExceptionWrapper("a temporary folder", e);
      }
      Path d = dir;
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try (var files = Files.walk(d)) {
          files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
          // best effort: the OS cleans temporary folders
        }
      }));
    }
    return dir;
  }

  /** I/O failure while extracting a native file. */
  public static final class UncheckedIOExceptionWrapper extends RuntimeException {
    UncheckedIOExceptionWrapper(String what, IOException cause) {
      super("could not extract " + what + ": " + cause.getMessage(), cause);
    }
  }
}
