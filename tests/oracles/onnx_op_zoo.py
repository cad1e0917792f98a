#!/usr/bin/env python3
"""Small PyTorch modules, exported to ONNX, with PyTorch's own outputs.

Each module exercises a group of ONNX operators (convolutions, activations,
pooling, shapes, matrices, resizing...). For every (module, opset) pair this
writes, under OUTDIR/<name>_op<opset>/:
  model.onnx   torch.onnx.export, dynamic batch axis
  in.npy       a random float32 input (batch 2), NCHW as the model declares
  out_<k>.npy  PyTorch's output k on that input (the oracle)
and OUTDIR/models.txt lists "<dir> <number of outputs>" per line.

Only torch and numpy are needed (not the onnx package). Weights and inputs
come from fixed seeds; modules run in eval mode.

usage: onnx_op_zoo.py OUTDIR [NAME...]
"""
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


def randomize_bn(m):
    """BatchNorm with non-trivial running statistics and affine parameters."""
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
            assert n > 0
    return m


class Convs(nn.Module):
    """Conv groups 1 / depthwise (multiplier 2) / grouped, dilation, strides,
    asymmetric padding through F.pad, no bias, and Conv + BN (folded by the
    exporter)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
        self.gr = nn.Conv2d(16, 12, 3, padding=2, dilation=2, groups=4, bias=False)
        self.asym = nn.Conv2d(12, 6, (3, 2))
        self.bn = nn.BatchNorm2d(6)
        self.pw = nn.Conv2d(6, 5, 1, stride=(1, 2))

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = self.dw(x)
        x = self.gr(x)
        x = F.pad(x, (1, 2, 0, 1))  # left, right, top, bottom
        x = self.bn(self.asym(x))
        return self.pw(x)


class ConvBN(nn.Module):
    """BatchNormalization nodes kept by the exporter: one after a Conv (to be
    folded by csm), one after a ReLU (a multiply-add), BN1d after a Linear."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 8 * 8, 10)
        self.bn3 = nn.BatchNorm1d(10)

    def forward(self, x):
        x = self.bn1(self.c(x))
        x = self.bn2(F.relu(x))
        y = self.bn3(self.fc(torch.flatten(x, 1)))
        return x, y


