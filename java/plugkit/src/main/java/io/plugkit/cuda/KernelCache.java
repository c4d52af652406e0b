package io.plugkit.cuda;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Optional;

/**
 * Kernel images NVRTC compiled, kept on disk so that only the first run on a machine pays for
 * the compilation: in {@code $PLUGKIT_KERNEL_CACHE}, else {@code ~/.cache/plugkit/kernels}. A
 * file's name is its key: the SHA-256 of the sources and options, the driver version (a new
 * driver compiles again) and the device's arch. Files are written to a temporary name and
 * moved into place, so a process never reads half an image, and two processes compiling at
 * once both leave a whole one.
 */
final class KernelCache {
  static final String VARIABLE = "PLUGKIT_KERNEL_CACHE";

  private final Path folder;

  KernelCache(Path folder) { this.folder = folder; }

  /** The cache this environment names. */
  static KernelCache forEnvironment(Map<String, String> env, Path home) {
    String dir = env.get(VARIABLE);
    return new KernelCache(dir == null || dir.isBlank() ? home.resolve(".cache/plugkit/kernels") : Path.of(dir));
  }

  Path folder() { return folder; }

  /** Where the image for this key lives; {@code kind} is {@code cubin} or {@code ptx}. */
  Path file(String sourceHash, int driverVersion, int arch, String kind) {
    return folder.resolve("plugkit-" + sourceHash.substring(0, 32) + "-cuda" + driverVersion + "-sm_" + arch + "." + kind);
  }

  /** The cached image, if one is there and readable. */
  static Optional<byte[]> read(Path file) {
    try {
      return Files.isRegularFile(file) ? Optional.of(Files.readAllBytes(file)) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty(); // unreadable: compile again, as if absent
    }
  }

  /** Writes atomically (temporary file, then a move); throws when the folder is not writable. */
  static void write(Path file, byte[] image) throws IOException {
    Files.createDirectories(file.getParent());
    Path temp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
    try {
      Files.write(temp, image);
      try {
        Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** Removes an image the driver refused (corrupt, or from another driver); a failure to remove is harmless. */
  static void discard(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      // the next compile overwrites it
    }
  }
}
