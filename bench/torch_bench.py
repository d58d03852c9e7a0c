"""The PyTorch (and numpy) side of Axon's benchmark: the same workloads as `axon-bench`, printed as JSON rows.
Usage: python torch_bench.py --threads N [--quick] [--workload NAME [--scaling]]  (run by compare.py)."""
import argparse, gzip, json, os, resource, subprocess, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, required=True)
p.add_argument("--quick", action="store_true")
p.add_argument("--workload")
p.add_argument("--scaling", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
D = "/usr/share/datasets/fashion-mnist/"

def median_time(fn, reps, rounds=5):
    fn()
    ts = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps): fn()
        ts.append((time.perf_counter() - t) / reps)
    return sorted(ts)[rounds // 2]

def paired_scaling(step, steps):
    """As axon-bench --scaling: rounds of a block of steps on 1 thread and one on N (1 first in even rounds), each
    block after one untimed step; the round's ratio is the 1-thread block's time over the other's."""
    ratios = []
    for r in range(7 if a.quick else 31):
        seconds = {}
        for n in ([1, a.threads] if r % 2 == 0 else [a.threads, 1]):
            torch.set_num_threads(n)
            step()
            t = time.perf_counter()
            for _ in range(steps): step()
            seconds[n] = time.perf_counter() - t
        ratios.append(seconds[1] / seconds[a.threads])
    ratios.sort()
    return dict(scaling_median=ratios[len(ratios) // 2], scaling_lowest=ratios[0], scaling_highest=ratios[-1],
                scaling_rounds=len(ratios))

def idx(name):
    b = gzip.open(D + name).read()
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)

if a.workload:  # one training workload in its own process, for its own peak RSS
    out = {}
    if a.workload in ("lstm-lm", "transformer-lm"):
        # Character language models on random tokens (vocabulary 96), batch 32, context 64, Adam: tokens per second.
        v, b, t = 96, 32, 64
        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                if a.workload == "lstm-lm":
                    self.embedding = nn.Embedding(v, 64); self.lstm = nn.LSTM(64, 256, 2, batch_first=True); self.head = nn.Linear(256, v)
                else:
                    self.embedding = nn.Embedding(v, 128); self.position = nn.Embedding(t, 128)
                    layer = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
                    self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
                    self.norm = nn.LayerNorm(128); self.head = nn.Linear(128, v)
                    self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(t))
            def forward(self, x):
                if a.workload == "lstm-lm":
                    return self.head(self.lstm(self.embedding(x))[0])
                h = self.embedding(x) + self.position(torch.arange(x.shape[1]))
                return self.head(self.norm(self.encoder(h, mask=self.mask, is_causal=True)))
        net = LM()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, v, (b, t), generator=g); y = torch.randint(0, v, (b, t), generator=g)
        def step():
            opt.zero_grad(); F.cross_entropy(net(x).reshape(-1, v), y.reshape(-1)).backward(); opt.step()
        out["tokens_per_second"] = b * t / median_time(step, 1 if a.quick else 4, rounds=3)
    elif a.workload == "playground":
        x = torch.rand(10, 2) * 12 - 6; y = torch.rand(10, 1) * 2 - 1
        net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = torch.optim.SGD(net.parameters(), lr=0.03)
        def step():
            opt.zero_grad(); F.mse_loss(net(x), y).backward(); opt.step()
        if a.scaling and a.threads > 1:
            # Blocks of 100 steps: PyTorch's step takes about 20 times Axon's, so its blocks last about as long.
            out.update(paired_scaling(step, 50 if a.quick else 100))
            print(json.dumps(out))
            sys.exit(0)
        out["steps_per_second"] = 1 / median_time(step, 100 if a.quick else 500, rounds=15)  # as axon-bench
    else:
        xtr = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).div_(255).unsqueeze(1)
        ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
        xte = torch.tensor(idx("t10k-images-idx3-ubyte.gz"), dtype=torch.float32).div_(255).unsqueeze(1)
        if a.workload == "lenet":
            net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        elif a.workload == "conv-bn":  # as axon-bench's convBNNet
            net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
        else:
            net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        # conv-bn trains with Adam on the first 6400 images (as axon-bench); the others with SGD on all.
        if a.workload == "conv-bn":
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            limit = 1280 if a.quick else 6400
        else:
            opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
            limit = 12800 if a.quick else len(xtr)
        perm = torch.randperm(limit, generator=torch.Generator().manual_seed(0))
        if a.scaling and a.threads > 1:
            batch = [0]
            def step():
                j = perm[batch[0]:batch[0] + 64]
                batch[0] = (batch[0] + 64) % (limit - 63)
                opt.zero_grad(); F.cross_entropy(net(xtr[j]), ytr[j]).backward(); opt.step()
            steps = 4 if a.workload == "conv-bn" else 40
            out.update(paired_scaling(step, steps // 2 if a.quick else steps))
            print(json.dumps(out))
            sys.exit(0)
        t = time.perf_counter()
        for i in range(0, limit, 64):
            j = perm[i:i + 64]
            opt.zero_grad()
            loss = F.cross_entropy(net(xtr[j]), ytr[j])
            loss.backward()
            opt.step()
        out["train_samples_per_second"] = limit / (time.perf_counter() - t)
        net.eval()
        t = time.perf_counter()
        with torch.no_grad():
            if a.workload == "conv-bn":  # 2000 test images in batches of 500, as axon-bench
                for i in range(0, 2000, 500): net(xte[i:i + 500])
            else:
                for _ in range(3): net(xte)
        seen = 2000 if a.workload == "conv-bn" else 3 * len(xte)
        out["inference_samples_per_second"] = seen / (time.perf_counter() - t)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    sys.exit(0)

rows = []
def report(name, unit, value):
    rows.append({"name": name, "unit": unit, "value": value, "threads": a.threads})

# Training runs first, each in its own process: Linux carries a parent's peak RSS into a child it starts.
for workload in ["mlp", "lenet", "conv-bn", "playground", "lstm-lm", "transformer-lm"]:
    out = subprocess.run([sys.executable, __file__, "--threads", str(a.threads), "--workload", workload] + (["--quick"] if a.quick else []),
                         capture_output=True, text=True, check=True)
    f = json.loads(out.stdout)
    if workload == "playground":
        report("playground 2-8-8-1 tanh, batch 10", "steps/s", f["steps_per_second"])
    elif workload == "lstm-lm":
        report("lstm lm train (batch 32, ctx 64, 2x256)", "tokens/s", f["tokens_per_second"])
    elif workload == "transformer-lm":
        report("transformer lm train (batch 32, ctx 64, d128 x4)", "tokens/s", f["tokens_per_second"])
    else:
        label = "conv-bn train (batch 64, Adam)" if workload == "conv-bn" else f"{workload} train (batch 64, SGD momentum)"
        report(label, "samples/s", f["train_samples_per_second"])
        report(f"{workload} inference", "samples/s", f["inference_samples_per_second"])
    report(f"{workload} peak RSS", "MiB", f["peak_rss_mib"])
shapes = [("gemm 256", 256, 256, 256), ("gemm 512", 512, 512, 512), ("gemm 1024", 1024, 1024, 1024), ("gemm 2048", 2048, 2048, 2048),
          ("gemm 64x784x256", 64, 784, 256), ("gemm 256x64x784 (dW)", 256, 64, 784), ("gemm 64x256x784 (dX)", 64, 256, 784),
          ("gemm 64x256x128", 64, 256, 128), ("gemm 128x64x256 (dW)", 128, 64, 256), ("gemm 64x128x256 (dX)", 64, 128, 256),
          ("gemm 64x128x10", 64, 128, 10), ("gemm 10x64x128 (dW)", 10, 64, 128), ("gemm 64x10x128 (dX)", 64, 10, 128)]
for name, m, k, n in shapes:
    if a.quick and m * n * k > 1 << 28: continue
    A, B = torch.randn(m, k), torch.randn(k, n)
    flops = 2.0 * m * n * k
    s = median_time(lambda: A @ B, max(1, min(2000, int(1e9 / flops))), rounds=9)  # as axon-bench
    report(name, "GFLOP/s", flops / s / 1e9)
for name, shape, wshape, padding in [("conv1 fwd+bwd (64x1x28x28, 6x3x3)", (64, 1, 28, 28), (6, 1, 3, 3), 0),
                                     ("conv2 fwd+bwd (64x6x13x13, 16x3x3)", (64, 6, 13, 13), (16, 6, 3, 3), 0),
                                     ("conv-bn conv1 fwd+bwd (64x1x28x28, 32x3x3, pad 1)", (64, 1, 28, 28), (32, 1, 3, 3), 1),
                                     ("conv-bn conv2 fwd+bwd (64x32x14x14, 64x3x3, pad 1)", (64, 32, 14, 14), (64, 32, 3, 3), 1)]:
    x = torch.randn(*shape, requires_grad=True); w = torch.randn(*wshape, requires_grad=True); b = torch.randn(wshape[0], requires_grad=True)
    def conv():
        y = F.conv2d(x, w, b, padding=padding); y.backward(torch.ones_like(y)); x.grad = w.grad = b.grad = None
    report(name, "calls/s", 1 / median_time(conv, 20))
print(json.dumps(rows))
