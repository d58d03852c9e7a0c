#!/usr/bin/env python3
"""Runs Axon's benchmark and the same workloads in PyTorch (and numpy for GEMM) in one command, and prints
Axon, PyTorch and Axon/PyTorch per row (for RSS, PyTorch/Axon: higher is better everywhere), and, for GEMM and
training rows, each side's share of the machine's float32 FMA peak measured by axon-bench at that thread count
(the FLOPs per sample or token are counted by axon-bench from the model; PyTorch runs the same model).

Usage: python3 bench/compare.py [--quick] [--threads 1,2] [--repeats 3] [--python PATH] [--json OUT]
PyTorch comes from the reference environment (../shared/bench/setup_reference.sh installs it in
~/.axon-reference). The machine is shared and noisy: each side runs --repeats times, alternating Axon and
PyTorch so that both see the same conditions, and every figure is the median of its runs. The thread counts take
turns within each repeat, and each training and inference row's scaling from the fewest threads to the others is
printed as the median of the ratios of runs in the same repeat (paired, minutes apart at most). The MLP's, LeNet's and
the Playground net's scaling is also measured within one process (`axon-bench --scaling`, `torch_bench.py --scaling`): blocks of steps
alternate between 1 thread and the most, back to back, and Axon's rounds are also given by the state of the
machine probed before each (see `pairedScaling` in axon-bench)."""
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

def cpu():
    """The CPU's model name, family, model number and widest vector instructions, from /proc/cpuinfo (Linux) or
    sysctl (macOS)."""
    try:
        info = dict(l.split(":", 1) for l in open("/proc/cpuinfo").read().split("\n\n")[0].splitlines() if ":" in l)
        info = {k.strip(): v.strip() for k, v in info.items()}
        flags = info.get("flags", "").split()
        vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags and "fma" in flags else "no AVX2"
        return f"{info.get('model name', 'unknown')}, family {info.get('cpu family', 'unknown')}, model {info.get('model', 'unknown')}, {vectors}"
    except OSError:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
subprocess.run(["swift", "build", "-c", "release", "--product", "axon-bench"], cwd=root, check=True, stdout=subprocess.DEVNULL)
bench = os.path.join(root, ".build", "release", "axon-bench")
table = []
def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

threads = [int(x) for x in a.threads.split(",")]
# Per thread count: each run's rows (name -> values), PyTorch's in its order, numpy's, and the FLOPs per unit.
axon_runs = {t: {} for t in threads}
torch_runs = {t: {} for t in threads}
numpy_runs = {t: {} for t in threads}
flops, units, order = {}, {}, []
# The thread counts take turns within each repeat (2, 1, then 1, 2, ...), so that a workload's rows at each count come
# from runs minutes apart at most, under the same conditions: the scaling from one count to another is the median of
# the ratios within a repeat, not of rows measured a whole pass apart.
for repeat in range(a.repeats):
    for t in (threads if repeat % 2 == 0 else threads[::-1]):
        env = dict(os.environ, AXON_NUM_THREADS=str(t))
        axon_json = os.path.join(root, ".build", f"axon-bench-{t}.json")
        subprocess.run([bench, "--threads", str(t), "--json", axon_json] + (["--quick"] if a.quick else []), check=True,
                       stdout=subprocess.DEVNULL, env=env)
        for r in json.load(open(axon_json)):
            axon_runs[t].setdefault(r["name"], []).append(r["value"])
            if r.get("flops_per_unit"): flops[r["name"]] = r["flops_per_unit"]
        torch_out = subprocess.run([a.python, os.path.join(here, "torch_bench.py"), "--threads", str(t)] + (["--quick"] if a.quick else []),
                                   check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(t)))
        for r in json.loads(torch_out.stdout.strip().splitlines()[-1]):
            if r["name"] not in units: order.append(r["name"])
            units[r["name"]] = r["unit"]
            torch_runs[t].setdefault(r["name"], []).append(r["value"])
        np_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        np_out = subprocess.run([a.python, os.path.join(here, "numpy_gemm.py"), str(t)], capture_output=True, text=True, env=np_env)
        if np_out.returncode == 0:
            for r in json.loads(np_out.stdout):
                numpy_runs[t].setdefault(r["name"], []).append(r)

for t in threads:
    axon = {k: median(v) for k, v in axon_runs[t].items()}
    numpy = {k: {"value": median([r["value"] for r in v]), "kernel": v[0]["kernel"]} for k, v in numpy_runs[t].items()}
    torch_rows = [{"name": k, "unit": units[k], "value": median(torch_runs[t][k])} for k in order if k in torch_runs[t]]
    peak = axon.get("fma peak")
    def share(name, value):  # percentage of the measured peak at this thread count
        return 100 * value * flops[name] / 1e9 / peak if peak and name in flops else None
    if peak: table.append({"threads": t, "name": "fma peak", "unit": "GFLOP/s", "axon": peak, "axon_peak_pct": 100.0})
    for r in torch_rows:
        name, unit, ref = r["name"], r["unit"], r["value"]
        if name not in axon: continue
        ratio = ref / axon[name] if unit == "MiB" else axon[name] / ref
        row = {"threads": t, "name": name, "unit": unit, "axon": axon[name], "pytorch": ref, "ratio": ratio}
        if share(name, axon[name]) is not None:
            row["axon_peak_pct"] = share(name, axon[name]); row["pytorch_peak_pct"] = share(name, ref)
        if name in numpy:
            row["numpy"] = numpy[name]["value"]; row["numpy_kernel"] = numpy[name]["kernel"]
        table.append(row)
    for name in ("mlp data loader alone", "lenet data loader alone"):
        if name in axon: table.append({"threads": t, "name": name, "unit": "samples/s", "axon": axon[name]})
    for when in ("before", "after"):  # the machine's state for the multi-thread rows (axon-bench: each run's own)
        name = f"cross-core round trip ({when} training)"
        if name in axon_runs[t]:
            table.append({"threads": t, "name": name, "unit": "ns", "axon": axon[name], "runs": axon_runs[t][name]})

