#!/usr/bin/python3
"""Speed peer for ONNX models: PyTorch (Debian python3-torch, eager mode, CPU)
on the module that tests/oracles/torch_models.py exported to the .onnx file
that csm and ONNX Runtime run: same weights (same seed, same calibration
crops), same input batch.

  /usr/bin/python3 bench/onnx_torch_bench.py VARIANT INPUT.npy --crops224 A.npy
      --crops112 B.npy [--threads N] [--min-time S] [--min-runs K]

VARIANT: a torch_models.py variant (vgg16, resnet18, mobilenetv2, facenet, ...).
INPUT.npy: float32 NCHW, normalized (what the .onnx takes). torch.set_num_threads(N)
(default $CSM_THREADS or 2), one inter-op thread, torch.inference_mode(); one
warm-up run, then whole runs until >= --min-time s (default 2) and >= --min-runs
(default 3). Prints one JSON line {model, batch, images_per_s, ms_per_run,
ms_median, runs, backend, threads}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracles"))
import torch_models  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("variant")
    p.add_argument("input")
    p.add_argument("--crops224", required=True)
    p.add_argument("--crops112", required=True)
    p.add_argument("--threads", type=int, default=int(os.environ.get("CSM_THREADS", "2")))
    p.add_argument("--min-time", type=float, default=2.0)
    p.add_argument("--min-runs", type=int, default=3)
    a = p.parse_args()
    if a.variant not in torch_models.VARIANTS:
        torch_models.die(f"unknown variant {a.variant}")
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    arch, size = torch_models.VARIANTS[a.variant][:2]
    crops = torch_models.load_crops(a.crops224 if size == 224 else a.crops112, size)
    model = torch_models.build(arch, torch_models.normalize(arch, crops))
    x = torch.from_numpy(np.load(a.input).astype(np.float32))
    if tuple(x.shape[1:]) != (3, size, size):
        torch_models.die(f"{a.input}: shape {list(x.shape)}, {a.variant} takes [N,3,{size},{size}]")
    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        t0 = time.perf_counter()
        while True:
            s = time.perf_counter()
            model(x)
            e = time.perf_counter()
            times.append(e - s)
            total = e - t0
            if total >= a.min_time and len(times) >= a.min_runs:
                break
    times.sort()
    batch = x.shape[0]
    print(json.dumps({
        "model": a.variant, "batch": batch, "images_per_s": len(times) * batch / total,
        "ms_per_run": total / len(times) * 1e3, "ms_median": times[len(times) // 2] * 1e3,
        "runs": len(times), "backend": f"pytorch {torch.__version__} eager cpu",
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
