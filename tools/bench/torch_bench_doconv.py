"""PyTorch side of the DO-Conv benchmark cases (DoConvCases.java); torch_bench.py's build() hands
op "do_conv2d" here. The training-time module re-implements yangyanli/DO-Conv's DOConv2d forward
(D + d_diag composed with W by einsum, then conv2d); the folded rows time a plain nn.Conv2d of the
same shape. x is uniform in [-1, 1), as on the Java side."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class DOConv(nn.Module):
    def __init__(self, cin, cout, k, d_mul, padding, groups):
        super().__init__()
        self.cin, self.cout, self.k, self.d_mul, self.padding, self.groups = cin, cout, k, d_mul, padding, groups
        self.W = nn.Parameter(torch.empty(cout, cin // groups, d_mul))
        nn.init.kaiming_uniform_(self.W, a=5 ** 0.5)
        mn = k * k
        self.D = nn.Parameter(torch.zeros(cin, mn, d_mul))
        full = torch.eye(mn).reshape(1, mn, mn).repeat(cin, 1, d_mul // mn)
        self.d_diag = nn.Parameter(torch.cat([full, torch.zeros(cin, mn, d_mul % mn)], 2), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        w = self.W.reshape(self.cout // self.groups, self.cin, self.d_mul)
        kernel = torch.einsum("ims,ois->oim", self.D + self.d_diag, w).reshape(
            self.cout, self.cin // self.groups, self.k, self.k)
        return F.conv2d(x, kernel, self.bias, 1, self.padding, 1, self.groups)


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors) for op "do_conv2d"."""
    if op != "do_conv2d":
        raise SystemExit("torch_bench_doconv: unknown op " + op)
    cin, k, g = a["x"][1], a["kernel"], a["groups"]
    if a["folded"]:
        mod = nn.Conv2d(cin, a["out"], k, padding=a["padding"], groups=g).to(dev)
    else:
        mod = DOConv(cin, a["out"], k, a["d_mul"], a["padding"], g).to(dev)
    x = (torch.rand(*a["x"], device=dev) * 2 - 1).requires_grad_()
    return (lambda: mod(x)), [x] + [p for p in mod.parameters() if p.requires_grad]
