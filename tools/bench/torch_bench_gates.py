"""PyTorch side of the SE/CBAM benchmark cases (AttentionGateCases.java); torch_bench.py's build()
hands ops "squeeze_excite", "cbam", "channel_gate" and "channel_mean_max" here. The modules are
timm's SEModule and CbamModule (defaults, training mode) written out, so timm is not needed;
inputs are uniform in [-1, 1), as on the Java side."""
import torch
import torch.nn as nn


def make(shape, device):
    return (torch.rand(*shape, device=device) * 2 - 1).requires_grad_()


def make_divisible(v, divisor, round_limit=0.):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


class SEModule(nn.Module):
    def __init__(self, channels):
        super().__init__()
        rd = make_divisible(channels / 16, 8)
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))


class CbamModule(nn.Module):
    def __init__(self, channels, kernel_size=7):
        super().__init__()
        rd = make_divisible(channels / 16, 1)
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=False)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        mlp = lambda v: self.fc2(self.act(self.fc1(v)))
        x = x * torch.sigmoid(mlp(x.mean((2, 3), keepdim=True)) + mlp(x.amax((2, 3), keepdim=True)))
        attn = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(attn)))


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    x = make(a["x"], dev)
    if op in ("squeeze_excite", "cbam"):
        m = (SEModule if op == "squeeze_excite" else CbamModule)(a["x"][1]).to(dev).train()
        return (lambda: m(x)), [x] + list(m.parameters())
    if op == "channel_gate":
        g = make(a["x"][:2] + [1, 1], dev)
        return (lambda: x * torch.sigmoid(g)), [x, g]
    if op == "channel_mean_max":
        return (lambda: torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)), [x]
    raise SystemExit("torch_bench_gates: unknown op " + op)
