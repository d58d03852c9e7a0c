#!/usr/bin/env python3
"""PyTorch's DistributedSampler shares (shuffle=False: the order 0..<n) for the cases AxonDataTests checks
DistributedSampler against. Run with the reference environment (../shared/bench/setup_reference.sh):
    ~/.axon-reference/bin/python bench/distributed_sampler_reference.py
It prints the Swift literal pasted into Tests/AxonDataTests/DistributedSamplerTests.swift."""
from torch.utils.data import DistributedSampler

cases = [(10, 3, False), (10, 3, True), (2, 5, False), (7, 2, False), (7, 2, True), (12, 4, False), (1, 3, False), (5, 1, False)]
print("    // (count, worldSize, dropLast, shares by rank): from bench/distributed_sampler_reference.py (PyTorch 2)")
print("    let pytorch: [(Int, Int, Bool, [[Int]])] = [")
for n, world, drop in cases:
    shares = [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop)) for r in range(world)]
    print(f"        ({n}, {world}, {'true' if drop else 'false'}, {shares}),")
print("    ]")
