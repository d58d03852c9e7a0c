#!/usr/bin/env python3
"""Writes the seed corpora of Fuzz/corpus/ (standard library only): small valid inputs for each target and a
few near-misses. Run from anywhere: `python3 Fuzz/make_seeds.py`. The seeds are committed; this script is
how they were made."""
import gzip, json, os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw bytes)."""
    header, offset, body = {}, 0, b""
    if metadata: header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw); body += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
f64 = lambda *v: struct.pack("<%dd" % len(v), *v)
i64 = lambda *v: struct.pack("<%dq" % len(v), *v)

# The fuzz targets' small model: Linear(2, 3), BatchNorm1d(3), ReLU, Linear(3, 2).
model = {
    "0.weight": ("F32", [3, 2], f32(*range(6))), "0.bias": ("F32", [3], f32(0, 1, 2)),
    "1.weight": ("F32", [3], f32(1, 1, 1)), "1.bias": ("F32", [3], f32(0, 0, 0)),
    "1.running_mean": ("F32", [3], f32(0, 0, 0)), "1.running_var": ("F32", [3], f32(1, 1, 1)),
    "1.num_batches_tracked": ("I64", [], i64(0)),
    "2.weight": ("F32", [2, 3], f32(*range(6))), "2.bias": ("F32", [2], f32(0, 1)),
}
put("safetensors", "model", safetensors(model, {"epoch": "1"}))
put("safetensors", "f64-and-i64", safetensors({"a": ("F64", [2, 2], f64(1, 2, 3, 4)), "b": ("I64", [3], i64(1, 2, 3)),
                                               "c": ("F16", [2], b"\x00\x3c\x00\x40"), "d": ("BF16", [1], b"\x80\x3f")}))
put("safetensors", "empty", safetensors({}))
put("safetensors", "wrong-shape", safetensors({"0.weight": ("F32", [2, 3], f32(*range(6)))}))

# A .train file for Adam over the small model's parameters (6 tensors) with a StepLR schedule.
shapes = [[3, 2], [3], [3], [3], [2, 3], [2]]
state = {"optimizer.groups.0.lr": ("F64", [], f64(0.01)), "optimizer.groups.0.beta1": ("F64", [], f64(0.9)),
         "optimizer.groups.0.beta2": ("F64", [], f64(0.999)), "optimizer.groups.0.eps": ("F64", [], f64(1e-8)),
         "optimizer.groups.0.weight_decay": ("F64", [], f64(0)),
         "generator.train": ("I64", [6], i64(1, 2, 3, 4, 5, 6)), "generator.global": ("I64", [6], i64(6, 5, 4, 3, 2, 1)),
         "value.early_stopping_bad_epochs": ("F64", [], f64(0))}
for i, shape in enumerate(shapes):
    n = 1
    for d in shape: n *= d
    state["optimizer.state.%d.step" % i] = ("I64", [], i64(3))
    state["optimizer.state.%d.exp_avg" % i] = ("F32", shape, f32(*[0.1] * n))
    state["optimizer.state.%d.exp_avg_sq" % i] = ("F32", shape, f32(*[0.01] * n))
put("train-state", "adam", safetensors(state, {"epoch": "3"}))
put("train-state", "generators-only", safetensors({"generator.train": ("I64", [6], i64(9, 8, 7, 6, 5, 4))}, {"epoch": "0"}))

def idx(type_code, shape, raw):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + raw
labels = idx(0x08, [6], bytes([0, 1, 2, 9, 3, 7]))
images = idx(0x08, [2, 3, 3], bytes(range(18)))
put("idx", "labels", labels)
put("idx", "images", images)
put("idx", "images.gz", gzip.compress(images, mtime=0))
put("idx", "labels.gz", gzip.compress(labels, mtime=0))
put("idx", "int32", idx(0x0C, [2, 2], struct.pack(">4i", -1, 2, -3, 4)))
put("idx", "float", idx(0x0D, [3], struct.pack(">3f", 1.5, -2, 0.25)))
put("idx", "double", idx(0x0E, [2], struct.pack(">2d", 1.5, -2)))
put("idx", "short", idx(0x0B, [2], struct.pack(">2h", -7, 300)))

# CSV: the first byte picks the options (see Targets.swift): 0x80 header, 0x40 regression, low 2 bits the label.
put("csv", "header-last-label", bytes([0x81]) + b"x1,x2,label\n0.5,1,0\n-1,2.5,1\n3,4,1\n")
put("csv", "named-label", bytes([0x83]) + b"label,a,b\ncat,1,2\ndog,3,4\n")
put("csv", "no-header", bytes([0x01]) + b"1,2,0\n3,4,1\r\n5,6,0\n")
put("csv", "regression-quoted", bytes([0xc1]) + b'"a","b,c",y\n1,2,0.5\n"3",4,-1e3\n')
put("csv", "features-only", bytes([0x80]) + b"a,b\n1,2\n")

specs = {
    "mlp": {"input": [2], "layers": [{"type": "linear", "out": 8}, {"type": "tanh"}, {"type": "dropout", "p": 0.1},
                                      {"type": "linear", "out": 2}]},
    "cnn": {"input": [1, 12, 12], "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
                                             {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "conv2d", "out": 4, "kernel": 3, "stride": 2},
                                             {"type": "avgpool", "kernel": 2, "stride": 1}, {"type": "flatten"},
                                             {"type": "linear", "out": 3}]},
    "lstm": {"input": [8], "layers": [{"type": "embedding", "out": 6}, {"type": "lstm", "out": 5, "layers": 2, "bidirectional": True},
                                       {"type": "layernorm"}, {"type": "linear", "out": 40}]},
    "gru": {"input": [4], "layers": [{"type": "embedding", "out": 4}, {"type": "gru", "out": 3}, {"type": "linear", "out": 40}]},
    "transformer": {"input": [6], "layers": [{"type": "embedding", "out": 8}, {"type": "transformer-encoder", "heads": 2, "ff": 16,
                                                                                  "layers": 1, "causal": True}, {"type": "linear", "out": 40}]},
    "activations": {"input": [3], "layers": [{"type": "leaky-relu", "slope": 0.2}, {"type": "sigmoid"}, {"type": "gelu"},
                                             {"type": "step"}, {"type": "identity"}, {"type": "batchnorm"}, {"type": "linear", "out": 1}]},
}
for name, spec in specs.items():
    put("model-json", name, json.dumps(spec))

put("text", "fortune", bytes([15]) + b"A fool and his money are soon parted.\n%\nKnowledge is power.\n%\n")
put("text", "bytes", bytes([3]) + bytes(range(256)) * 2)
put("text", "short", bytes([0]) + b"ab")

put("playground-config", "empty", b"")
put("playground-config", "full", json.dumps({"dataset": "spiral", "noise": 10, "trainRatio": 70, "samples": 300, "batchSize": 5,
    "features": ["x1", "x2", "x1Squared", "x2Squared", "x1x2", "sinX1", "sinX2"], "hiddenLayers": [8, 8, 8, 8, 8, 8],
    "activation": "relu", "learningRate": 0.1, "regularization": "L2", "regularizationRate": 0.001, "problem": "classification",
    "optimizer": "adam", "loss": "cross-entropy", "seed": 7}))
put("playground-config", "regression", json.dumps({"dataset": "multi-gaussian", "problem": "regression", "hiddenLayers": [],
                                                   "activation": "linear", "optimizer": "rmsprop"}))
put("playground-config", "bad-type", b'{"noise": "loud"}')
put("playground-step", "empty", b"")
put("playground-step", "two", b'{"epochs": 2}')
put("playground-step", "too-many", b'{"epochs": 100000}')
put("playground-upload", "header", b"x,y,label\n1,2,0\n-1,-2,1\n3,1,0\n-2,-3,1\n0.5,0.5,0\n")
put("playground-upload", "names", b"x,y,label\n1,2,red\n-1,-2,blue\n3,1,red\n-2,-3,blue\n")
put("playground-upload", "no-header", b"1,2,0.5\n-1,-2,1.5\n3,1,-0.5\n-2,-3,2\n")
