package io.plugkit.nn;

import io.plugkit.Tensor;

/**
 * Modules applied in order (torch.nn.Sequential): the children are named "0", "1", ..., so their
 * state dict keys read {@code 0.weight}, {@code 3.running_mean}, as in PyTorch.
 */
public final class Sequential extends Module {
  private int size;

  public Sequential(Module... modules) {
    if (modules == null) throw new IllegalArgumentException("modules: expected modules but got null");
    for (Module m : modules) add(m);
  }

  /** Appends {@code module} under the next index; returns this. */
  public Sequential add(Module module) {
    registerModule(Integer.toString(size), module);
    size++;
    return this;
  }

  public int size() { return size; }

  /** The child at {@code index}. */
  public Module get(int index) {
    if (index < 0 || index >= size) throw new IllegalArgumentException("index: expected a value in [0, " + size + ") but got " + index);
    return children().get(Integer.toString(index));
  }

  /** Feeds {@code x} through every child in order; with no children returns x. */
  @Override public Tensor forward(Tensor x) {
    Tensor y = x;
    for (Module m : children().values()) y = m.forward(y);
    return y;
  }
}
