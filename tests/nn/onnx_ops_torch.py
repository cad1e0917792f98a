#!/usr/bin/env python3
"""PyTorch fixtures for test_ops_onnx_torch.c: the ops added for ONNX models.

Usage: onnx_ops_torch.py OUT_DIR. For each case writes OUT_DIR/<name>_x.npy
(the input, NHWC), _f.npy / _b.npy (ConvTranspose filter [Ci,KH,KW,Co] and
bias), _y.npy (PyTorch's output, NHWC), _dy.npy (a random output gradient)
and _dx.npy (PyTorch's input gradient for it), and one line per case in
OUT_DIR/manifest.txt: "<name> <op> key=value ..." (the csm attributes).
Exits 77 when torch or numpy is missing."""
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print("SKIP: %s" % e)
    sys.exit(77)

torch.manual_seed(1234)
torch.set_num_threads(1)
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
manifest = []


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)


def save(name, key, arr):
    np.save(os.path.join(out_dir, "%s_%s.npy" % (name, key)), np.ascontiguousarray(arr, dtype=np.float32))


def case(name, op, fn, x, attrs, extra=None, channels_last=True):
    """Runs fn(x) in PyTorch, with x in NCHW (or plain for rank < 4)."""
    x = x.clone().requires_grad_(True)
    y = fn(x)
    dy = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, dy)
    conv = nhwc if channels_last else (lambda t: t.detach().numpy().astype(np.float32))
    save(name, "x", conv(x))
    save(name, "y", conv(y))
    save(name, "dy", conv(dy))
    save(name, "dx", conv(dx))
    for key, arr in (extra or {}).items():
        save(name, key, arr)
    manifest.append("%s %s %s" % (name, op, " ".join("%s=%s" % kv for kv in attrs.items())))


def pair(v):
    return "%s,%s" % (v[0], v[1])


# ---- ConvTranspose ----------------------------------------------------------
def tconv(name, n, ci, h, w, co, k, stride, pad, out_pad, dil, bias=True):
    x = torch.randn(n, ci, h, w)
    wt = torch.randn(ci, co, k[0], k[1]) * 0.5
    b = torch.randn(co) if bias else None
    fn = lambda t: F.conv_transpose2d(t, wt, b, stride=stride, padding=pad, output_padding=out_pad,
                                      dilation=dil)
    extra = {"f": wt.permute(0, 2, 3, 1).contiguous().numpy()}
    if bias:
        extra["b"] = b.numpy()
    attrs = {"s": pair(stride), "d": pair(dil), "pads": "%d,%d,%d,%d" % (pad[0], pad[0], pad[1], pad[1]),
             "opad": pair(out_pad), "bias": int(bias)}
    case(name, "tconv", fn, x, attrs, extra)


tconv("tconv_s2_p1_op1", 2, 3, 5, 4, 4, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1))
tconv("tconv_dil2", 1, 4, 4, 5, 3, (3, 2), (2, 3), (2, 1), (1, 2), (2, 2))
tconv("tconv_k4_s2", 2, 8, 6, 6, 5, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), bias=False)
tconv("tconv_s1", 1, 2, 4, 3, 3, (2, 3), (1, 1), (0, 1), (0, 0), (1, 1))


# ---- pools --------------------------------------------------------------------
def pool(name, op, n, c, h, w, k, s, p, ceil, cip=False):
    x = torch.randn(n, c, h, w)
    if op == "avgpool":
        fn = lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    else:
        fn = lambda t: F.max_pool2d(t, k, s, p, ceil_mode=ceil)
    attrs = {"k": pair(k), "s": pair(s), "pads": "%d,%d,%d,%d" % (p[0], p[0], p[1], p[1]),
             "ceil": int(ceil), "cip": int(cip)}
    case(name, op, fn, x, attrs)


pool("avg_ceil_cip", "avgpool", 2, 3, 6, 7, (3, 3), (2, 2), (1, 1), True, True)
pool("avg_ceil_nocip", "avgpool", 2, 3, 6, 7, (3, 3), (2, 2), (1, 1), True, False)
pool("avg_floor_cip", "avgpool", 1, 2, 7, 6, (3, 2), (2, 2), (1, 1), False, True)
pool("avg_ceil_k2", "avgpool", 1, 2, 5, 5, (2, 2), (2, 2), (0, 0), True, True)
pool("avg_ceil_drop", "avgpool", 1, 2, 3, 4, (2, 2), (2, 2), (1, 1), True, True)
pool("max_ceil", "maxpool", 2, 3, 6, 7, (3, 3), (2, 2), (1, 1), True)
pool("max_ceil_k2", "maxpool", 1, 2, 5, 5, (2, 2), (2, 2), (0, 0), True)
pool("max_ceil_s3", "maxpool", 1, 2, 8, 7, (3, 2), (3, 3), (1, 1), True)


# ---- resize -------------------------------------------------------------------
def resize(name, op, n, c, h, w, size=None, scale=None, align=None):
    x = torch.randn(n, c, h, w)
    mode = "nearest" if op == "nearest" else "bilinear"
    kw = {"mode": mode}
    if mode == "bilinear":
        kw["align_corners"] = bool(align)
    if size is not None:
        kw["size"] = size
    else:
        kw["scale_factor"] = scale
    fn = lambda t: F.interpolate(t, **kw)
    attrs = {}
    if size is not None:
        attrs["size"] = pair(size)
    else:
        attrs["scale"] = pair(scale)
    if op == "nearest":
        attrs["mode"] = "floor"  # PyTorch's 'nearest' is ONNX asymmetric + floor
    elif align:
        attrs["align"] = 1
    else:
        attrs["half"] = 1  # align_corners=False is half_pixel
    case(name, op, fn, x, attrs)


resize("nearest_scale2", "nearest", 2, 3, 4, 5, scale=(2.0, 2.0))
resize("nearest_size_up", "nearest", 1, 2, 3, 4, size=(7, 9))
resize("nearest_size_down", "nearest", 1, 2, 7, 9, size=(3, 4))
resize("nearest_scale3", "nearest", 1, 2, 3, 2, scale=(3.0, 0.5))
resize("bilinear_half", "bilinear", 2, 3, 4, 5, size=(7, 8))
resize("bilinear_align", "bilinear", 1, 2, 4, 5, size=(7, 9), align=True)
resize("bilinear_scale2", "bilinear", 1, 2, 3, 4, scale=(2.0, 2.0))
resize("bilinear_scale2_align", "bilinear", 1, 2, 3, 4, scale=(2.0, 3.0), align=True)


# ---- elementwise ----------------------------------------------------------------
def unary(name, op, fn, x, attrs=None):
    case(name, op, fn, x, attrs or {}, channels_last=False)


xs = torch.linspace(-5.0, 5.0, 97).reshape(1, 97) + 0.013  # no sample on a kink
unary("hardswish", "hardswish", F.hardswish, xs)
unary("hardsigmoid", "hardsigmoid", F.hardsigmoid, xs, {"alpha": 1.0 / 6.0, "beta": 0.5})
unary("reciprocal", "reciprocal", torch.reciprocal, torch.rand(3, 11) + 0.5)
unary("log_softmax", "log_softmax", lambda t: F.log_softmax(t, dim=-1), torch.randn(4, 3, 10) * 4)
unary("log_softmax_big", "log_softmax", lambda t: F.log_softmax(t, dim=-1),
      torch.randn(2, 17) * 30 + 900)

with open(os.path.join(out_dir, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print("wrote %d cases to %s (torch %s)" % (len(manifest), out_dir, torch.__version__))
