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
    """inputs: {name: tensor}, passed to the module in order."""
    module.train(training)
    leaves = {k: x.clone().requires_grad_(x.is_floating_point()) for k, x in inputs.items()}
    out = module(*leaves.values())
    outs = list(out) if isinstance(out, tuple) else [out]
    grad_outs = [torch.randn_like(o) for o in outs]
    sum(((o * g).sum() for o, g in zip(outs, grad_outs))).backward()
    params = dict(module.named_parameters())
    return {"name": name, "module": module_name, "config": config, "training": training,
            "state": {k: t(v) for k, v in module.state_dict().items()},
            "inputs": {k: t(x) for k, x in inputs.items()}, "outputs": [t(o) for o in outs], "gradOutputs": [t(g) for g in grad_outs],
            "grads": {"inputs": {k: t(x.grad) for k, x in leaves.items() if x.grad is not None},
                      "parameters": {k: t(p.grad) for k, p in params.items() if p.grad is not None}},
            "buffersAfter": {}}

def randomized(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p))
    return m

ids = torch.tensor([[0, 3, 5, 0], [10, 2, 2, 7], [1, 0, 9, 4]])
cases = [
    case("embedding", "Embedding", {"numEmbeddings": 11, "embeddingDim": 8}, torch.nn.Embedding(11, 8), {"input": ids}),
    case("embedding_padding", "Embedding", {"numEmbeddings": 11, "embeddingDim": 8, "paddingIdx": 0},
         randomized(torch.nn.Embedding(11, 8, padding_idx=0)), {"input": ids}),
    case("layer_norm_last", "LayerNorm", {"normalizedShape": [5]}, randomized(torch.nn.LayerNorm(5)), {"input": torch.randn(2, 3, 5)}),
    case("layer_norm_two_axes", "LayerNorm", {"normalizedShape": [3, 5], "eps": 1e-3},
         randomized(torch.nn.LayerNorm([3, 5], eps=1e-3)), {"input": torch.randn(2, 3, 5)}),
    case("layer_norm_no_affine", "LayerNorm", {"normalizedShape": [4], "elementwiseAffine": False},
         torch.nn.LayerNorm(4, elementwise_affine=False), {"input": torch.randn(3, 4)}),
    case("layer_norm_no_bias", "LayerNorm", {"normalizedShape": [4], "bias": False},
         randomized(torch.nn.LayerNorm(4, bias=False)), {"input": torch.randn(3, 4)}),
    case("rms_norm", "RMSNorm", {"normalizedShape": [6]}, randomized(torch.nn.RMSNorm(6)), {"input": torch.randn(2, 3, 6)}),
    case("rms_norm_eps", "RMSNorm", {"normalizedShape": [2, 6], "eps": 1e-2}, randomized(torch.nn.RMSNorm([2, 6], eps=1e-2)),
         {"input": torch.randn(3, 2, 6) * 0.1}),
    case("group_norm", "GroupNorm", {"numGroups": 3, "numChannels": 6}, randomized(torch.nn.GroupNorm(3, 6)),
         {"input": torch.randn(2, 6, 3, 3)}),
    case("group_norm_no_affine", "GroupNorm", {"numGroups": 2, "numChannels": 4, "affine": False, "eps": 1e-3},
         torch.nn.GroupNorm(2, 4, eps=1e-3, affine=False), {"input": torch.randn(3, 4, 5)}),
]
class Fn(torch.nn.Module):
    """A function as a module (functions have no state)."""
    def __init__(self, f):
        super().__init__()
        self.f = f
    def forward(self, *args):
        return self.f(*args)

