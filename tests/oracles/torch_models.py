#!/usr/bin/python3
"""PyTorch oracle for csm's ONNX loader: builds image models with fixed seeds and
random weights, exports them to ONNX and writes PyTorch's outputs on real face
crops. Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision,
python3-numpy); nothing is downloaded.

  torch_models.py export --outdir DIR --crops224 A.npy --crops112 B.npy
                         [--faces224 C.npy --faces112 D.npy] [--models a,b] [--batch 3]
      For each model variant: DIR/<variant>.onnx, and per input set and batch
      DIR/<variant>.<set>.b<B>.in.npy (NCHW float32, normalized: what csm, ONNX
      Runtime and PyTorch are given), DIR/<variant>.<set>.b<B>.torch_<k>.npy
      (output k, PyTorch float32) and .torch64_<k>.npy (the same module in
      float64). DIR/manifest.json lists it all.
      --crops*: real face crops, NHWC float32 RGB in [0,1] (tests/oracles/crop.mjs),
      several of them: all of them calibrate the random weights (below); the
      "samples" set takes --batch of them per variant (a different run of
      consecutive crops per variant) plus a batch-1 case (another crop).
      --faces*: optional second set ("faceapi", labelled face crops).
  torch_models.py compare --outdir DIR [--tol 1e-4]
      Reads csm's outputs DIR/<case>.csm_<k>.npy (and the names in
      DIR/<case>.csm.json, `csm infer --json`) next to PyTorch's and prints, per
      case and output: shape, relative L2 error ||csm - ref|| / ||ref|| against
      PyTorch in float64 (the pass criterion), the same against PyTorch in
      float32, PyTorch float32 vs float64 (the float32 noise floor of the
      model), max abs error, and the output's spread over the batch (how much of
      it depends on the input); for logits also softmax(logits), shown only.
      Exit 1 if any output's relative error > tol, a name or shape differs or a
      file is missing.
  torch_models.py cases --outdir DIR
      One line per case: "<onnx file> <input .npy> <csm output prefix>".

Variants (all NCHW input, dynamic batch axis "batch"):
  vgg16        torchvision vgg16 (the paper's architecture), 224x224, opset 13;
               outputs logits and softmax(logits)
  resnet18     torchvision resnet18, 224x224, opset 13
  resnet18_bn  the same weights exported with do_constant_folding=False and
               training=PRESERVE, so the BatchNormalization nodes stay (eval mode)
               instead of being folded into the convolutions by the exporter
  mobilenetv2  torchvision mobilenet_v2, 224x224, opset 13
  facenet      SphereFace/LightCNN-style face embedder, 112x112: strided 3x3
               convs and residual units with BatchNorm + per-channel PReLU,
               Linear -> BatchNorm1d -> 256-d features, F.normalize ->
               embedding; outputs embedding and features; opset 13
  facenet_op11 the same model, opset 11

Random weights would make a poor oracle as they come: a deep random ReLU net
maps every face to nearly the same output (VGG16's logits vary by ~5 % between
faces, its softmax is uniform to 1e-3), so a comparison would mostly check the
input-independent part. Each model is therefore calibrated on the crops, a
data-dependent initialization: VGG16's conv and linear layers are rescaled
layer by layer so that every channel has mean 0 and std 1 over the crops
(LSUV-style); in the BN models, BatchNorm's gamma/beta are drawn at random and
its running statistics are measured on the crops (BN layers alone in train
mode); PReLU slopes are random per channel; last, every classifier's final
Linear is shifted and scaled so that each logit has mean 0 over the crops and
all have std 2 (the softmax is far from uniform; std 3 made softmax errors,
which scale with the logits, needlessly close to the tolerance). Same crops +
same seed => same weights. Measured spread (std over a batch / rms): 0.5-0.8
for every output, against 0.05 for VGG16's logits as initialized.

The reference is PyTorch in float64: float32 rounding alone moves a deep
model's outputs (MobileNetV2: ~4e-5 relative between PyTorch float32 and
float64; part of it is the per-class centering above, which cancels the
logits' large class-wise constant), so two float32 engines can differ by
twice that; against float64 each engine's own error counts once.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20261202
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# name -> (architecture, input size, opset, export style, outputs)
VARIANTS = {
    "vgg16": ("vgg16", 224, 13, "fold", ["logits", "probs"]),
    "resnet18": ("resnet18", 224, 13, "fold", ["logits"]),
    "resnet18_bn": ("resnet18", 224, 13, "keep_bn", ["logits"]),
    "mobilenetv2": ("mobilenetv2", 224, 13, "fold", ["logits"]),
    "facenet": ("facenet", 112, 13, "fold", ["embedding", "features"]),
    "facenet_op11": ("facenet", 112, 11, "fold", ["embedding", "features"]),
}
ARCHS = ("vgg16", "resnet18", "mobilenetv2", "facenet")


def die(msg):
    print(f"torch_models: error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- the face net ---------------------------------------------------------------


def conv_bn_prelu(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout)
    )


class ResUnit(nn.Module):
    """SphereFace's residual unit: x + PReLU(BN(conv(PReLU(BN(conv(x))))))."""

    def __init__(self, c):
        super().__init__()
        self.a = conv_bn_prelu(c, c, 1)
        self.b = conv_bn_prelu(c, c, 1)

    def forward(self, x):
        return x + self.b(self.a(x))


