package io.plugkit.autograd;

import io.plugkit.Tensor;

/**
 * The backward of one op: given the gradient of its output, the gradients of its inputs, in the
 * order they were recorded, each of the input's shape (null for an input that needs none).
 */
@FunctionalInterface
public interface BackwardFn {
  Tensor[] apply(Tensor gradOutput);
}
