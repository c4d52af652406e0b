package io.plugkit.io;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file mapped into memory, for files of any size (2 GiB and more) and for loading
 * tensors one at a time by name. Opening reads and validates only the header (as strictly as
 * {@link SafeTensors#parse}); a tensor's bytes are read when it is loaded, copied from the mapping
 * straight to its device, with no Java array in between.
 *
 * <pre>{@code
 * try (SafeTensorsFile f = SafeTensorsFile.open(path)) {
 *   TensorInfo info = f.info("backbone.conv1.weight");
 *   Tensor w = f.load("backbone.conv1.weight", device);   // in the current Scope
 * }
 * }</pre>
 *
 * <p>Threads may load from one open file at once (the mapping lives in a shared arena). Close it
 * when loading is done, not while another thread still loads: closing unmaps the file.
 */
public final class SafeTensorsFile implements AutoCloseable {
  private final String source;
  private final Arena arena;
  private final MemorySegment mapped;
  private final SafeTensorsHeader header;

  private SafeTensorsFile(String source, Arena arena, MemorySegment mapped, SafeTensorsHeader header) {
    this.source = source;
    this.arena = arena;
    this.mapped = mapped;
    this.header = header;
  }

  /** Maps {@code file} read-only and validates its header; a corrupt file is an {@link IllegalArgumentException}. */
  public static SafeTensorsFile open(Path file) {
    if (file == null) throw new IllegalArgumentException("file: expected a path but got null");
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
      return new SafeTensorsFile(file.toString(), arena, mapped, SafeTensorsHeader.parse(mapped, file.toString()));
    } catch (IOException e) {
      arena.close();
      throw new UncheckedIOException("could not read " + file, e);
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  /** Tensor names in file order. */
  public Set<String> names() { return header.tensors().keySet(); }

  /** Every tensor's dtype, shape and offsets, by name in file order. */
  public Map<String, TensorInfo> tensors() { return header.tensors(); }

  /** The string metadata ({@code __metadata__}). */
  public Map<String, String> metadata() { return header.metadata(); }

  public boolean contains(String name) { return header.tensors().containsKey(name); }

  public TensorInfo info(String name) {
    TensorInfo t = header.tensors().get(name);
    if (t == null) {
      throw new IllegalArgumentException("name: no tensor '" + name + "' in " + source + " (it has " + names() + ")");
    }
    return t;
  }

  /** The named tensor's raw little-endian bytes: a read-only view of the mapping, valid until {@link #close()}. */
  public MemorySegment bytes(String name) {
    TensorInfo t = info(name);
    requireOpen();
    return mapped.asSlice(header.dataStart() + t.begin(), t.byteSize()).asReadOnly();
  }

  /** The named tensor as an F32 tensor on {@code device}, in the current scope (F16, BF16 and I64 are converted). */
  public Tensor load(String name, Device device) {
    if (device == null) throw new IllegalArgumentException("device: expected a device but got null");
    TensorInfo t = info(name);
    Tensor out = Tensor.empty(device, DType.F32, t.shape());
    try {
      StoredCopy.into(out, t.dtype(), bytes(name));
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
    return out;
  }

  /**
   * Overwrites {@code target} (F32 or I64, the entry's shape) with the named tensor, converting
   * the element type as {@link io.plugkit.nn.Module#loadStateDict} does.
   */
  public void copyInto(String name, Tensor target) {
    if (target == null) throw new IllegalArgumentException("target: expected a tensor but got null");
    TensorInfo t = info(name);
    if (!t.shape().equals(target.shape())) {
      throw new IllegalArgumentException("target: expected shape " + t.shape() + " (entry " + name + ") but got " + target.shape());
    }
    StoredCopy.into(target, t.dtype(), bytes(name));
  }

  private void requireOpen() {
    if (!arena.scope().isAlive()) throw new IllegalStateException("safetensors file " + source + " was closed");
  }

  /** Unmaps the file; views from {@link #bytes} become unusable. */
  @Override public void close() {
    if (arena.scope().isAlive()) arena.close();
  }
}
