package io.plugkit.nn;

import io.plugkit.Device;
import io.plugkit.Tensor;

/**
 * torch.nn.Linear: {@code weight [out, in]}, {@code bias [out]} (optional), PyTorch's default
 * initialisation. Input [*, in], output [*, out] = x weight^T + bias.
 */
public final class Linear extends Module {
  private final Parameter weight;
  private final Parameter bias;

  public Linear(int in, int out) { this(in, out, true, Device.best()); }

  public Linear(int in, int out, boolean bias, Device device) {
    if (in <= 0 || out <= 0) throw new IllegalArgumentException("in, out: expected > 0 but got " + in + ", " + out);
    Init.checkSize("in, out", "weight [out, in]", out, in);
    this.weight = registerParameter("weight", Init.fanInUniform(device, in, out, in));
    this.bias = bias ? registerParameter("bias", Init.fanInUniform(device, in, out)) : null;
  }

  public Parameter weight() { return weight; }

  public Parameter bias() { return bias; }

  @Override public Tensor forward(Tensor x) {
    return io.plugkit.ops.Linear.linear(x, weight.tensor(), bias == null ? null : bias.tensor());
  }
}
