"""PyTorch's DistributedDataParallel on the gloo backend: the MLP or LeNet of torch_bench.py for one epoch of
Fashion-MNIST, batch 64 per rank, each rank its DistributedSampler share, 1 thread per rank. Run by
bench/distributed.py as `torchrun --nproc_per_node 2 bench/torch_ddp.py mlp` with the reference environment;
rank 0 prints {"train_samples_per_second": every rank's samples over the time between two barriers}."""
import gzip, json, os, sys, time
import numpy as np
import torch, torch.distributed as dist, torch.nn as nn, torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

workload = sys.argv[1]
torch.set_num_threads(1)
torch.manual_seed(0)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
D = "/usr/share/datasets/fashion-mnist/"

def idx(name):
    b = gzip.open(D + name).read()
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)

xtr = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).div_(255).unsqueeze(1)
ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
if workload == "lenet":
    net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
else:
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
model = DistributedDataParallel(net)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sampler = DistributedSampler(range(len(xtr)), num_replicas=world, rank=rank, shuffle=True, seed=0)
share = torch.tensor(list(sampler))
dist.barrier()
t = time.perf_counter()
for i in range(0, len(share), 64):
    j = share[i:i + 64]
    opt.zero_grad()
    F.cross_entropy(model(xtr[j]), ytr[j]).backward()
    opt.step()
dist.barrier()
seconds = time.perf_counter() - t
if rank == 0:
    print(json.dumps({"train_samples_per_second": len(share) * world / seconds, "ranks": world}))
dist.destroy_process_group()
