"""PyTorch side of the pad2d and interpolate benchmark cases (PaddingCases.java,
InterpolateCases.java); torch_bench.py's build() hands ops "pad2d" and "interpolate_modes" here:
F.pad with a 4-value pad, F.interpolate by size. Inputs are uniform in [-1, 1), as on the Java side."""
import torch
import torch.nn.functional as F


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    x = (torch.rand(*a["x"], device=dev) * 2 - 1).requires_grad_()
    if op == "pad2d":
        pad, mode = tuple(a["pad"]), a["mode"]
        return (lambda: F.pad(x, pad, mode=mode)), [x]
    if op == "interpolate_modes":
        size, mode, ac = tuple(a["size"]), a["mode"], a["align_corners"]
        return (lambda: F.interpolate(x, size=size, mode=mode, align_corners=ac)), [x]
    raise SystemExit("torch_bench_pad_interp: unknown op " + op)
