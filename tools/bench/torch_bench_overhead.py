"""PyTorch side of the host-overhead cases (OverheadCases.java); torch_bench.py's build() hands op
"overhead" here: `calls` chained eager calls of relu, add or mul (second operand 1) on a
`numel`-element tensor, so a run's time in ms is the time per call in us."""
import torch


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    if op != "overhead":
        raise SystemExit("torch_bench_overhead: unknown op " + op)
    x = (torch.rand(a["numel"], device=dev) * 2 - 1).requires_grad_()
    one = torch.ones(a["numel"], device=dev)
    calls = a["calls"]
    relu, add, mul = torch.relu, torch.add, torch.mul

    # One loop per op, with no Python call between the calls, as a model's forward would run.
    def fwd_relu():
        y = x
        for _ in range(calls):
            y = relu(y)
        return y

    def fwd_add():
        y = x
        for _ in range(calls):
            y = add(y, one)
        return y

    def fwd_mul():
        y = x
        for _ in range(calls):
            y = mul(y, one)
        return y
    return {"relu": fwd_relu, "add": fwd_add, "mul": fwd_mul}[a["op"]], [x]
