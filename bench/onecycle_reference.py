"""PyTorch's OneCycleLR rates and momenta for the cases of Tests/AxonOptimTests/OptimizerTests.swift that the
shared fixtures lack (three phases, linear annealing, the momentum and Adam's beta1 cycled). Run with the
reference environment (../shared/bench/setup_reference.sh): ~/.axon-reference/bin/python bench/onecycle_reference.py"""
import json
import torch

def run(optimizer_name, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9) if optimizer_name == "sgd" else torch.optim.Adam([p], lr=0.1)
    s = torch.optim.lr_scheduler.OneCycleLR(opt, **kw)
    lrs, moms = [], []
    for _ in range(kw["total_steps"]):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"] if optimizer_name == "sgd" else g["betas"][0])
        opt.step()
        s.step()
    return {"lrs": lrs, "momenta": moms}

print(json.dumps({
    "sgd_three_phase_linear": run("sgd", max_lr=0.5, total_steps=10, pct_start=0.3, anneal_strategy="linear", three_phase=True),
    "adam_cos": run("adam", max_lr=0.01, total_steps=8, pct_start=0.25),
}, indent=1))
