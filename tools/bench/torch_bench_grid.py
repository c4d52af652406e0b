"""PyTorch side of the grid_sample benchmark cases (GridSampleCases.java); torch_bench.py's build()
hands op "grid_sample" here. Inputs and grid are uniform in [-1, 1), as on the Java side."""
import torch
import torch.nn.functional as F


def make(shape, device):
    return (torch.rand(*shape, device=device) * 2 - 1).requires_grad_()


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors) for op "grid_sample"."""
    if op != "grid_sample":
        raise SystemExit("torch_bench_grid: unknown op " + op)
    x, grid = make(a["x"], dev), make(a["grid"], dev)
    return (lambda: F.grid_sample(x, grid, mode=a["mode"], padding_mode=a["padding_mode"],
                                  align_corners=a["align_corners"])), [x, grid]
