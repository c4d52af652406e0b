"""PyTorch side of the atrous benchmark cases (AtrousCases.java); torch_bench.py's build() hands
ops "atrous_conv2d" and "atrous_multi_rate" here. PyTorch runs F.conv2d with dilation = padding =
rate (ASPP's branches: separate convs, then torch.cat). Inputs are uniform in [-1, 1)."""
import torch
import torch.nn.functional as F


def make(shape, dev):
    return (torch.rand(*shape, device=dev) * 2 - 1).requires_grad_()


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    if op == "atrous_conv2d":
        x, w, b = make(a["x"], dev), make(a["w"], dev), make([a["w"][0]], dev)
        r = a["rate"]
        return (lambda: F.conv2d(x, w, b, 1, r, r)), [x, w, b]
    if op == "atrous_multi_rate":
        c, cout = a["x"][1], a["cout"]
        x = make(a["x"], dev)
        w1 = make([cout, c, 1, 1], dev)
        ws = [make([cout, c, 3, 3], dev) for _ in a["rates"]]

        def fwd():
            ys = [F.conv2d(x, w1)] + [F.conv2d(x, w, None, 1, r, r) for w, r in zip(ws, a["rates"])]
            return torch.cat(ys, 1)
        return fwd, [x, w1] + ws
    raise SystemExit("torch_bench_atrous: unknown op " + op)
