#!/usr/bin/env python3
"""Runs Axon's benchmark and the same workloads in PyTorch (and numpy for GEMM) in one command, and prints
Axon, PyTorch and Axon/PyTorch per row (for RSS, PyTorch/Axon: higher is better everywhere).

Usage: python3 bench/compare.py [--quick] [--threads 1,2] [--repeats 3] [--python PATH] [--json OUT]
PyTorch comes from the reference environment (../shared/bench/setup_reference.sh installs it in
~/.axon-reference). The machine is shared and noisy: each side runs --repeats times, alternating Axon and
PyTorch so that both see the same conditions, and every figure is the median of its runs."""
import argparse, json, os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true")
p.add_argument("--threads", default="1,2")
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--python", default=os.path.expanduser("~/.axon-reference/bin/python"))
p.add_argument("--json")
a = p.parse_args()
subprocess.run(["swift", "build", "-c", "release", "--product", "axon-bench"], cwd=root, check=True, stdout=subprocess.DEVNULL)
bench = os.path.join(root, ".build", "release", "axon-bench")
table = []
def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

for t in [int(x) for x in a.threads.split(",")]:
    env = dict(os.environ, AXON_NUM_THREADS=str(t))
    axon_json = os.path.join(root, ".build", f"axon-bench-{t}.json")
    axon_runs, torch_runs, numpy_runs = {}, {}, {}
    units, order = {}, []
    for _ in range(a.repeats):
        subprocess.run([bench, "--threads", str(t), "--json", axon_json] + (["--quick"] if a.quick else []), check=True,
                       stdout=subprocess.DEVNULL, env=env)
        for r in json.load(open(axon_json)):
            axon_runs.setdefault(r["name"], []).append(r["value"])
        torch_out = subprocess.run([a.python, os.path.join(here, "torch_bench.py"), "--threads", str(t)] + (["--quick"] if a.quick else []),
                                   check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(t)))
        for r in json.loads(torch_out.stdout.strip().splitlines()[-1]):
            if r["name"] not in units: order.append(r["name"])
            units[r["name"]] = r["unit"]
            torch_runs.setdefault(r["name"], []).append(r["value"])
        np_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        np_out = subprocess.run([a.python, os.path.join(here, "numpy_gemm.py"), str(t)], capture_output=True, text=True, env=np_env)
        if np_out.returncode == 0:
            for r in json.loads(np_out.stdout):
                numpy_runs.setdefault(r["name"], []).append(r)
    axon = {k: median(v) for k, v in axon_runs.items()}
    numpy = {k: {"value": median([r["value"] for r in v]), "kernel": v[0]["kernel"]} for k, v in numpy_runs.items()}
    torch_rows = [{"name": k, "unit": units[k], "value": median(torch_runs[k])} for k in order]
    for r in torch_rows:
        name, unit, ref = r["name"], r["unit"], r["value"]
        if name not in axon: continue
        ratio = ref / axon[name] if unit == "MiB" else axon[name] / ref
        row = {"threads": t, "name": name, "unit": unit, "axon": axon[name], "pytorch": ref, "ratio": ratio}
        if name in numpy:
            row["numpy"] = numpy[name]["value"]; row["numpy_kernel"] = numpy[name]["kernel"]
        table.append(row)
    for name in ("mlp data loader alone", "lenet data loader alone"):
        if name in axon: table.append({"threads": t, "name": name, "unit": "samples/s", "axon": axon[name]})
print(f"{'workload':40} {'thr':>3} {'Axon':>12} {'PyTorch':>12} {'ratio':>7}  {'numpy':>8}  unit")
for r in table:
    torch_v = f"{r['pytorch']:12.1f}" if "pytorch" in r else " " * 12
    ratio = f"{r['ratio']:7.2f}" if "ratio" in r else " " * 7
    np_v = f"{r['numpy']:8.1f}" if "numpy" in r else " " * 8
    print(f"{r['name']:40} {r['threads']:3d} {r['axon']:12.1f} {torch_v} {ratio}  {np_v}  {r['unit']}")
print("ratio: Axon/PyTorch for speed, PyTorch/Axon for peak RSS (higher is better for Axon everywhere)")
if a.json:
    json.dump(table, open(a.json, "w"), indent=1)
