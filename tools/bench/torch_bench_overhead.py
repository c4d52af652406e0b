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


def main():
    """`python3 torch_bench_overhead.py [threads] [calls] [rounds]`: ns per call of torch.relu and
    torch.add on a 1-element CPU tensor under no_grad, the median over rounds (the counterpart of
    the Java io.plugkit.OverheadBench's op lines; tools/bench/overhead.sh runs both)."""
    import sys
    import time
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 9
    torch.set_num_threads(threads)
    x, one = torch.rand(1) * 2 - 1, torch.ones(1)
    relu, add = torch.relu, torch.add
    res = {"relu": [], "add": []}
    with torch.no_grad():
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(calls):
                relu(x)
            t1 = time.perf_counter()
            for _ in range(calls):
                add(x, one)
            t2 = time.perf_counter()
            res["relu"].append((t1 - t0) / calls * 1e9)
            res["add"].append((t2 - t1) / calls * 1e9)
    for op in ("relu", "add"):
        v = sorted(res[op])
        print("torch %s %s, 1 element, no_grad, %d threads: median %.1f ns, min %.1f ns per call"
              % (torch.__version__, op, threads, v[len(v) // 2], v[0]))


if __name__ == "__main__":
    main()
