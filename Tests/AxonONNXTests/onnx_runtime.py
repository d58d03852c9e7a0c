"""Checks an ONNX model with onnx.checker and runs it in onnxruntime, for the AxonONNX tests.

usage: python3 onnx_runtime.py MODEL.onnx INPUTS.json OUTPUTS.json
INPUTS.json: {"inputs": [{"shape": [...], "dtype": "float32" | "int64", "data": [...]}, ...]}, one set of inputs
per run: {"runs": [{"inputs": [...]}, ...]}. Writes {"outputs": [[{"shape": [...], "data": [...]}, ...], ...]}
(the graph's outputs for each run) to OUTPUTS.json; exits non-zero with the checker's or onnxruntime's message otherwise.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
names = [i.name for i in session.get_inputs()]
runs = json.load(open(sys.argv[2]))["runs"]
results = []
for run in runs:
    feed = {n: np.array(i["data"], dtype=i["dtype"]).reshape(i["shape"]) for n, i in zip(names, run["inputs"])}
    outputs = session.run(None, feed)
    results.append([{"shape": list(o.shape), "data": o.astype(np.float64).ravel().tolist()} for o in outputs])
json.dump({"outputs": results}, open(sys.argv[3], "w"))
