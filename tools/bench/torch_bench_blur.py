"""PyTorch side of the blur_pool benchmark cases (BlurPoolCases.java); torch_bench.py's build()
hands ops "blur_pool" and "max_blur_pool" here. PyTorch has no fused op: this is antialiased-cnns'
composition, F.pad + depthwise F.conv2d with the binomial filter (after F.max_pool2d(2, 1) for
max_blur_pool). Inputs are uniform in [-1, 1), as on the Java side."""
import torch
import torch.nn.functional as F

MODES = {"reflect": "reflect", "replicate": "replicate", "zero": "constant"}


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    if op not in ("blur_pool", "max_blur_pool"):
        raise SystemExit("torch_bench_blur: unknown op " + op)
    x = (torch.rand(*a["x"], device=dev) * 2 - 1).requires_grad_()
    k, stride, c = a["filt_size"], a["stride"], a["x"][1]
    row = torch.tensor([1.0])
    for _ in range(k - 1):
        row = torch.cat([row, torch.zeros(1)]) + torch.cat([torch.zeros(1), row])
    filt = (row[:, None] * row[None, :])
    filt = (filt / filt.sum())[None, None].repeat(c, 1, 1, 1).to(dev)
    pads = [(k - 1) // 2, k // 2] * 2

    def fwd():
        src = F.max_pool2d(x, kernel_size=2, stride=1) if a["max_first"] else x
        return F.conv2d(F.pad(src, pads, mode=MODES[a["pad_type"]]), filt, stride=stride, groups=c)
    return fwd, [x]
