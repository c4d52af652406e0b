package io.plugkit.nn;

/**
 * torch.nn.ZeroPad2d(padding): {@link ConstantPad2d} with value 0 (a subclass of it, as in
 * PyTorch). {@code padding} is one int for all sides or (left, right, top, bottom); negative pads
 * crop. Input of any rank >= 2: [..., H, W] -> [..., H + top + bottom, W + left + right].
 */
public final class ZeroPad2d extends ConstantPad2d {
  public ZeroPad2d(int padding) { super(padding, 0f); }

  public ZeroPad2d(int[] padding) { super(padding, 0f); }
}