class FaceNet(nn.Module):
    """SphereFace-20-like embedder, narrowed: 112 -> 56 -> 28 -> 14 -> 7."""

    def __init__(self, widths=(32, 64, 128, 256), units=(1, 2, 2, 1), dim=256):
        super().__init__()
        layers, cin = [], 3
        for w, u in zip(widths, units):
            layers.append(conv_bn_prelu(cin, w, 2))
            layers += [ResUnit(w) for _ in range(u)]
            cin = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * 7 * 7, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        f = self.bn(self.fc(torch.flatten(self.body(x), 1)))
        return F.normalize(f, p=2.0, dim=1), f


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        y = self.net(x)
        return y, torch.softmax(y, dim=1)


# ---- calibration (see the module docstring) -------------------------------------


@torch.no_grad()
def lsuv_sequential(model, x):
    """VGG: per-channel mean 0 / std 1 over the crops, layer by layer."""
    layers = list(model.features) + [model.avgpool, nn.Flatten(1)] + list(model.classifier)
    last = [m for m in layers if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    for m in layers:
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not last:
            y = m(x)
            dims = (0, 2, 3) if y.dim() == 4 else (0,)
            mean, std = y.mean(dims), y.std(dims).clamp_min(1e-3)
            shape = (-1,) + (1,) * (m.weight.dim() - 1)
            m.weight.div_(std.view(shape))
            m.bias.sub_(mean).div_(std)
        x = m(x)


@torch.no_grad()
def calibrate_bn(model, x, gen):
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in bns:
        m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
        m.reset_running_stats()
        m.momentum = None  # cumulative average: exactly the crops' statistics
    model.eval()
    for m in bns:
        m.train()
    model(x)
    model.eval()


@torch.no_grad()
def scale_last_linear(model, fc, x, target_std=2.0):
    y = model(x)
    y = y[0] if isinstance(y, tuple) else y
    # Per class: a random net's logits are mostly a class-wise constant; take it out.
    mean = y.mean(0)
    std = (y - mean).std().clamp_min(1e-6)
    fc.weight.mul_(target_std / std)
    fc.bias.sub_(mean).mul_(target_std / std)


def build(arch, calib):
    """The model in eval mode, weights seeded and calibrated on calib (NCHW,
    normalized for this architecture)."""
    import torchvision

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    x = torch.from_numpy(calib)
    if arch == "vgg16":
        net = torchvision.models.vgg16(weights=None).eval()
        lsuv_sequential(net, x)
        scale_last_linear(net, net.classifier[-1], x)
        return WithSoftmax(net).eval()
    if arch == "resnet18":
        net = torchvision.models.resnet18(weights=None)
        calibrate_bn(net, x, gen)
        scale_last_linear(net, net.fc, x)
        return net.eval()
    if arch == "mobilenetv2":
        net = torchvision.models.mobilenet_v2(weights=None)
        calibrate_bn(net, x, gen)
        scale_last_linear(net, net.classifier[-1], x)
        return net.eval()
    if arch == "facenet":
        net = FaceNet()
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.PReLU):
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.45 + 0.05)
        calibrate_bn(net, x, gen)
        return net.eval()
    die(f"unknown architecture {arch}")


def normalize(arch, nhwc01):
    """NHWC RGB in [0,1] -> the architecture's NCHW input."""
    x = np.asarray(nhwc01, np.float32)
    if x.ndim != 4 or x.shape[3] != 3:
        die(f"crops must be NHWC with 3 channels, got shape {x.shape}")
    if arch == "facenet":
        x = (x - 0.5) / 0.5
    else:
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def load_crops(path, size):
    x = np.load(path)
    if x.ndim != 4 or x.shape[1:] != (size, size, 3):
        die(f"{path}: expected NHWC crops of {size}x{size}x3, got shape {x.shape}")
    return x.astype(np.float32)


