"""PyTorch side of the non-local benchmark cases (NonLocalCases.java); torch_bench.py's build()
hands op "non_local" here. The block is AlexHex7/Non-local_pytorch's NONLocalBlock2D with the
embedded Gaussian pairwise function (its defaults: inter = C/2, sub-sampling, BN after W),
re-implemented below, in training mode. x is uniform in [-1, 1), as on the Java side; the
parameters keep PyTorch's initialisation (Java uses the same scheme)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class NonLocalBlock2D(nn.Module):
    def __init__(self, in_channels, sub_sample=True, bn_layer=True):
        super().__init__()
        self.inter_channels = max(1, in_channels // 2)
        inter = self.inter_channels
        self.g = nn.Conv2d(in_channels, inter, 1)
        if bn_layer:
            self.W = nn.Sequential(nn.Conv2d(inter, in_channels, 1), nn.BatchNorm2d(in_channels))
            nn.init.constant_(self.W[1].weight, 0)
            nn.init.constant_(self.W[1].bias, 0)
        else:
            self.W = nn.Conv2d(inter, in_channels, 1)
            nn.init.constant_(self.W.weight, 0)
            nn.init.constant_(self.W.bias, 0)
        self.theta = nn.Conv2d(in_channels, inter, 1)
        self.phi = nn.Conv2d(in_channels, inter, 1)
        if sub_sample:
            self.g = nn.Sequential(self.g, nn.MaxPool2d(2))
            self.phi = nn.Sequential(self.phi, nn.MaxPool2d(2))

    def forward(self, x):
        b = x.size(0)
        g_x = self.g(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter_channels, -1).permute(0, 2, 1)
        phi_x = self.phi(x).view(b, self.inter_channels, -1)
        f = F.softmax(torch.matmul(theta_x, phi_x), dim=-1)
        y = torch.matmul(f, g_x).permute(0, 2, 1).contiguous().view(b, self.inter_channels, *x.size()[2:])
        return self.W(y) + x


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors) for op "non_local"."""
    if op != "non_local" or a["mode"] != "embedded_gaussian":
        raise SystemExit("torch_bench_nonlocal: unknown op " + op + " " + str(a.get("mode")))
    block = NonLocalBlock2D(a["x"][1], a["sub_sample"], a["bn_layer"]).to(dev).train()
    x = (torch.rand(*a["x"], device=dev) * 2 - 1).requires_grad_()
    return (lambda: block(x)), [x] + list(block.parameters())
