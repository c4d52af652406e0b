package io.plugkit.nn;

import io.plugkit.ops.Padding;

/**
 * torch.nn.ReplicationPad2d(padding): repeats the edge values ({@code F.pad(x, padding,
 * 'replicate')}). {@code padding} is one int for all sides or (left, right, top, bottom), any
 * size (negative pads crop). Input [N, C, H, W] (N may be 0) or [C, H, W] with C, H, W > 0 ->
 * [..., H + top + bottom, W + left + right]. See {@link Padding#pad2d} for the rules.
 */
public final class ReplicationPad2d extends Pad2d {
  public ReplicationPad2d(int padding) { super(padding, Padding.Mode.REPLICATE); }

  public ReplicationPad2d(int[] padding) { super(padding, Padding.Mode.REPLICATE); }
}
