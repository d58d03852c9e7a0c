#!/usr/bin/env python3
"""Runs Axon's benchmark and the same workloads in PyTorch (and numpy for GEMM) in one command, and prints
Axon, PyTorch and Axon/PyTorch per row (for RSS, PyTorch/Axon: higher is better everywhere).

Usage: python3 bench/compare.py [--quick] [--threads 1,2] [--python PATH] [--json OUT]
PyTorch comes from the reference environment (../shared/bench/setup_reference.sh installs it in
~/.axon-reference); the machine is shared and noisy, so compare ratios from one run."""
import argparse, json, os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true")
p.add_argument("--threads", default="1,2")
p.add_argument("--python", default=os.path.expanduser("~/.axon-reference/bin/python"))
p.add_argument("--json")
a = p.parse_args()
subprocess.run(["swift", "build", "-c", "release", "--product", "axon-bench"], cwd=root, check=True, stdout=subprocess.DEVNULL)
bench = os.path.join(root, ".build", "release", "axon-bench")
table = []
for t in [int(x) for x in a.threads.split(",")]:
    env = dict(os.environ, AXON_NUM_THREADS=str(t))
    axon_json = os.path.join(root, ".build", f"axon-bench-{t}.json")
    subprocess.run([bench, "--threads", str(t), "--json", axon_json] + (["--quick"] if a.quick else []), check=True,
                   stdout=subprocess.DEVNULL, env=env)
    axon = {r["name"]: r["value"] for r in json.load(open(axon_json))}
    torch_out = subprocess.run([a.python, os.path.join(here, "torch_bench.py"), "--threads", str(t)] + (["--quick"] if a.quick else []),
                               check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(t)))
    torch_rows = json.loads(torch_out.stdout.strip().splitlines()[-1])
    np_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    np_out = subprocess.run([a.python, os.path.join(here, "numpy_gemm.py"), str(t)], capture_output=True, text=True, env=np_env)
    numpy = {r["name"]: r for r in json.loads(np_out.stdout)} if np_out.returncode == 0 else {}
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