# Scaling of each training and inference row from the fewest threads to each other count: the median over the repeats
# of the ratio of the two runs within one repeat (paired), for Axon and for PyTorch.
def paired(runs, name, t0, t):
    pairs = [y / x for x, y in zip(runs[t0].get(name, []), runs[t].get(name, [])) if x]
    return (median(pairs), pairs) if pairs else (None, [])
scaling = []
t0 = min(threads)
for t in sorted(set(threads) - {t0}):
    for name in order:
        if units.get(name) not in ("samples/s", "steps/s", "tokens/s"): continue  # training and inference rows
        axon_s, axon_pairs = paired(axon_runs, name, t0, t)
        torch_s, _ = paired(torch_runs, name, t0, t)
        if axon_s is None: continue
        scaling.append({"name": f"{name}: {t0} -> {t} threads", "threads": t, "axon": axon_s, "pytorch": torch_s,
                        "runs": axon_pairs, "unit": "x"})

# The MLP's, LeNet's and the Playground net's scaling within one process, Axon then PyTorch, from 1 thread to the most.
in_process = []
many = max(threads)
if many > 1:
    for workload in ("mlp", "lenet", "playground"):
        flags = ["--workload", workload, "--threads", str(many), "--scaling"] + (["--quick"] if a.quick else [])
        ax = json.loads(subprocess.run([bench] + flags, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        th = json.loads(subprocess.run([a.python, os.path.join(here, "torch_bench.py")] + flags, check=True, capture_output=True,
                                       text=True, env=dict(os.environ, OMP_NUM_THREADS=str(many))).stdout.strip().splitlines()[-1])
        states = sorted(k[len("scaling_"):-len("_median")] for k in ax if k.endswith("_median") and k != "scaling_median")
        in_process.append({"name": f"{workload} train, in one process: 1 -> {many} threads", "threads": many, "unit": "x",
                           "axon": ax["scaling_median"], "pytorch": th["scaling_median"], "rounds": int(ax["scaling_rounds"]),
                           "states": {s: {"median": ax[f"scaling_{s}_median"], "rounds": int(ax[f"scaling_{s}_rounds"])}
                                      for s in states}})

print(f"CPU: {cpu()}")
print(f"{'workload':48} {'thr':>3} {'Axon':>12} {'PyTorch':>12} {'ratio':>7}  {'numpy':>8}  {'Axon %pk':>8} {'Torch %pk':>9}  unit")
for r in table:
    torch_v = f"{r['pytorch']:12.1f}" if "pytorch" in r else " " * 12
    ratio = f"{r['ratio']:7.2f}" if "ratio" in r else " " * 7
    np_v = f"{r['numpy']:8.1f}" if "numpy" in r else " " * 8
    ap = f"{r['axon_peak_pct']:7.1f}%" if "axon_peak_pct" in r else " " * 8
    tp = f"{r['pytorch_peak_pct']:8.1f}%" if "pytorch_peak_pct" in r else " " * 9
    runs = f" (runs: {', '.join(f'{v:.0f}' for v in r['runs'])})" if "runs" in r else ""
    print(f"{r['name']:48} {r['threads']:3d} {r['axon']:12.1f} {torch_v} {ratio}  {np_v}  {ap} {tp}  {r['unit']}{runs}")
if scaling:
    print(f"\n{'scaling (paired runs, median)':64} {'Axon':>6} {'PyTorch':>8}  Axon's ratio in each repeat")
    for r in scaling:
        torch_v = f"{r['pytorch']:8.2f}" if r["pytorch"] is not None else " " * 8
        print(f"{r['name']:64} {r['axon']:6.2f} {torch_v}  {', '.join(f'{v:.2f}' for v in r['runs'])}")
if in_process:
    print(f"\n{'scaling (one process, blocks alternating, median of rounds)':64} {'Axon':>6} {'PyTorch':>8}  Axon by machine state")
    for r in in_process:
        states = ", ".join(f"{k} {v['median']:.2f} ({v['rounds']})" for k, v in r["states"].items())
        print(f"{r['name']:64} {r['axon']:6.2f} {r['pytorch']:8.2f}  {states}")
print("ratio: Axon/PyTorch for speed, PyTorch/Axon for peak RSS (higher is better for Axon everywhere)")
print("%pk: share of the float32 FMA peak ('fma peak', a register-only loop at that thread count); training rows")
print("     count 2 FLOPs per multiply-add of each Linear and Conv2d forward and backward, per sample or token")
print("cross-core round trip: a value passed between two threads through one cache line (median; 'runs': each run's),")
print("     measured by each axon-bench run before and after its training rows; the multi-thread rows slow down when it is high")
if in_process:
    print("machine state (probed before each in-process round): shared_core when 2 threads run the FMA loop under 1.4x as")
    print("     fast as 1 (both virtual CPUs on one core), far when the round trip is over 250 ns, near otherwise; (rounds)")
if a.json:
    json.dump(table + [dict(r, scaling=True) for r in scaling + in_process], open(a.json, "w"), indent=1)
