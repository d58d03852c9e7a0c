#!/usr/bin/env python3
"""Distributed training's rows, in one run: the MLP and LeNet of axon-bench for one epoch of Fashion-MNIST at batch 64
per rank, as
  - Axon, 2 ranks x 1 thread (mpirun -np 2 axon-bench --distributed, built with --traits MPI),
  - Axon, 1 process x 2 threads, and 1 process x 1 thread (batch 64),
  - PyTorch DDP on gloo, 2 processes x 1 thread (torchrun --nproc_per_node 2 bench/torch_ddp.py).
Each figure is the median of --repeats runs, alternating the four. Samples per second over every rank.

Usage: python3 bench/distributed.py [--repeats 3] [--python PATH] [--json OUT]
Needs Open MPI (openmpi-bin, libopenmpi-dev) and PyTorch's reference environment (../shared/bench/setup_reference.sh)."""
import argparse, json, os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--python", default=os.path.expanduser("~/.axon-reference/bin/python"))
p.add_argument("--json")
a = p.parse_args()

def cpu():
    info = dict(l.split(":", 1) for l in open("/proc/cpuinfo").read().split("\n\n")[0].splitlines() if ":" in l)
    info = {k.strip(): v.strip() for k, v in info.items()}
    return f"{info.get('model name', 'unknown')}, family {info.get('cpu family', 'unknown')}, {os.cpu_count()} logical CPUs"

scratch = os.path.join(root, ".build", "mpi")
subprocess.run(["swift", "build", "-c", "release", "--traits", "MPI", "--scratch-path", scratch, "--product", "axon-bench"],
               cwd=root, check=True, stdout=subprocess.DEVNULL)
bench = os.path.join(scratch, "release", "axon-bench")
mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
torchrun = [os.path.join(os.path.dirname(a.python), "torchrun"), "--nproc_per_node", "2", "--master_port", "29517"]

def last_json(command, env=None):
    out = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True, env=env)
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])["train_samples_per_second"]

def configurations(workload):
    one = dict(os.environ, OMP_NUM_THREADS="1")
    return [
        ("Axon, 2 ranks x 1 thread", mpirun + ["-np", "2", bench, "--workload", workload, "--threads", "1", "--train-only", "--distributed"], None),
        ("Axon, 1 process x 2 threads", [bench, "--workload", workload, "--threads", "2", "--train-only"], None),
        ("Axon, 1 process x 1 thread", [bench, "--workload", workload, "--threads", "1", "--train-only"], None),
        ("PyTorch DDP gloo, 2 x 1 thread", torchrun + [os.path.join(here, "torch_ddp.py"), workload], one),
    ]

def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

print(f"CPU: {cpu()}")
rows = []
for workload in ["mlp", "lenet"]:
    runs = {name: [] for name, _, _ in configurations(workload)}
    for _ in range(a.repeats):
        for name, command, env in configurations(workload):
            runs[name].append(last_json(command, env))
    figures = {name: median(v) for name, v in runs.items()}
    ranks, one, torch = figures["Axon, 2 ranks x 1 thread"], figures["Axon, 1 process x 1 thread"], figures["PyTorch DDP gloo, 2 x 1 thread"]
    print(f"\n{workload} train, batch 64 per rank, 1 epoch of Fashion-MNIST (samples/s, median of {a.repeats})")
    for name, value in figures.items():
        print(f"  {name:34s} {value:10.0f}")
        rows.append({"workload": workload, "configuration": name, "samples_per_second": value, "runs": runs[name]})
    print(f"  2 ranks / 1 rank: {ranks / one:.2f}x   Axon 2 ranks / PyTorch DDP: {ranks / torch:.2f}x")
if a.json:
    json.dump({"cpu": cpu(), "rows": rows}, open(a.json, "w"), indent=1)