class ConvT(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.t1 = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.t2 = nn.ConvTranspose2d(4, 3, (2, 3), stride=(1, 2), bias=False)

    def forward(self, x):
        return self.t2(F.relu(self.t1(self.c(x))))


class Acts(nn.Module):
    """Every activation, on an NHWC value (after a conv) and on a rank-2
    value."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.prelu = nn.PReLU(4)
        self.prelu1 = nn.PReLU()
        self.prelu.weight.data.uniform_(0.05, 0.5)
        self.fc = nn.Linear(4 * 6 * 6, 16)

    def forward(self, x):
        x = self.c(x)
        outs = [
            F.relu(x),
            F.relu6(x * 4.0),
            F.hardswish(x * 3.0),
            F.hardsigmoid(x * 3.0),
            F.leaky_relu(x, 0.1),
            self.prelu(x),
            torch.sigmoid(x),
            torch.tanh(x),
            torch.clamp(x, -0.5, 0.7),
            torch.clamp(x, min=0.1),
            torch.exp(x * 0.5),
            torch.sqrt(torch.abs(x)),
            -x,
            torch.reciprocal(torch.abs(x) + 1.0),
            x.pow(2),
            torch.maximum(x, x * 0.5 - 0.1),
            torch.minimum(x, 1.0 - x),
            (x + 1.0) / (x * x + 2.0) - x * 0.5,
        ]
        f = self.fc(torch.flatten(x, 1))
        outs += [self.prelu1(f), F.hardswish(f), F.relu6(f), torch.sigmoid(f) * f]
        return tuple(outs)


class Softmaxes(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 5, 3, padding=1)
        self.fc = nn.Linear(3 * 6 * 6, 7)

    def forward(self, x):
        y = self.c(x)
        f = self.fc(x.flatten(1))
        return (
            F.softmax(y, dim=1),
            F.log_softmax(y * 2.0, dim=1),
            F.softmax(y, dim=2),
            F.softmax(f, dim=-1),
            F.log_softmax(f, dim=1),
        )


class Pools(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.c(x)
        return (
            F.max_pool2d(y, 3, stride=2, padding=1),
            F.max_pool2d(y, 2, stride=2, ceil_mode=True),
            F.max_pool2d(y, (3, 2), stride=(2, 3), padding=(1, 0), ceil_mode=True),
            F.avg_pool2d(y, 3, stride=2, padding=1, count_include_pad=True),
            F.avg_pool2d(y, 3, stride=2, padding=1, count_include_pad=False),
            F.avg_pool2d(y, 2, stride=2, ceil_mode=True, count_include_pad=False),
            F.avg_pool2d(y, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
            F.adaptive_avg_pool2d(y, 1),
            F.adaptive_avg_pool2d(y, (1, 1)).flatten(1),
            F.adaptive_max_pool2d(y, 1),
        )


class Shapes(nn.Module):
    """Concat, Split, Slice, Squeeze/Unsqueeze, Transpose, Reshape (also from
    x.shape), Flatten, Pad, reductions, F.normalize."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4, 8)

    def forward(self, x):
        y = self.c(x)
        a, b = torch.split(y, [2, 4], dim=1)
        c1, c2, c3 = torch.chunk(y, 3, dim=1)
        cat = torch.cat([b, a * 2.0, c2], dim=1)
        sl = y[:, 1:5, 1:-1, ::2]
        neg = y[:, :, -3:, 2:7]
        sq = y[:, 2:3].squeeze(1)
        un = sq.unsqueeze(-1).unsqueeze(1)
        perm = y.permute(0, 2, 3, 1)
        perm2 = y.permute(0, 3, 1, 2).contiguous()
        view = y.view(y.size(0), -1)
        resh = y.reshape(y.shape[0], y.shape[1], -1)
        flat = torch.flatten(y, 2)
        padded = F.pad(y, (2, 1, 1, 0), value=0.5)
        m1 = y.mean(dim=(2, 3))
        m2 = y.mean(dim=1, keepdim=True)
        s1 = y.sum(dim=(1, 3))
        mx = torch.amax(y, dim=(2,), keepdim=True)
        g = F.adaptive_avg_pool2d(y, (2, 2)).flatten(1)
        emb = F.normalize(self.fc(g), dim=1)
        t2 = g.reshape(-1, 6, 4).transpose(1, 2)
        return (cat, sl, neg, sq, un, perm, perm2, view, resh, flat, padded, m1, m2, s1, mx,
                emb, c1 + c3, t2)


class Matrices(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 9)
        self.nobias = nn.Linear(9, 5, bias=False)
        self.w = nn.Parameter(torch.randn(6, 7))
        self.fc3 = nn.Linear(7, 4)

    def forward(self, x):
        f = x.flatten(1)  # [N, 12]
        g = self.nobias(torch.relu(self.fc(f)))
        s = x.reshape(x.shape[0], 2, 6)  # [N, 2, 6]
        m = torch.matmul(s, self.w)  # 3-D x 2-D
        h = self.fc3(m)  # Linear on 3-D: MatMul + Add
        return g, m, h, torch.addmm(torch.ones(5), g, torch.eye(5) * 0.5, beta=0.25, alpha=2.0)


class Resizes(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.c(x)
        return (
            F.interpolate(y, scale_factor=2, mode="nearest"),
            F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False),
            F.interpolate(y, size=(13, 11), mode="bilinear", align_corners=True),
            F.interpolate(y, size=(12, 20), mode="bilinear", align_corners=False),
            F.interpolate(y, size=(9, 14), mode="nearest"),
        )


# name, module, input shape (batch 2, NCHW), opsets
MODELS = [
    ("convs", Convs, (2, 3, 17, 15), (11, 13)),
    ("convbn", ConvBN, (2, 3, 8, 8), (13,)),
    ("convt", ConvT, (2, 3, 7, 6), (13,)),
    ("acts", Acts, (2, 3, 6, 6), (11, 13, 17)),
    ("softmax", Softmaxes, (2, 3, 6, 6), (11, 13)),
    ("pools", Pools, (2, 3, 11, 10), (13,)),
    ("shapes", Shapes, (2, 3, 8, 10), (11, 13)),
    ("matrices", Matrices, (2, 3, 2, 2), (13,)),
    ("resizes", Resizes, (2, 3, 5, 6), (11, 13)),
]

# Exported without constant folding (BatchNormalization stays a node).
UNFOLDED = {"convbn"}


def export(name, cls, shape, opset, outdir):
    torch.manual_seed(1234)
    m = randomize_bn(cls()).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        outs = m(x)
    if not isinstance(outs, tuple):
        outs = (outs,)
    d = os.path.join(outdir, f"{name}_op{opset}")
    os.makedirs(d, exist_ok=True)
    out_names = [f"out{k}" for k in range(len(outs))]
    axes = {"x": {0: "batch"}}
    axes.update({n: {0: "batch"} for n in out_names})
    kwargs = {}
    if name in UNFOLDED:
        kwargs = dict(do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
    torch.onnx.export(m, (x,), os.path.join(d, "model.onnx"), input_names=["x"],
                      output_names=out_names, dynamic_axes=axes, opset_version=opset, **kwargs)
    np.save(os.path.join(d, "in.npy"), x.numpy().astype(np.float32))
    for k, o in enumerate(outs):
        np.save(os.path.join(d, f"out_{k}.npy"), o.numpy().astype(np.float32))
    return os.path.basename(d), len(outs)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    only = set(sys.argv[2:])
    os.makedirs(outdir, exist_ok=True)
    lines = []
    for name, cls, shape, opsets in MODELS:
        if only and name not in only:
            continue
        for opset in opsets:
            d, n = export(name, cls, shape, opset, outdir)
            lines.append(f"{d} {n}\n")
    with open(os.path.join(outdir, "models.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
