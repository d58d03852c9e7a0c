"""PyTorch's outputs and gradients for the embedding and normalisation layers, written to
Tests/AxonNNTests/Fixtures/layers.json in the format of the shared modules.json (see ../shared/fixtures/README.md).
Run with the reference environment (../shared/bench/setup_reference.sh):
    ~/.axon-reference/bin/python bench/layers_reference.py"""
import json, os
import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist(), "dtype": str(x.dtype).replace("torch.", "")}

def case(name, module_name, config, module, inputs, training=False):
    module.train(training)
    leaves = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    out = module(*leaves)
    outs = list(out) if isinstance(out, tuple) else [out]
    grad_outs = [torch.randn_like(o) for o in outs]
    sum(((o * g).sum() for o, g in zip(outs, grad_outs))).backward()
    params = dict(module.named_parameters())
    return {"name": name, "module": module_name, "config": config, "training": training,
            "state": {k: t(v) for k, v in module.state_dict().items()},
            "inputs": [t(x) for x in inputs], "outputs": [t(o) for o in outs], "gradOutputs": [t(g) for g in grad_outs],
            "grads": {"inputs": [t(x.grad) if x.grad is not None else None for x in leaves],
                      "parameters": {k: t(p.grad) for k, p in params.items() if p.grad is not None}},
            "buffersAfter": {}}

def randomized(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p))
    return m

ids = torch.tensor([[0, 3, 5, 0], [10, 2, 2, 7], [1, 0, 9, 4]])
cases = [
    case("embedding", "Embedding", {"numEmbeddings": 11, "embeddingDim": 8}, torch.nn.Embedding(11, 8), [ids]),
    case("embedding_padding", "Embedding", {"numEmbeddings": 11, "embeddingDim": 8, "paddingIdx": 0},
         randomized(torch.nn.Embedding(11, 8, padding_idx=0)), [ids]),
    case("layer_norm_last", "LayerNorm", {"normalizedShape": [5]}, randomized(torch.nn.LayerNorm(5)), [torch.randn(2, 3, 5)]),
    case("layer_norm_two_axes", "LayerNorm", {"normalizedShape": [3, 5], "eps": 1e-3},
         randomized(torch.nn.LayerNorm([3, 5], eps=1e-3)), [torch.randn(2, 3, 5)]),
    case("layer_norm_no_affine", "LayerNorm", {"normalizedShape": [4], "elementwiseAffine": False},
         torch.nn.LayerNorm(4, elementwise_affine=False), [torch.randn(3, 4)]),
    case("layer_norm_no_bias", "LayerNorm", {"normalizedShape": [4], "bias": False},
         randomized(torch.nn.LayerNorm(4, bias=False)), [torch.randn(3, 4)]),
    case("rms_norm", "RMSNorm", {"normalizedShape": [6]}, randomized(torch.nn.RMSNorm(6)), [torch.randn(2, 3, 6)]),
    case("rms_norm_eps", "RMSNorm", {"normalizedShape": [2, 6], "eps": 1e-2}, randomized(torch.nn.RMSNorm([2, 6], eps=1e-2)),
         [torch.randn(3, 2, 6) * 0.1]),
    case("group_norm", "GroupNorm", {"numGroups": 3, "numChannels": 6}, randomized(torch.nn.GroupNorm(3, 6)),
         [torch.randn(2, 6, 3, 3)]),
    case("group_norm_no_affine", "GroupNorm", {"numGroups": 2, "numChannels": 4, "affine": False, "eps": 1e-3},
         torch.nn.GroupNorm(2, 4, eps=1e-3, affine=False), [torch.randn(3, 4, 5)]),
]
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "AxonNNTests", "Fixtures", "layers.json")
with open(path, "w") as f:
    json.dump({"about": f"PyTorch {torch.__version__} (bench/layers_reference.py), float64", "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
