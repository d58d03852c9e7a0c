"""Makes the PyTorch-exported ONNX models the AxonONNX tests import, with onnxruntime's outputs for fixed inputs.

Run in the reference environment (../shared/bench/setup_reference.sh), from the repository's root:
    source ~/.axon-reference/bin/activate && python bench/make_onnx_models.py
It writes Tests/AxonONNXTests/Models/NAME.onnx and expected.json ({NAME: {"inputs": [...], "outputs": [...]}},
each tensor as {"shape", "dtype", "data"}). The models are exported by torch.onnx.export (the TorchScript-based
exporter: dynamo=False, which needs no onnxscript) at opset 17 with a dynamic batch axis; the outputs are
onnxruntime's, for two batch sizes.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

OUT = os.path.join("Tests", "AxonONNXTests", "Models")
torch.manual_seed(0)


class LastStep(nn.Module):
    """A two-layer LSTM over [N, T, F], then a linear layer on the last step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y[:, -1])


class Encoder(nn.Module):
    """A Transformer encoder of two layers over [N, T, 16], mean-pooled, then a linear layer."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


def cnn():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 10))
    for m in model:
        if isinstance(m, nn.BatchNorm2d):  # statistics away from 0 and 1, so that they show
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return model


MODELS = {
    "mlp": (nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 5)), [20]),
    "cnn_bn": (cnn(), [1, 12, 12]),
    "lstm": (LastStep(), [6, 5]),
    "transformer": (Encoder(), [7, 16]),
}


def encode(a):
    return {"shape": list(a.shape), "dtype": str(a.dtype), "data": a.astype(np.float64).ravel().tolist()}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, (model, shape) in MODELS.items():
        model.eval()
        path = os.path.join(OUT, f"{name}.onnx")
        # PRESERVE keeps batch norm as BatchNormalization (in evaluation mode) instead of folding it into the convolution.
        torch.onnx.export(model, (torch.randn(2, *shape),), path, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        onnx.checker.check_model(onnx.load(path), full_check=True)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        runs = []
        for batch in (1, 4):
            x = torch.randn(batch, *shape).numpy()
            (y,) = session.run(None, {"input": x})
            with torch.no_grad():
                reference = model(torch.from_numpy(x)).numpy()
            assert np.allclose(y, reference, rtol=1e-4, atol=1e-5), name
            runs.append({"inputs": [encode(x)], "outputs": [encode(y)]})
        expected[name] = runs
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print(f"{name}: {os.path.getsize(path)} bytes, ops {', '.join(ops)}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