def export_onnx(model, path, size, opset, style, outputs):
    dummy = torch.zeros(2, 3, size, size)
    kw = {}
    if style == "keep_bn":
        # The exporter folds BatchNorm into the preceding Conv in EVAL mode; in
        # PRESERVE mode (model in eval()) it keeps the BatchNormalization nodes.
        kw = dict(do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    axes = {"input": {0: "batch"}}
    axes.update({o: {0: "batch"} for o in outputs})
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, dummy, tmp, opset_version=opset, input_names=["input"],
                          output_names=outputs, dynamic_axes=axes, **kw)
    os.replace(tmp, path)


def op_count(path, op):
    """Nodes of an op type (no python onnx module here): NodeProto.op_type is
    field 4, a string, so it is stored as tag 0x22, length, name."""
    with open(path, "rb") as f:
        return f.read().count(bytes([0x22, len(op)]) + op.encode())


@torch.no_grad()
def run_torch(model, x):
    """Outputs of model on x (float32 NCHW); a float64 model computes in float64
    and its outputs stay float64."""
    p = next(model.parameters())
    y = model(torch.from_numpy(x).to(p.dtype))
    y = y if isinstance(y, tuple) else (y,)
    return [t.numpy() for t in y]


def cmd_export(a):
    torch.set_num_threads(a.threads)
    wanted = a.models.split(",") if a.models else list(VARIANTS)
    for v in wanted:
        if v not in VARIANTS:
            die(f"unknown model '{v}' (have {', '.join(VARIANTS)})")
    os.makedirs(a.outdir, exist_ok=True)
    crops = {224: load_crops(a.crops224, 224), 112: load_crops(a.crops112, 112)}
    faces = {}
    if a.faces224 and a.faces112:
        faces = {224: load_crops(a.faces224, 224), 112: load_crops(a.faces112, 112)}
    n = min(len(c) for c in crops.values())
    if n < a.batch + 1:
        die(f"need at least {a.batch + 1} crops, got {n}")
    manifest = {"models": []}
    built = {}
    for vi, v in enumerate(wanted):
        arch, size, opset, style, outputs = VARIANTS[v]
        key = (arch, size)
        if key not in built:  # variants of one architecture share the weights
            built.clear()  # keep one model in memory (VGG16 is 0.5 GB, 1.1 GB in float64)
            built[key] = build(arch, normalize(arch, crops[size]))
        model = built[key]
        if not a.no_cases and ("model64", key) not in built:
            built[("model64", key)] = copy.deepcopy(model).double()
        model64 = built.get(("model64", key))
        onnx = os.path.join(a.outdir, v + ".onnx")
        if not a.no_export:
            export_onnx(model, onnx, size, opset, style, outputs)
        entry = {"name": v, "arch": arch, "onnx": onnx, "size": size, "opset": opset,
                 "style": style, "outputs": outputs, "cases": []}
        if style == "keep_bn" and not a.no_export:
            entry["batchnorm_nodes"] = op_count(onnx, "BatchNormalization")
            if entry["batchnorm_nodes"] == 0:
                die(f"{onnx}: no BatchNormalization node left (exporter folded them)")
        if not a.no_cases:
            sets = [("samples", crops[size])] + ([("faceapi", faces[size])] if faces else [])
            for sname, pool in sets:
                # A different run of consecutive crops per variant, and for batch
                # 1 the crop after it (not a slice of the batch).
                idx = [(vi + k) % len(pool) for k in range(min(a.batch, len(pool)))]
                for b, sel in ((len(idx), idx), (1, [(vi + len(idx)) % len(pool)])):
                    x = normalize(arch, pool[sel])
                    base = os.path.join(a.outdir, f"{v}.{sname}.b{b}")
                    np.save(base + ".in.npy", x)
                    for k, y in enumerate(run_torch(model, x)):
                        np.save(f"{base}.torch_{k}.npy", y)
                    for k, y in enumerate(run_torch(model64, x)):
                        np.save(f"{base}.torch64_{k}.npy", y)
                    entry["cases"].append({"id": os.path.basename(base), "set": sname,
                                           "batch": b, "crops": sel, "input": base + ".in.npy",
                                           "prefix": base + ".csm"})
        manifest["models"].append(entry)
        print(f"torch_models: {v}: {arch} {size}x{size}, opset {opset}, {style}, "
              f"{len(entry['cases'])} cases", file=sys.stderr)
    with open(os.path.join(a.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def read_manifest(outdir):
    path = os.path.join(outdir, "manifest.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        die(f"{path}: {e}")


def cmd_cases(a):
    for m in read_manifest(a.outdir)["models"]:
        for c in m["cases"]:
            print(m["onnx"], c["input"], c["prefix"])


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def cmd_compare(a):
    failures = []
    rows = []
    for m in read_manifest(a.outdir)["models"]:
        for c in m["cases"]:
            base = os.path.join(a.outdir, c["id"])
            # Names and order of the outputs, where csm's --json listing is there.
            try:
                with open(c["prefix"] + ".json") as f:
                    names = [o["name"] for o in json.load(f)["outputs"]]
                if names != m["outputs"]:
                    failures.append(f"{c['id']}: csm's outputs are {names}, the model's {m['outputs']}")
            except (OSError, ValueError, KeyError, TypeError):
                pass
            for k, name in enumerate(m["outputs"]):
                got_f = f"{c['prefix']}_{k}.npy"
                if not os.path.exists(got_f):
                    failures.append(f"{c['id']}:{name}: csm output missing ({got_f})")
                    continue
                ref = np.load(f"{base}.torch64_{k}.npy").astype(np.float64)
                t32 = np.load(f"{base}.torch_{k}.npy").astype(np.float64)
                got = np.load(got_f)
                if got.dtype != np.float32:
                    failures.append(f"{c['id']}:{name}: csm wrote {got.dtype}, not float32")
                got = got.astype(np.float64)
                if got.shape != ref.shape:
                    failures.append(f"{c['id']}:{name}: shape {list(got.shape)}, torch {list(ref.shape)}")
                    continue
                checks = [(name, got, ref, t32, True)]
                if name == "logits":
                    # The class probabilities, from each side's logits: shown, not
                    # checked (VGG16's in-graph "probs" output is checked). They
                    # weigh the largest logits' absolute errors, about twice the
                    # logits' relative error here; MobileNetV2's float32 noise
                    # alone reaches 7e-5 on them (see the module docstring).
                    checks.append(("softmax(logits)*", softmax(got), softmax(ref), softmax(t32),
                                   False))
                for what, g, r, r32, checked in checks:
                    if not np.all(np.isfinite(g)):
                        failures.append(f"{c['id']}:{what}: non-finite values in csm's output")
                        continue
                    rel = rel_l2(g, r)
                    # Spread over the batch: std across items / rms of the output.
                    spread = (float(r.std(axis=0).mean() / np.sqrt((r ** 2).mean()))
                              if r.shape[0] > 1 else float("nan"))
                    rows.append((f"{c['id']}:{what}", list(r.shape), rel, rel_l2(g, r32),
                                 rel_l2(r32, r), float(np.abs(g - r).max()), float(np.abs(r).max()),
                                 spread))
                    if checked and not rel <= a.tol:
                        failures.append(f"{c['id']}:{what}: relative L2 error {rel:.3g} > {a.tol:g}")
    w = max([len(r[0]) for r in rows] + [10])
    print(f"{'case:output'.ljust(w)} {'shape':>10} {'rel err':>9} {'vs f32':>9} {'f32 noise':>9} "
          f"{'max abs err':>11} {'max |ref|':>9} {'spread':>6}")
    for label, shape, rel, rel32, noise, mae, mx, spread in rows:
        sp = "-" if np.isnan(spread) else f"{spread:.2f}"
        print(f"{label.ljust(w)} {str(shape).replace(' ', ''):>10} {rel:9.2e} {rel32:9.2e} "
              f"{noise:9.2e} {mae:11.2e} {mx:9.3g} {sp:>6}")
    print(f"(rel err = ||csm - ref|| / ||ref|| over the whole output, ref = PyTorch in float64 (the "
          f"same module, .double()), tolerance {a.tol:g}; vs f32: the same against PyTorch in "
          "float32; f32 noise: PyTorch float32 vs float64, what float32 rounding alone costs; "
          "max abs err: csm vs ref; spread: mean std over the batch / rms of ref, the "
          "input-dependent share; * shown, not checked)")
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--outdir", required=True)
    e.add_argument("--crops224", required=True)
    e.add_argument("--crops112", required=True)
    e.add_argument("--faces224")
    e.add_argument("--faces112")
    e.add_argument("--models", help="comma-separated variants (default: all)")
    e.add_argument("--batch", type=int, default=3)
    e.add_argument("--threads", type=int, default=int(os.environ.get("CSM_THREADS", "2")))
    e.add_argument("--no-cases", action="store_true", help="export the models only")
    e.add_argument("--no-export", action="store_true", help="cases only (models already there)")
    c = sub.add_parser("compare")
    c.add_argument("--outdir", required=True)
    c.add_argument("--tol", type=float, default=1e-4)
    s = sub.add_parser("cases")
    s.add_argument("--outdir", required=True)
    a = p.parse_args()
    if a.cmd == "export":
        cmd_export(a)
        return 0
    if a.cmd == "cases":
        cmd_cases(a)
        return 0
    return cmd_compare(a)


if __name__ == "__main__":
    sys.exit(main())
