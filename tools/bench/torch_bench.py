"""PyTorch side of plugkit's side-by-side benchmark.

Prints {"torch": version} on one line, then reads one JSON case per stdin line (the Java harness
writes them: id, op, args, mode, device, threads, warmup, repeats) and answers each with one line
{"id": ..., "median_ms": ..., "min_ms": ..., "max_ms": ..., "samples_ms": [...]}. The harness sends a case right after timing its own
side of it, so both sides of a ratio run minutes apart at most, not a whole table apart.
Each op builds the same shapes as the Java case; "fwd" times the forward, "fwdbwd" the forward
plus backward of sum(out * g) with g fixed. Inputs are uniform in [-1, 1).
"""
import importlib
import json
import sys
import time

import torch
import torch.nn.functional as F


def make(shape, device, grad=True):
    return (torch.rand(*shape, device=device) * 2 - 1).requires_grad_(grad)


# Ops whose PyTorch side lives in a module of its own (tools/bench/torch_bench_*.py).
OWN_MODULE = {
    "grid_sample": "torch_bench_grid",
    "deform_conv2d": "torch_bench_dcn",
    "squeeze_excite": "torch_bench_gates",
    "cbam": "torch_bench_gates",
    "channel_gate": "torch_bench_gates",
    "channel_mean_max": "torch_bench_gates",
    "non_local": "torch_bench_nonlocal",
    "do_conv2d": "torch_bench_doconv",
    "atrous_conv2d": "torch_bench_atrous",
    "atrous_multi_rate": "torch_bench_atrous",
    "blur_pool": "torch_bench_blur",
    "max_blur_pool": "torch_bench_blur",
    "aspp": "torch_bench_aspp",
    "asff_fuse": "torch_bench_asff",
    "asff": "torch_bench_asff",
    "pad2d": "torch_bench_pad_interp",
    "interpolate_modes": "torch_bench_pad_interp",
    "overhead": "torch_bench_overhead",
}


def build(op, a, dev):
    """Returns (forward callable, list of leaf tensors)."""
    if op in OWN_MODULE:
        return importlib.import_module(OWN_MODULE[op]).build(op, a, dev)
    if op == "conv2d":
        x, w = make(a["x"], dev), make(a["w"], dev)
        b = make([a["w"][0]], dev)
        return (lambda: F.conv2d(x, w, b, a["stride"], a["padding"], a["dilation"], a["groups"])), [x, w, b]
    if op == "linear":
        x, w, b = make(a["x"], dev), make(a["w"], dev), make([a["w"][0]], dev)
        return (lambda: F.linear(x, w, b)), [x, w, b]
    if op == "matmul":
        x, y = make(a["a"], dev), make(a["b"], dev)
        return (lambda: torch.matmul(x, y)), [x, y]
    if op == "batch_norm":
        x = make(a["x"], dev)
        c = a["x"][1]
        w, b = make([c], dev), make([c], dev)
        rm, rv = torch.zeros(c, device=dev), torch.ones(c, device=dev)
        return (lambda: F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)), [x, w, b]
    if op == "max_pool2d":
        x = make(a["x"], dev)
        return (lambda: F.max_pool2d(x, a["kernel"], a["stride"], a["padding"])), [x]
    if op == "avg_pool2d":
        x = make(a["x"], dev)
        return (lambda: F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"])), [x]
    if op == "global_avg_pool":
        x = make(a["x"], dev)
        return (lambda: F.adaptive_avg_pool2d(x, 1)), [x]
    if op == "interpolate":
        x = make(a["x"], dev)
        return (lambda: F.interpolate(x, size=a["size"], mode=a["mode"],
                                      align_corners=a.get("align_corners"))), [x]
    if op == "softmax":
        x = make(a["x"], dev)
        return (lambda: torch.softmax(x, a["dim"])), [x]
    if op == "add":
        x, y = make(a["a"], dev), make(a["b"], dev)
        return (lambda: x + y), [x, y]
    if op == "relu":
        x = make(a["x"], dev)
        return (lambda: torch.relu(x)), [x]
    if op == "sum":
        x = make(a["x"], dev)
        return (lambda: x.sum(dim=a["dims"], keepdim=True)), [x]
    if op == "cross_entropy":
        x = make(a["x"], dev)
        t = torch.randint(0, a["x"][1], (a["x"][0],), device=dev)
        return (lambda: F.cross_entropy(x, t)), [x]
    raise SystemExit("torch_bench: unknown op " + op)


def timed(fn, device, warmup, repeats):
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    # The Java side's warm-up rule: at least `warmup` runs and two seconds, at most 2000 runs.
    start, runs = time.perf_counter(), 0
    while runs < warmup or (time.perf_counter() - start < 2.0 and runs < 2000):
        fn()
        runs += 1
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"median_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1], "samples_ms": times}


def time_case(c):
    torch.set_num_threads(c["threads"])
    dev = c["device"]
    fwd, leaves = build(c["op"], c["args"], dev)
    if c["mode"] == "fwd":
        def step():
            with torch.no_grad():
                fwd()
    else:
        g = torch.rand_like(fwd())

        def step():
            for leaf in leaves:
                leaf.grad = None
            fwd().backward(g)
    return timed(step, dev, c["warmup"], c["repeats"])


def main():
    print(json.dumps({"torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip():
            c = json.loads(line)
            print(json.dumps(dict(id=c["id"], **time_case(c))), flush=True)


if __name__ == "__main__":
    main()
