"""PyTorch side of the ASFF benchmark cases (AsffCases.java); torch_bench.py's build() hands ops
"asff_fuse" and "asff" here. asff_fuse: F.softmax over the logits then the reference's weighted
sum; asff: GOATmessi7/ASFF's ASFF block (the module of tools/fixtures/fx_asff.py) in training mode.
Inputs are uniform in [-1, 1), as on the Java side."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))


def rand(shape, dev):
    return (torch.rand(*shape, device=dev) * 2 - 1).requires_grad_()


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    if op == "asff_fuse":
        logits = rand(a["logits"], dev)
        fs = [rand(a["f"], dev) for _ in range(3)]

        def fuse():
            w = F.softmax(logits, dim=1)
            return fs[0] * w[:, 0:1] + fs[1] * w[:, 1:2] + fs[2] * w[:, 2:]
        return fuse, [logits] + fs
    if op == "asff":
        from fx_asff import ASFF
        mod = ASFF(a["level"], a["dims"]).to(dev)
        n, s, dims = a["batch"], a["size"], a["dims"]
        xs = [rand([n, dims[k], s << k, s << k], dev) for k in range(3)]
        return (lambda: mod(*xs)), list(mod.parameters()) + xs
    raise SystemExit("torch_bench_asff: unknown op " + op)
