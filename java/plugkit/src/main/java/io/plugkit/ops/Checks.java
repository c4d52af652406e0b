package io.plugkit.ops;

import io.plugkit.DType;
import io.plugkit.Tensor;
import java.util.Arrays;

/**
 * Argument validation shared by every op: runs before any native call and throws an
 * IllegalArgumentException naming the argument, what was expected and what came.
 */
public final class Checks {
  private Checks() {}

  /** Not null, not freed, F32. */
  public static Tensor tensor(Tensor t, String name) {
    if (t == null) throw new IllegalArgumentException(name + ": expected a tensor but got null");
    if (t.isFreed()) throw new IllegalArgumentException(name + ": expected a live tensor but it was freed");
    if (t.dtype() != DType.F32) throw new IllegalArgumentException(name + ": expected dtype F32 but got " + t.dtype());
    return t;
  }

  public static Tensor rank(Tensor t, String name, int rank) {
    tensor(t, name);
    if (t.rank() != rank) {
      throw new IllegalArgumentException(name + ": expected rank " + rank + " but got rank " + t.rank() + " (shape " + t.shape() + ")");
    }
    return t;
  }

  public static void sameDevice(Tensor a, String nameA, Tensor b, String nameB) {
    if (!a.device().equals(b.device())) {
      throw new IllegalArgumentException(nameB + ": expected device " + a.device() + " (that of " + nameA + ") but got " + b.device());
    }
  }

  public static void sameShape(Tensor a, String nameA, Tensor b, String nameB) {
    if (!a.shape().equals(b.shape())) {
      throw new IllegalArgumentException(nameB + ": expected shape " + a.shape() + " (that of " + nameA + ") but got " + b.shape());
    }
  }

  public static void dim(Tensor t, String name, int axis, int expected) {
    if (t.dim(axis) != expected) {
      throw new IllegalArgumentException(name + ": expected size " + expected + " at dim " + axis + " but got shape " + t.shape());
    }
  }

  public static int positive(int v, String name) {
    if (v <= 0) throw new IllegalArgumentException(name + ": expected > 0 but got " + v);
    return v;
  }

  public static int nonNegative(int v, String name) {
    if (v < 0) throw new IllegalArgumentException(name + ": expected >= 0 but got " + v);
    return v;
  }

  /** A pair (h, w) given as one value or two. */
  public static int[] pair(int[] v, String name) {
    if (v == null || (v.length != 1 && v.length != 2)) {
      throw new IllegalArgumentException(name + ": expected 1 or 2 values but got " + Arrays.toString(v));
    }
    return v.length == 1 ? new int[] {v[0], v[0]} : v.clone();
  }
}
