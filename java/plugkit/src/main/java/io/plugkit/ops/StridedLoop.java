package io.plugkit.ops;

import static io.plugkit.driver.ArgKind.I64;

import io.plugkit.driver.ArgKind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A box of dims walked in row-major order, with one vector of element strides per operand,
 * prepared for the strided kernels (layout.cu, elementwise.cu). Those take exactly
 * {@link #KERNEL_DIMS} sizes and strides per operand as scalar arguments (no metadata upload per
 * launch). Size-1 dims are dropped and neighbouring dims merged where every operand allows it,
 * so most boxes become 1 to 3 dims; a box still deeper than {@link #KERNEL_DIMS} is covered by
 * one launch per coordinate of its leading dims.
 */
final class StridedLoop {
  static final int KERNEL_DIMS = 6;

  /** What one launch receives: the item count, each operand's element offset, the padded box. */
  interface Launch {
    void run(long n, long[] offsets, long[] sizes, long[][] strides);
  }

  private final long[] sizes;
  private final long[][] strides;

  private StridedLoop(long[] sizes, long[][] strides) {
    this.sizes = sizes;
    this.strides = strides;
  }

  /** The box {@code sizes} with {@code strides[k][d]} the element stride of operand k along dim d. */
  static StridedLoop of(int[] sizes, long[]... strides) {
    List<Integer> keep = new ArrayList<>();
    for (int d = 0; d < sizes.length; d++) if (sizes[d] != 1) keep.add(d);
    List<long[]> dims = new ArrayList<>(); // {size, stride_0, stride_1, ...}
    for (int d : keep) {
      long[] cur = new long[strides.length + 1];
      cur[0] = sizes[d];
      for (int k = 0; k < strides.length; k++) cur[k + 1] = strides[k][d];
      if (!dims.isEmpty() && mergeable(dims.getLast(), cur)) {
        long[] prev = dims.getLast();
        prev[0] *= cur[0];
        for (int k = 1; k < prev.length; k++) prev[k] = cur[k];
      } else {
        dims.add(cur);
      }
    }
    long[] outSizes = new long[dims.size()];
    long[][] outStrides = new long[strides.length][dims.size()];
    for (int d = 0; d < dims.size(); d++) {
      outSizes[d] = dims.get(d)[0];
      for (int k = 0; k < strides.length; k++) outStrides[k][d] = dims.get(d)[k + 1];
    }
    return new StridedLoop(outSizes, outStrides);
  }

  /** An outer dim merges into the next when, for every operand, it steps exactly over it. */
  private static boolean mergeable(long[] outer, long[] inner) {
    for (int k = 1; k < outer.length; k++) if (outer[k] != inner[k] * inner[0]) return false;
    return true;
  }

  int rank() { return sizes.length; }

  /** Calls {@code launch} once per kernel launch needed; never for an empty box. */
  void forEachLaunch(Launch launch) {
    for (long s : sizes) if (s == 0) return;
    int operands = strides.length;
    int outer = Math.max(0, sizes.length - KERNEL_DIMS);
    int used = sizes.length - outer;
    long[] kernelSizes = new long[KERNEL_DIMS];
    long[][] kernelStrides = new long[operands][KERNEL_DIMS];
    Arrays.fill(kernelSizes, 1);
    long n = 1;
    for (int d = 0; d < used; d++) {
      int to = KERNEL_DIMS - used + d;
      kernelSizes[to] = sizes[outer + d];
      for (int k = 0; k < operands; k++) kernelStrides[k][to] = strides[k][outer + d];
      n *= sizes[outer + d];
    }
    long[] coord = new long[outer];
    while (true) {
      long[] offsets = new long[operands];
      for (int d = 0; d < outer; d++) {
        for (int k = 0; k < operands; k++) offsets[k] += coord[d] * strides[k][d];
      }
      launch.run(n, offsets, kernelSizes, kernelStrides);
      int d = outer - 1;
      while (d >= 0 && ++coord[d] == sizes[d]) coord[d--] = 0;
      if (d < 0) return;
    }
  }

  /** Kernel parameter kinds: {@code head}, then the sizes and each operand's strides as int64. */
  static ArgKind[] params(int operands, ArgKind... head) {
    ArgKind[] all = Arrays.copyOf(head, head.length + KERNEL_DIMS * (1 + operands));
    Arrays.fill(all, head.length, all.length, I64);
    return all;
  }

  /** Launch arguments matching {@link #params}: {@code head}, then sizes and strides as Longs. */
  static Object[] args(long[] sizes, long[][] strides, Object... head) {
    Object[] all = Arrays.copyOf(head, head.length + KERNEL_DIMS * (1 + strides.length));
    int at = head.length;
    for (long s : sizes) all[at++] = s;
    for (long[] operand : strides) for (long s : operand) all[at++] = s;
    return all;
  }
}
