"""numpy/OpenBLAS SGEMM GFLOP/s (run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so that OpenBLAS
picks its own kernels for this CPU). Usage: python numpy_gemm.py THREADS"""
import json, sys, time
from threadpoolctl import threadpool_limits
import numpy as np
rows = []
with threadpool_limits(limits=int(sys.argv[1])):
    info = [d for d in __import__("threadpoolctl").threadpool_info() if d.get("internal_api") == "openblas"]
    for n in (256, 512, 1024, 2048):
        a, b = np.random.randn(n, n).astype(np.float32), np.random.randn(n, n).astype(np.float32)
        a @ b
        reps = max(1, int(2e9 / (2 * n ** 3)))
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps): a @ b
            ts.append((time.perf_counter() - t) / reps)
        rows.append({"name": f"gemm {n}", "value": 2 * n ** 3 / sorted(ts)[2] / 1e9,
                     "kernel": info[0].get("architecture") if info else "?"})
print(json.dumps(rows))
