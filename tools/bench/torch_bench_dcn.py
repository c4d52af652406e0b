"""deform_conv2d handler for tools/bench/torch_bench.py (cases from DeformConvCases.java).

build(op, a, dev) returns (forward callable, leaves) for op "deform_conv2d", else None.
Args: x, w, offset, mask (optional) shapes; stride, padding, dilation. Bias [w[0]] is always on.
Inputs are uniform in [-1, 1), as on the Java side.
"""
import torch
from torchvision.ops import deform_conv2d


def _make(shape, device):
    return (torch.rand(*shape, device=device) * 2 - 1).requires_grad_()


def build(op, a, dev):
    if op != "deform_conv2d":
        return None
    x, w, offset = _make(a["x"], dev), _make(a["w"], dev), _make(a["offset"], dev)
    b = _make([a["w"][0]], dev)
    mask = _make(a["mask"], dev) if "mask" in a else None
    leaves = [x, offset, w, b] + ([mask] if mask is not None else [])
    return (lambda: deform_conv2d(x, offset, w, b, a["stride"], a["padding"], a["dilation"], mask)), leaves
