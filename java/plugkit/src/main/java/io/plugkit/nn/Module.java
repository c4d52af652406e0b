package io.plugkit.nn;

import io.plugkit.DType;
import io.plugkit.Shape;
import io.plugkit.Tensor;
import io.plugkit.io.SafeTensors;
import io.plugkit.io.SafeTensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A layer with named parameters, buffers and child modules (torch.nn.Module). Names compose with
 * dots as in PyTorch's state_dict ({@code features.0.weight}, {@code bn.running_mean}), so weights
 * saved from PyTorch as safetensors load 1:1.
 *
 * <p>Lifetime: parameters and buffers are tensors of the {@link io.plugkit.Scope} open when the
 * module is built; keep that scope open while the module is used. Subclasses register their
 * state in the constructor and implement {@link #forward}.
 *
 * <p>State dict order: a module's own parameters, then its buffers, then each child's, in
 * registration order (PyTorch's order).
 */
public abstract class Module {
  private final Map<String, Parameter> parameters = new LinkedHashMap<>();
  private final Map<String, Tensor> buffers = new LinkedHashMap<>();
  private final Set<String> buffersOptionalOnLoad = new HashSet<>();
  private final Map<String, Module> children = new LinkedHashMap<>();
  private boolean training = true;
  private boolean frozen;

  /** Applies the module to one input. */
  public abstract Tensor forward(Tensor x);

  /**
   * Registers {@code init} (a leaf F32 tensor, usually made in the subclass constructor) as the
   * parameter {@code name} and marks it {@code requiresGrad(true)}.
   */
  protected final Parameter registerParameter(String name, Tensor init) {
    checkName(name);
    checkLive(init, name);
    if (init.dtype() != DType.F32) throw new IllegalArgumentException(name + ": expected an F32 parameter but got " + init.dtype());
    if (init.gradFn() != null) throw new IllegalArgumentException(name + ": expected a leaf tensor but it is the output of an op");
    Parameter p = new Parameter(init);
    parameters.put(name, p);
    return p;
  }

  /** Registers a buffer (state that is saved and loaded but not trained: running statistics). */
  protected final Tensor registerBuffer(String name, Tensor value) { return registerBuffer(name, value, true); }

  /**
   * Registers a buffer (F32 or I64) that, when {@code requiredOnLoad} is false, may be absent from a
   * state dict even under strict loading (it then keeps its value): BatchNorm's
   * {@code num_batches_tracked}, which PyTorch also tolerates missing.
   */
  protected final Tensor registerBuffer(String name, Tensor value, boolean requiredOnLoad) {
    checkName(name);
    checkLive(value, name);
    if (value.dtype() != DType.F32 && value.dtype() != DType.I64) {
      throw new IllegalArgumentException(name + ": expected an F32 or I64 buffer but got " + value.dtype());
    }
    if (value.requiresGrad()) throw new IllegalArgumentException(name + ": expected a buffer that does not require grad");
    buffers.put(name, value);
    if (!requiredOnLoad) buffersOptionalOnLoad.add(name);
    return value;
  }

  /** Registers {@code module} as the child {@code name}; returns it. */
  protected final <M extends Module> M registerModule(String name, M module) {
    checkName(name);
    if (module == null) throw new IllegalArgumentException(name + ": expected a module but got null");
    if (((Module) module).containsModule(this)) throw new IllegalArgumentException(name + ": a module cannot contain itself");
    children.put(name, module);
    return module;
  }

  private boolean containsModule(Module m) {
    if (this == m) return true;
    for (Module c : children.values()) if (c.containsModule(m)) return true;
    return false;
  }

  private void checkName(String name) {
    if (name == null || name.isEmpty() || name.contains(".")) {
      throw new IllegalArgumentException("name: expected a non-empty name without '.' but got " + (name == null ? "null" : "'" + name + "'"));
    }
    if (parameters.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException("name: '" + name + "' is already registered in " + getClass().getSimpleName());
    }
  }

  private static void checkLive(Tensor t, String name) {
    if (t == null) throw new IllegalArgumentException(name + ": expected a tensor but got null");
    if (t.isFreed()) throw new IllegalArgumentException(name + ": expected a live tensor but it was freed");
  }

  /** The direct children by name, in registration order. */
  public final Map<String, Module> children() { return Collections.unmodifiableMap(children); }

  /** Every parameter tensor of this module and its descendants, each once, in state dict order. */
  public final List<Tensor> parameters() {
    IdentityHashMap<Tensor, Boolean> seen = new IdentityHashMap<>();
    List<Tensor> out = new ArrayList<>();
    for (Tensor t : namedParameters().values()) if (seen.put(t, true) == null) out.add(t);
    return out;
  }

  /** Parameters by dotted name. */
  public final Map<String, Tensor> namedParameters() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    collect("", out, true, false);
    return out;
  }

  /** Buffers by dotted name. */
  public final Map<String, Tensor> namedBuffers() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    collect("", out, false, true);
    return out;
  }

  /** Parameters and buffers by dotted name, as PyTorch's state_dict (the tensors themselves, not copies). */
  public final Map<String, Tensor> stateDict() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    collect("", out, true, true);
    return out;
  }

  private void collect(String prefix, Map<String, Tensor> out, boolean withParameters, boolean withBuffers) {
    if (withParameters) for (var e : parameters.entrySet()) out.put(prefix + e.getKey(), e.getValue().tensor());
    if (withBuffers) for (var e : buffers.entrySet()) out.put(prefix + e.getKey(), e.getValue());
    for (var e : children.entrySet()) e.getValue().collect(prefix + e.getKey() + ".", out, withParameters, withBuffers);
  }

  private void collectOptional(String prefix, Set<String> out) {
    for (String b : buffersOptionalOnLoad) out.add(prefix + b);
    for (var e : children.entrySet()) e.getValue().collectOptional(prefix + e.getKey() + ".", out);
  }

  /** {@link #loadStateDict(Map, boolean)} with the tensors of a parsed safetensors file. */
  public final void loadStateDict(SafeTensors.Contents contents, boolean strict) {
    if (contents == null) throw new IllegalArgumentException("contents: expected safetensors contents but got null");
    loadStateDict(contents.tensors(), strict);
  }

  /**
   * Overwrites parameters and buffers in place from {@code entries} (dotted names). Everything is
   * checked before anything is written: a shape mismatch is always an error; with {@code strict},
   * so are keys the module lacks and keys of the module missing from {@code entries} (except
   * buffers registered as optional on load). F32 targets accept F32, F16, BF16 and I64 entries
   * (converted); I64 targets (counters) accept I64 entries, or float entries truncated to integers.
   *
   * @throws IllegalArgumentException listing every missing key, unexpected key and size mismatch
   *     (key, the module's shape and the entry's shape)
   */
  public final void loadStateDict(Map<String, SafeTensors.Entry> entries, boolean strict) {
    if (entries == null) throw new IllegalArgumentException("entries: expected a map of tensors but got null");
    Map<String, Shape> shapes = new LinkedHashMap<>();
    for (var e : entries.entrySet()) shapes.put(e.getKey(), e.getValue().shape());
    for (var e : checkFits(shapes, strict).entrySet()) entries.get(e.getKey()).copyInto(e.getValue());
  }

  /**
   * Checks a state dict given by entry shapes against this module (see {@link #loadStateDict(Map,
   * boolean)}) and returns the tensors to write, by key; writes nothing.
   */
  private Map<String, Tensor> checkFits(Map<String, Shape> entries, boolean strict) {
    return checkFits(entries, strict, Map.of(), Map.of());
  }

  /**
   * checkFits with the problems a {@link StateDictMapping} met (module key -> message: always
   * errors, and such keys are not reported missing again) and the saved name of each renamed key
   * (named in the report next to the module's name).
   */
  private Map<String, Tensor> checkFits(Map<String, Shape> entries, boolean strict, Map<String, String> mappingProblems,
      Map<String, String> savedNames) {
    requireNotFrozen("load weights into");
    Map<String, Tensor> own = stateDict();
    Set<String> optional = new HashSet<>();
    collectOptional("", optional);
    List<String> missing = new ArrayList<>();
    List<String> mismatched = new ArrayList<>();
    Map<String, Tensor> toWrite = new LinkedHashMap<>();
    for (var e : own.entrySet()) {
      Shape shape = entries.get(e.getKey());
      if (shape == null) {
        if (!optional.contains(e.getKey()) && !mappingProblems.containsKey(e.getKey())) missing.add(e.getKey());
      } else if (!shape.equals(e.getValue().shape())) {
        mismatched.add(e.getKey() + saved(savedNames, e.getKey()) + ": expected shape " + e.getValue().shape() + " but got " + shape);
      } else {
        toWrite.put(e.getKey(), e.getValue());
      }
    }
    List<String> unexpected = new ArrayList<>();
    for (String k : entries.keySet()) if (!own.containsKey(k)) unexpected.add(k + saved(savedNames, k));
    List<String> problems = new ArrayList<>();
    if (strict && !missing.isEmpty()) problems.add("missing keys " + missing);
    if (strict && !unexpected.isEmpty()) problems.add("unexpected keys " + unexpected);
    if (!mismatched.isEmpty()) problems.add("size mismatch for " + String.join("; ", mismatched));
    if (!mappingProblems.isEmpty()) problems.add("mapping failed for " + String.join("; ", mappingProblems.values()));
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("state dict does not fit " + getClass().getSimpleName() + ": " + String.join("; ", problems));
    }
    return toWrite;
  }

  private static String saved(Map<String, String> savedNames, String key) {
    String s = savedNames.get(key);
    return s == null || s.equals(key) ? "" : " (saved as " + s + ")";
  }

  /** {@link StateDictMapping#apply} on saved shapes, then the checks of checkFits, with the mapping's problems in the same report. */
  private Map<String, Tensor> checkFits(Map<String, Shape> saved, StateDictMapping mapping, boolean strict,
      Map<String, StateDictMapping.Source> sources) {
    if (mapping == null) throw new IllegalArgumentException("mapping: expected a StateDictMapping (identity() for none) but got null");
    StateDictMapping.Mapped mapped = mapping.apply(saved);
    Map<String, Shape> shapes = new LinkedHashMap<>();
    Map<String, String> savedNames = new LinkedHashMap<>();
    for (var e : mapped.entries().entrySet()) {
      shapes.put(e.getKey(), e.getValue().shape());
      savedNames.put(e.getKey(), e.getValue().key());
    }
    sources.putAll(mapped.entries());
    return checkFits(shapes, strict, mapped.problems(), savedNames);
  }

  /** {@link #loadStateDict(Map, StateDictMapping, boolean)} with the tensors of a parsed safetensors file. */
  public final void loadStateDict(SafeTensors.Contents contents, StateDictMapping mapping, boolean strict) {
    if (contents == null) throw new IllegalArgumentException("contents: expected safetensors contents but got null");
    loadStateDict(contents.tensors(), mapping, strict);
  }

  /**
   * {@link #loadStateDict(Map, boolean)} after {@code mapping} renamed, selected and reshaped the
   * entries. Everything is checked before anything is written; the report lists at once every
   * missing key, unexpected key (with its saved name), size mismatch and mapping problem. Without
   * {@code strict}, missing and unexpected keys pass; mismatches and mapping problems never do.
   */
  public final void loadStateDict(Map<String, SafeTensors.Entry> entries, StateDictMapping mapping, boolean strict) {
    if (entries == null) throw new IllegalArgumentException("entries: expected a map of tensors but got null");
    Map<String, Shape> shapes = new LinkedHashMap<>();
    for (var e : entries.entrySet()) shapes.put(e.getKey(), e.getValue().shape());
    Map<String, StateDictMapping.Source> sources = new LinkedHashMap<>();
    for (var e : checkFits(shapes, mapping, strict, sources).entrySet()) {
      // A reshape keeps the row-major bytes: copyInto fills the target from them whatever the saved shape.
      entries.get(sources.get(e.getKey()).key()).copyInto(e.getValue());
    }
  }

  /** Loads a safetensors file strictly. */
  public final void load(Path file) { load(file, true); }

  /**
   * Loads a safetensors file of any size: the file is mapped, its header checked against this
   * module as {@link #loadStateDict(Map, boolean)} does, then each tensor is copied from the
   * mapping straight to its device.
   */
  public final void load(Path file, boolean strict) {
    if (file == null) throw new IllegalArgumentException("file: expected a path but got null");
    try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
      Map<String, Shape> shapes = new LinkedHashMap<>();
      for (var e : f.tensors().entrySet()) shapes.put(e.getKey(), e.getValue().shape());
      for (var e : checkFits(shapes, strict).entrySet()) f.copyInto(e.getKey(), e.getValue());
    }
  }

  /**
   * {@link #load(Path, boolean)} after {@code mapping} renamed, selected and reshaped the file's
   * entries (checked as {@link #loadStateDict(Map, StateDictMapping, boolean)}, before any write).
   * Reshaped entries (small Linear / 1x1 conv weights) go through a Java array; the others are
   * copied from the mapping straight to their device.
   */
  public final void load(Path file, StateDictMapping mapping, boolean strict) {
    if (file == null) throw new IllegalArgumentException("file: expected a path but got null");
    if (mapping == null) throw new IllegalArgumentException("mapping: expected a StateDictMapping (identity() for none) but got null");
    try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
      Map<String, Shape> shapes = new LinkedHashMap<>();
      for (var e : f.tensors().entrySet()) shapes.put(e.getKey(), e.getValue().shape());
      Map<String, StateDictMapping.Source> sources = new LinkedHashMap<>();
      for (var e : checkFits(shapes, mapping, strict, sources).entrySet()) {
        StateDictMapping.Source src = sources.get(e.getKey());
        if (src.reshaped()) {
          byte[] data = f.bytes(src.key()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
          new SafeTensors.Entry(f.info(src.key()).dtype(), src.shape(), data).copyInto(e.getValue());
        } else {
          f.copyInto(src.key(), e.getValue());
        }
      }
    }
  }

  /** Writes {@link #stateDict()} as a safetensors file (metadata {@code format: pt}, as safetensors' save_model). */
  public final void save(Path file) {
    if (file == null) throw new IllegalArgumentException("file: expected a path but got null");
    SafeTensors.write(file, stateDict(), Map.of("format", "pt"));
  }

  /**
   * Sets training mode on this module and its descendants; returns this.
   *
   * @throws IllegalStateException for {@code on} when this module or a descendant is frozen
   *     (nothing changes then)
   */
  public final Module train(boolean on) {
    if (on) requireNotFrozen("train");
    setTraining(on);
    return this;
  }

  private void setTraining(boolean on) {
    training = on;
    for (Module c : children.values()) c.setTraining(on);
  }

  public final Module train() { return train(true); }

  /** Inference mode (BatchNorm uses running statistics, dropout is off); returns this. */
  public final Module eval() { return train(false); }

  /**
   * Freezes this module and its descendants for serving, for good: eval mode, parameters stop
   * requiring grad, and {@link #train(boolean) train(true)} or loading weights throws
   * {@link IllegalStateException}, so no training-mode forward can run. A frozen module's forward
   * only reads its parameters and buffers, so one instance may serve many threads at once (in
   * training mode BatchNorm writes its running statistics on every forward, a data race between
   * threads). Load weights first; freeze before handing the module to other threads. Returns this.
   */
  public final Module freeze() {
    frozen = true;
    training = false;
    for (Parameter p : parameters.values()) p.tensor().requiresGrad(false);
    for (Module c : children.values()) c.freeze();
    return this;
  }

  /** True after {@link #freeze()} of this module or of a module containing it. */
  public final boolean isFrozen() { return frozen; }

  private boolean anyFrozen() {
    if (frozen) return true;
    for (Module c : children.values()) if (c.anyFrozen()) return true;
    return false;
  }

  private void requireNotFrozen(String what) {
    if (anyFrozen()) {
      throw new IllegalStateException("cannot " + what + " " + getClass().getSimpleName()
          + ": it is frozen for inference (or contains a frozen module); freeze() is permanent, build a new module to train");
    }
  }

  public final boolean isTraining() { return training; }

  /** Sets the gradient of every parameter to zero. */
  public final void zeroGrad() {
    for (Tensor p : parameters()) p.zeroGrad();
  }
}
