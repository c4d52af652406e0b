"""PyTorch side of the ASPP benchmark cases (AsppCases.java); torch_bench.py's build() hands op
"aspp" here. Runs torchvision's own ASPP (0.14) in eval or training mode; x is uniform in
[-1, 1), as on the Java side."""
import torch
from torchvision.models.segmentation.deeplabv3 import ASPP


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors) for op "aspp"."""
    if op != "aspp":
        raise SystemExit("torch_bench_aspp: unknown op " + op)
    mod = ASPP(a["x"][1], a["rates"], a["out"]).to(dev)
    mod.train(a["train"])
    x = (torch.rand(*a["x"], device=dev) * 2 - 1).requires_grad_()
    return (lambda: mod(x)), [x] + list(mod.parameters())