F = torch.nn.functional
x4 = lambda *s: torch.randn(*s)
logp = torch.log_softmax(torch.randn(3, 5), dim=1)
cases += [
    case("conv1d_s1_p0", "Conv1d", {"inChannels": 3, "outChannels": 4, "kernelSize": 3}, torch.nn.Conv1d(3, 4, 3), {"input": x4(2, 3, 9)}),
    case("conv1d_s2_p1_nobias", "Conv1d", {"inChannels": 3, "outChannels": 4, "kernelSize": 3, "stride": 2, "padding": 1, "bias": False},
         torch.nn.Conv1d(3, 4, 3, stride=2, padding=1, bias=False), {"input": x4(2, 3, 10)}),
    case("conv1d_d2_p2", "Conv1d", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "padding": 2, "dilation": 2},
         torch.nn.Conv1d(2, 3, 3, padding=2, dilation=2), {"input": x4(2, 2, 7)}),
    case("conv2d_groups", "Conv2d", {"inChannels": 4, "outChannels": 6, "kernelSize": 3, "padding": 1, "groups": 2},
         torch.nn.Conv2d(4, 6, 3, padding=1, groups=2), {"input": x4(2, 4, 5, 6)}),
    case("conv2d_depthwise", "Conv2d", {"inChannels": 3, "outChannels": 3, "kernelSize": 3, "stride": 2, "groups": 3},
         torch.nn.Conv2d(3, 3, 3, stride=2, groups=3), {"input": x4(2, 3, 7, 7)}),
    case("conv_transpose2d_s2_p1_op1", "ConvTranspose2d", {"inChannels": 3, "outChannels": 2, "kernelSize": 3, "stride": 2, "padding": 1, "outputPadding": 1},
         torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), {"input": x4(2, 3, 4, 5)}),
    case("conv_transpose2d_s1", "ConvTranspose2d", {"inChannels": 3, "outChannels": 2, "kernelSize": 3},
         torch.nn.ConvTranspose2d(3, 2, 3), {"input": x4(2, 3, 4, 5)}),
    case("conv_transpose2d_s2_nobias", "ConvTranspose2d", {"inChannels": 2, "outChannels": 3, "kernelSize": 2, "stride": 2, "bias": False},
         torch.nn.ConvTranspose2d(2, 3, 2, stride=2, bias=False), {"input": x4(1, 2, 3, 4)}),
    case("adaptive_avg_pool2d_1x1", "AdaptiveAvgPool2d", {"outputSize": [1, 1]}, torch.nn.AdaptiveAvgPool2d((1, 1)), {"input": x4(2, 3, 5, 7)}),
    case("adaptive_avg_pool2d_2x3", "AdaptiveAvgPool2d", {"outputSize": [2, 3]}, torch.nn.AdaptiveAvgPool2d((2, 3)), {"input": x4(2, 3, 5, 7)}),
    case("adaptive_avg_pool2d_3x3_even", "AdaptiveAvgPool2d", {"outputSize": [3, 3]}, torch.nn.AdaptiveAvgPool2d(3), {"input": x4(1, 2, 6, 6)}),
    case("max_pool1d", "MaxPool1d", {"kernelSize": 2, "stride": 2}, torch.nn.MaxPool1d(2, 2), {"input": x4(2, 3, 9)}),
    case("avg_pool1d", "AvgPool1d", {"kernelSize": 3, "stride": 2, "padding": 1}, torch.nn.AvgPool1d(3, 2, 1), {"input": x4(2, 3, 8)}),
    case("upsample_nearest_2", "Upsample", {"scaleFactor": 2, "mode": "nearest"}, torch.nn.Upsample(scale_factor=2, mode="nearest"),
         {"input": x4(2, 2, 3, 4)}),
    case("upsample_nearest_size", "Upsample", {"size": [5, 7], "mode": "nearest"}, torch.nn.Upsample(size=(5, 7), mode="nearest"),
         {"input": x4(1, 2, 3, 4)}),
    case("kl_div_batchmean", "kl_div", {"reduction": "batchmean", "logTarget": False},
         Fn(lambda i, t: F.kl_div(i, t, reduction="batchmean")), {"input": logp, "target": torch.softmax(torch.randn(3, 5), dim=1)}),
    case("kl_div_log_target_sum", "kl_div", {"reduction": "sum", "logTarget": True},
         Fn(lambda i, t: F.kl_div(i, t, reduction="sum", log_target=True)),
         {"input": logp, "target": torch.log_softmax(torch.randn(3, 5), dim=1)}),
    case("smooth_l1_beta0.5", "smooth_l1_loss", {"reduction": "mean", "beta": 0.5},
         Fn(lambda i, t: F.smooth_l1_loss(i, t, beta=0.5)), {"input": x4(4, 3), "target": x4(4, 3)}),
    case("smooth_l1_sum", "smooth_l1_loss", {"reduction": "sum", "beta": 1.0},
         Fn(lambda i, t: F.smooth_l1_loss(i, t, reduction="sum")), {"input": x4(4, 3) * 2, "target": x4(4, 3)}),
    case("cosine_similarity", "cosine_similarity", {"dim": 1, "eps": 1e-8},
         Fn(lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-8)), {"x1": x4(3, 4), "x2": x4(3, 4)}),
    case("cosine_similarity_last", "cosine_similarity", {"dim": -1, "eps": 1e-8},
         Fn(lambda a, b: F.cosine_similarity(a, b, dim=-1)), {"x1": x4(2, 3, 4), "x2": x4(2, 3, 4)}),
    case("pad_constant", "pad", {"pad": [1, 2, 0, 1], "mode": "constant", "value": 0.5},
         Fn(lambda i: F.pad(i, (1, 2, 0, 1), value=0.5)), {"input": x4(2, 2, 3, 4)}),
    case("pad_crop", "pad", {"pad": [-1, 2], "mode": "constant", "value": 0.0},
         Fn(lambda i: F.pad(i, (-1, 2))), {"input": x4(2, 5)}),
    case("cross_entropy_3d", "cross_entropy", {"reduction": "mean", "ignoreIndex": 2},
         Fn(lambda i, t: F.cross_entropy(i, t, ignore_index=2)), {"input": x4(2, 4, 5), "target": torch.tensor([[0, 2, 3, 1, 2], [3, 3, 0, 1, 2]])}),
    case("cross_entropy_4d_none", "cross_entropy", {"reduction": "none"},
         Fn(lambda i, t: F.cross_entropy(i, t, reduction="none")), {"input": x4(2, 3, 2, 2), "target": torch.tensor([[[0, 2], [1, 1]], [[2, 0], [1, 2]]])}),
]
path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "AxonNNTests", "Fixtures", "layers.json")
with open(path, "w") as f:
    json.dump({"about": f"PyTorch {torch.__version__} (bench/layers_reference.py), float64", "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
