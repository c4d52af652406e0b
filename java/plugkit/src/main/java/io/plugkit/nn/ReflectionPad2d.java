package io.plugkit.nn;

import io.plugkit.ops.Padding;

/**
 * torch.nn.ReflectionPad2d(padding): mirrors the input about its edge values, edges not repeated
 * ({@code F.pad(x, padding, 'reflect')}). {@code padding} is one int for all sides or (left,
 * right, top, bottom), each below the size of its dim (negative pads crop). Input [N, C, H, W]
 * (N may be 0) or [C, H, W] with C, H, W > 0 -> [..., H + top + bottom, W + left + right]. See
 * {@link Padding#pad2d} for the rules, checked in forward.
 */
public final class ReflectionPad2d extends Pad2d {
  public ReflectionPad2d(int padding) { super(padding, Padding.Mode.REFLECT); }

  public ReflectionPad2d(int[] padding) { super(padding, Padding.Mode.REFLECT); }
}
