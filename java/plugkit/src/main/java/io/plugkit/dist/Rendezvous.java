package io.plugkit.dist;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * How the ranks of one communicator, in separate processes, learn the NCCL unique id that rank 0
 * makes: a file on a shared file system, a TCP address, or the user's own channel.
 */
@FunctionalInterface
public interface Rendezvous {
  Duration DEFAULT_TIMEOUT = Duration.ofMinutes(2);

  /**
   * Rank 0 calls {@code newId} and makes its bytes available to the other ranks, returning them;
   * every other rank returns the bytes rank 0 made, waiting for them.
   */
  byte[] share(int rank, int size, Supplier<byte[]> newId);

  /** {@link #file(Path, Duration)} with a two-minute timeout. */
  static Rendezvous file(Path path) { return file(path, DEFAULT_TIMEOUT); }

  /**
   * Rank 0 writes the id to {@code path} atomically (a temporary file moved into place, replacing
   * any older one); the others wait until it is there. Use a fresh path per job: a rank that
   * starts before rank 0 rewrote a stale file from an earlier job reads that job's id and fails to
   * connect.
   */
  static Rendezvous file(Path path, Duration timeout) {
    return (rank, size, newId) -> {
      if (rank == 0) {
        byte[] id = newId.get();
        try {
          Path dir = path.toAbsolutePath().getParent();
          Files.createDirectories(dir);
          Path tmp = Files.createTempFile(dir, path.getFileName() + ".", ".tmp");
          Files.write(tmp, id);
          try {
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
          } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
          }
        } catch (IOException e) {
          throw new UncheckedIOException("rendezvous: cannot write the NCCL id to " + path, e);
        }
        return id;
      }
      long deadline = System.nanoTime() + timeout.toNanos();
      while (true) {
        try {
          byte[] id = Files.readAllBytes(path);
          if (id.length == Nccl.UNIQUE_ID_BYTES) return id;
        } catch (NoSuchFileException e) {
          // rank 0 has not written it yet
        } catch (IOException e) {
          throw new UncheckedIOException("rendezvous: cannot read the NCCL id from " + path, e);
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("rendezvous: rank " + rank + " found no NCCL id in " + path + " within "
              + timeout.toSeconds() + " s (did rank 0 start?)");
        }
        sleep(20);
      }
    };
  }

  /** {@link #tcp(String, int, Duration)} with a two-minute timeout. */
  static Rendezvous tcp(String host, int port) { return tcp(host, port, DEFAULT_TIMEOUT); }

  /**
   * Rank 0 listens on {@code host:port} and sends the id to each of the other {@code size - 1}
   * ranks that connect (a daemon thread, for up to {@code timeout}); the others connect, retrying
   * until rank 0 listens or the timeout passes.
   */
  static Rendezvous tcp(String host, int port, Duration timeout) {
    if (port < 1 || port > 65535) throw new IllegalArgumentException("port: expected 1 to 65535 but got " + port);
    return (rank, size, newId) -> {
      try {
        if (rank == 0) {
          byte[] id = newId.get();
          ServerSocket server = new ServerSocket();
          server.setReuseAddress(true);
          server.bind(new InetSocketAddress(InetAddress.getByName(host), port), size);
          server.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
          Thread serve = new Thread(() -> {
            try (server) {
              for (int served = 0; served < size - 1; served++) {
                try (Socket s = server.accept(); OutputStream out = s.getOutputStream()) {
                  out.write(id);
                }
              }
            } catch (IOException e) {
              // a rank that never came times out on its own side (or in ncclCommInitRank)
            }
          }, "plugkit-nccl-rendezvous");
          serve.setDaemon(true);
          serve.start();
          return id;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
          try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName(host), port), 1000);
            s.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            InputStream in = s.getInputStream();
            byte[] id = in.readNBytes(Nccl.UNIQUE_ID_BYTES);
            if (id.length == Nccl.UNIQUE_ID_BYTES) return id;
          } catch (SocketTimeoutException e) {
            // fall through to the deadline check
          } catch (IOException e) {
            // rank 0 is not listening yet
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("rendezvous: rank " + rank + " got no NCCL id from " + host + ":" + port
                + " within " + timeout.toSeconds() + " s (did rank 0 start?)");
          }
          sleep(20);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("rendezvous: rank 0 cannot listen on " + host + ":" + port, e);
      }
    };
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("rendezvous: interrupted", e);
    }
  }
}
