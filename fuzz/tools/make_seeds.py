#!/usr/bin/python3
"""Writes the seed corpora of fuzz/corpus/ that Python can make: TF.js and
ONNX models (hand-encoded: no onnx package needed), .npy files, JPEG and PNG
images (Pillow) and run folders (run.json + the files it names). The CMS
checkpoints and .mat files come from fuzz/tools/make_seeds.c (the library's
own writer and matio). Deterministic; rerun after changing it:

    /usr/bin/python3 fuzz/tools/make_seeds.py [fuzz/corpus]   (Debian's numpy and Pillow)

Multi-file inputs are joined with the harnesses' separator (FZ_SEP in
fuzz/fuzz_common.h)."""
import base64
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

SEP = b"\n--8<--\n"
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def join(*parts):
    return SEP.join(p if isinstance(p, bytes) else p.encode() for p in parts)


# ---- TF.js ----------------------------------------------------------------


def b64(s):
    return base64.b64encode(s.encode()).decode()


def dims(shape):
    return {"dim": [{"size": str(d)} for d in shape]}


def ph(name, shape):
    return {"name": name, "op": "Placeholder",
            "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": dims(shape)}}}


def const(name, shape, dt="DT_FLOAT"):
    return {"name": name, "op": "Const",
            "attr": {"dtype": {"type": dt}, "value": {"tensor": {"dtype": dt, "tensorShape": dims(shape)}}}}


def node(name, op, inputs, **attr):
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def il(*v):
    return {"list": {"i": [str(x) for x in v]}}


def sl(*v):
    return {"list": {"s": [b64(x) for x in v]}}


def s(v):
    return {"s": b64(v)}


def T():
    return {"type": "DT_FLOAT"}


class Weights:
    """Weight specs and their bytes, in manifest order."""

    def __init__(self):
        self.specs, self.data = [], b""

    def add(self, name, shape, values, dtype="float32", quant=None):
        a = np.asarray(values, dtype=np.float64).reshape(shape)
        spec = {"name": name, "shape": list(shape), "dtype": dtype}
        if dtype == "int32":
            self.data += a.astype("<i4").tobytes()
        elif quant is None:
            self.data += a.astype("<f4").tobytes()
        elif quant == "float16":
            spec["quantization"] = {"dtype": "float16"}
            self.data += a.astype("<f2").tobytes()
        else:
            lo, hi = float(a.min()), float(a.max())
            levels = 255 if quant == "uint8" else 65535
            scale = (hi - lo) / levels if hi > lo else 1.0
            q = np.round((a - lo) / scale)
            spec["quantization"] = {"dtype": quant, "scale": scale, "min": lo}
            self.data += q.astype("<u1" if quant == "uint8" else "<u2").tobytes()
        self.specs.append(spec)


def ramp(n, lo=-1.0, hi=1.0):
    return np.linspace(lo, hi, n)


def tfjs(nodes, w=None, shards=1, signature=None):
    j = {"format": "graph-model", "generatedBy": "csm fuzz seeds", "convertedBy": "hand",
         "modelTopology": {"node": nodes}}
    if signature:
        j["signature"] = signature
    parts = []
    if w is not None:
        cut = [len(w.data) * k // shards for k in range(shards + 1)]
        parts = [w.data[cut[k]:cut[k + 1]] for k in range(shards)]
        j["weightsManifest"] = [{"paths": ["w%d.bin" % (k + 1) for k in range(shards)],
                                 "weights": w.specs}]
    return join(json.dumps(j, separators=(",", ":")), *parts)


def tfjs_seeds():
    # A small CNN: fused conv, pooling, depthwise, PReLU, mean, fused matmul;
    # float32, float16 and uint8 weights over two shards.
    w = Weights()
    w.add("conv/filter", [3, 3, 3, 4], ramp(108))
    w.add("conv/bias", [4], ramp(4), quant="float16")
    w.add("dw/filter", [3, 3, 4, 1], ramp(36, -0.5, 0.5), quant="uint8")
    w.add("prelu/alpha", [4], [0.1, 0.2, 0.3, 0.25])
    w.add("mean/axes", [2], [1, 2], dtype="int32")
    w.add("fc/w", [4, 2], ramp(8), quant="uint16")
    w.add("fc/b", [2], [0.5, -0.5])
    nodes = [
        ph("input", [-1, 8, 8, 3]),
        const("conv/filter", [3, 3, 3, 4]), const("conv/bias", [4]), const("dw/filter", [3, 3, 4, 1]),
        const("prelu/alpha", [4]), const("mean/axes", [2], "DT_INT32"), const("fc/w", [4, 2]),
        const("fc/b", [2]),
        node("conv", "_FusedConv2D", ["input", "conv/filter", "conv/bias"], T=T(),
             strides=il(1, 1, 1, 1), padding=s("SAME"), data_format=s("NHWC"), dilations=il(1, 1, 1, 1),
             fused_ops=sl("BiasAdd", "Relu"), num_args={"i": "1"}),
        node("pool", "MaxPool", ["conv"], T=T(), ksize=il(1, 2, 2, 1), strides=il(1, 2, 2, 1),
             padding=s("VALID"), data_format=s("NHWC")),
        node("dw", "DepthwiseConv2dNative", ["pool", "dw/filter"], T=T(), strides=il(1, 1, 1, 1),
             padding=s("SAME"), data_format=s("NHWC"), dilations=il(1, 1, 1, 1)),
        node("prelu", "Prelu", ["dw", "prelu/alpha"], T=T()),
        node("mean", "Mean", ["prelu", "mean/axes"], T=T(), keep_dims={"b": False}),
        node("fc", "_FusedMatMul", ["mean", "fc/w", "fc/b"], T=T(), transpose_a={"b": False},
             transpose_b={"b": False}, fused_ops=sl("BiasAdd"), num_args={"i": "1"}),
        node("prob", "Softmax", ["fc"], T=T()),
        node("Identity", "Identity", ["prob"], T=T()),
    ]
    sig = {"inputs": {"input": {"name": "input:0", "dtype": "DT_FLOAT",
                                "tensorShape": dims([-1, 8, 8, 3])}},
           "outputs": {"prob": {"name": "Identity:0", "dtype": "DT_FLOAT",
                                "tensorShape": dims([-1, 2])}}}
    put("tfjs", "cnn", tfjs(nodes, w, shards=2, signature=sig))

    # Elementwise and movement ops on one chain.
    w = Weights()
    w.add("pads", [4, 2], [0, 0, 1, 1, 1, 1, 0, 0], dtype="int32")
    w.add("size", [2], [6, 6], dtype="int32")
    w.add("f1", [1, 1, 2, 3], ramp(6))
    w.add("b1", [3], [0.1, 0.2, 0.3])
    w.add("axis", [], [3], dtype="int32")
    w.add("begin", [4], [0, 1, 1, 0], dtype="int32")
    w.add("end", [4], [1, 5, 5, 6], dtype="int32")
    w.add("strides", [4], [1, 1, 1, 1], dtype="int32")
    w.add("two", [], [2.0])
    w.add("shape", [2], [1, -1], dtype="int32")
    w.add("raxis", [1], [1], dtype="int32")
    w.add("eaxis", [], [0], dtype="int32")
    nodes = [
        ph("x", [1, 4, 4, 2]),
        const("pads", [4, 2], "DT_INT32"), const("size", [2], "DT_INT32"), const("f1", [1, 1, 2, 3]),
        const("b1", [3]), const("axis", [], "DT_INT32"), const("begin", [4], "DT_INT32"),
        const("end", [4], "DT_INT32"), const("strides", [4], "DT_INT32"), const("two", []),
        const("shape", [2], "DT_INT32"), const("raxis", [1], "DT_INT32"), const("eaxis", [], "DT_INT32"),
        node("pad", "Pad", ["x", "pads"], T=T()),
        node("resize", "ResizeBilinear", ["pad", "size"], T=T(), align_corners={"b": False},
             half_pixel_centers={"b": True}),
        node("conv", "Conv2D", ["resize", "f1"], T=T(), strides=il(1, 1, 1, 1), padding=s("VALID"),
             data_format=s("NHWC"), dilations=il(1, 1, 1, 1)),
        node("bias", "Add", ["conv", "b1"], T=T()),
        node("relu6", "Relu6", ["bias"], T=T()),
        node("avg", "AvgPool", ["relu6"], T=T(), ksize=il(1, 1, 1, 1), strides=il(1, 1, 1, 1),
             padding=s("SAME"), data_format=s("NHWC")),
        node("cat", "ConcatV2", ["avg", "relu6", "axis"], T=T(), N={"i": "2"}),
        node("slice", "StridedSlice", ["cat", "begin", "end", "strides"], T=T(),
             begin_mask={"i": "0"}, end_mask={"i": "0"}, ellipsis_mask={"i": "0"},
             new_axis_mask={"i": "0"}, shrink_axis_mask={"i": "0"}),
        node("sig", "Sigmoid", ["slice"], T=T()),
        node("mul", "Mul", ["sig", "two"], T=T()),
        node("add", "AddV2", ["mul", "sig"], T=T()),
        node("sub", "Sub", ["add", "two"], T=T()),
        node("div", "RealDiv", ["sub", "two"], T=T()),
        node("sq", "Square", ["div"], T=T()),
        node("sqrt", "Sqrt", ["sq"], T=T()),
        node("exp", "Exp", ["sqrt"], T=T()),
        node("tanh", "Tanh", ["exp"], T=T()),
        node("neg", "Neg", ["tanh"], T=T()),
        node("abs", "Abs", ["neg"], T=T()),
        node("max", "Maximum", ["abs", "tanh"], T=T()),
        node("min", "Minimum", ["max", "two"], T=T()),
        node("leaky", "LeakyRelu", ["min"], T=T(), alpha={"f": 0.2}),
        node("cat4", "ConcatV2", ["leaky", "leaky", "axis"], T=T(), N={"i": "2"}),
        node("d2s", "DepthToSpace", ["cat4"], T=T(), block_size={"i": "2"}, data_format=s("NHWC")),
        node("reshape", "Reshape", ["d2s", "shape"], T=T()),
        node("sum", "Sum", ["reshape", "raxis"], T=T(), keep_dims={"b": True}),
        node("expand", "ExpandDims", ["sum", "eaxis"], T=T()),
        node("squeeze", "Squeeze", ["expand"], T=T(), squeeze_dims=il(0)),
        node("rmax", "Max", ["squeeze", "eaxis"], T=T(), keep_dims={"b": False}),
        node("out", "Identity", ["rmax"], T=T()),
    ]
    put("tfjs", "ops", tfjs(nodes, w))

    # Fused depthwise, PadV2, Pack, Shape, MatMul, Rsqrt, Div.
    w = Weights()
    w.add("dw", [3, 3, 2, 2], ramp(36))
    w.add("dwb", [4], [0, 0.5, 1, 1.5])
    w.add("pads", [4, 2], [0, 0, 1, 0, 0, 1, 0, 0], dtype="int32")
    w.add("cval", [], [0.5])
    w.add("shape", [2], [1, 100], dtype="int32")
    w.add("mm", [100, 3], ramp(300), quant="float16")
    w.add("paxis", [], [0], dtype="int32")
    nodes = [
        ph("x", [1, 4, 4, 2]),
        const("dw", [3, 3, 2, 2]), const("dwb", [4]), const("pads", [4, 2], "DT_INT32"),
        const("cval", []), const("shape", [2], "DT_INT32"), const("mm", [100, 3]),
        const("paxis", [], "DT_INT32"),
        node("padv2", "PadV2", ["x", "pads", "cval"], T=T()),
        node("fdw", "FusedDepthwiseConv2dNative", ["padv2", "dw", "dwb"], T=T(),
             strides=il(1, 1, 1, 1), padding=s("SAME"), data_format=s("NHWC"),
             dilations=il(1, 1, 1, 1), fused_ops=sl("BiasAdd", "Relu6"), num_args={"i": "1"}),
        node("sq", "Square", ["fdw"], T=T()),
        node("rs", "Rsqrt", ["sq"], T=T()),
        node("div", "Div", ["fdw", "rs"], T=T()),
        node("reshape", "Reshape", ["div", "shape"], T=T()),
        node("matmul", "MatMul", ["reshape", "mm"], T=T(), transpose_a={"b": False},
             transpose_b={"b": False}),
        node("shp", "Shape", ["matmul"], T=T()),
        node("pack", "Pack", ["matmul", "matmul"], T=T(), axis={"i": "0"}, N={"i": "2"}),
        node("out", "Identity", ["pack"], T=T()),
    ]
    put("tfjs", "ops2", tfjs(nodes, w, shards=3))

    # No weights at all.
    put("tfjs", "relu", tfjs([ph("x", [-1, 2, 2, 1]), node("y", "Relu", ["x"], T=T())]))
    # A real model's manifest (models/antispoof.json) without its shard.
    real = os.path.join(os.path.dirname(__file__), "..", "..", "models", "antispoof.json")
    if os.path.exists(real):
        with open(real) as f:
            j = json.load(f)
        for g in j.get("weightsManifest", []):
            g["paths"] = ["w1.bin"]
        put("tfjs", "antispoof-manifest", json.dumps(j, separators=(",", ":")).encode())


# ---- ONNX (protobuf wire format by hand) ------------------------------------


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fv(field, n):
    return varint(field << 3) + varint(n)


def fb(field, b):
    b = b.encode() if isinstance(b, str) else b
    return varint(field << 3 | 2) + varint(len(b)) + b


def ff(field, x):
    return varint(field << 3 | 5) + struct.pack("<f", x)


FLOAT, INT32, INT64 = 1, 6, 7


def tensor(name, shape, values, dt=FLOAT, how="raw", location=None):
    t = b"".join(fv(1, d) for d in shape) + fv(2, dt) + fb(8, name)
    a = np.asarray(values, dtype=np.float64).reshape(shape)
    np_dt = {FLOAT: "<f4", INT32: "<i4", INT64: "<i8"}[dt]
    raw = a.astype(np_dt).tobytes()
    if location is not None:
        t += fb(13, fb(1, "location") + fb(2, location)) + fb(13, fb(1, "offset") + fb(2, "0"))
        t += fb(13, fb(1, "length") + fb(2, str(len(raw)))) + fv(14, 1)
        return t, raw
    if how == "raw":
        t += fb(9, raw)
    elif dt == FLOAT:
        t += fb(4, a.astype("<f4").tobytes())  # packed float_data
    elif dt == INT32:
        t += fb(5, b"".join(varint(int(v)) for v in a.flat))
    else:
        t += fb(7, b"".join(varint(int(v)) for v in a.flat))
    return t


def value_info(name, shape, dt=FLOAT):
    dim = b"".join(fb(1, fb(2, d) if isinstance(d, str) else fv(1, d)) for d in shape)
    return fb(1, name) + fb(2, fb(1, fv(1, dt) + fb(2, dim)))


def attr_i(name, v):
    return fb(1, name) + fv(20, 2) + fv(3, v)


def attr_f(name, v):
    return fb(1, name) + fv(20, 1) + ff(2, v)


def attr_s(name, v):
    return fb(1, name) + fv(20, 3) + fb(4, v)


def attr_ints(name, vs):
    return fb(1, name) + fv(20, 7) + b"".join(fv(8, v) for v in vs)


def attr_t(name, t):
    return fb(1, name) + fv(20, 4) + fb(5, t)


def onode(op, inputs, outputs, *attrs, name=None):
    n = b"".join(fb(1, i) for i in inputs) + b"".join(fb(2, o) for o in outputs)
    n += fb(3, name or outputs[0]) + fb(4, op)
    return n + b"".join(fb(5, a) for a in attrs)


def model(nodes, inits, inputs, outputs, opset=13):
    g = b"".join(fb(1, n) for n in nodes) + fb(2, "g") + b"".join(fb(5, t) for t in inits)
    g += b"".join(fb(11, v) for v in inputs) + b"".join(fb(12, v) for v in outputs)
    return fv(1, 8) + fb(2, "csm-fuzz") + fb(7, g) + fb(8, fb(1, "") + fv(2, opset))


def onnx_seeds():
    # A small CNN in NCHW, as PyTorch exports it.
    inits = [tensor("W1", [4, 3, 3, 3], ramp(108)), tensor("B1", [4], ramp(4)),
             tensor("s", [4], [1, 1.1, 0.9, 1]), tensor("b", [4], [0, 0.1, 0, -0.1]),
             tensor("m", [4], [0, 0, 0.1, 0], how="floats"), tensor("v", [4], [1, 1, 1, 2]),
             tensor("W2", [4, 1, 3, 3], ramp(36)), tensor("lo", [], [0.0]), tensor("hi", [], [6.0]),
             tensor("Wf", [2, 4], ramp(8)), tensor("Bf", [2], [0.1, -0.1])]
    nodes = [
        onode("Conv", ["x", "W1", "B1"], ["c1"], attr_ints("kernel_shape", [3, 3]),
              attr_ints("pads", [1, 1, 1, 1]), attr_ints("strides", [1, 1])),
        onode("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"], attr_f("epsilon", 1e-5)),
        onode("Relu", ["bn"], ["r1"]),
        onode("MaxPool", ["r1"], ["p1"], attr_ints("kernel_shape", [2, 2]), attr_ints("strides", [2, 2])),
        onode("Conv", ["p1", "W2"], ["c2"], attr_i("group", 4), attr_ints("kernel_shape", [3, 3]),
              attr_s("auto_pad", "SAME_UPPER")),
        onode("Clip", ["c2", "lo", "hi"], ["r2"]),
        onode("GlobalAveragePool", ["r2"], ["gap"]),
        onode("Flatten", ["gap"], ["flat"], attr_i("axis", 1)),
        onode("Gemm", ["flat", "Wf", "Bf"], ["fc"], attr_i("transB", 1), attr_f("alpha", 1.0)),
        onode("Softmax", ["fc"], ["y"], attr_i("axis", 1)),
    ]
    put("onnx", "cnn.onnx", model(nodes, inits, [value_info("x", [1, 3, 8, 8])],
                                  [value_info("y", [1, 2])]))

    # Shape arithmetic and movement (opset 11: axes as attributes).
    inits = [tensor("shape", [3], [1, 2, -1], dt=INT64), tensor("starts", [1], [1], dt=INT64),
             tensor("ends", [1], [3], dt=INT64, how="ints"), tensor("axes", [1], [3], dt=INT64),
             tensor("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1], dt=INT64),
             tensor("roi", [8], [0, 0, 0, 0, 1, 1, 1, 1]), tensor("scales", [4], [1, 1, 2, 2]),
             tensor("half", [], [0.5]), tensor("idx", [], [0], dt=INT64)]
    nodes = [
        onode("Transpose", ["x"], ["t"], attr_ints("perm", [0, 1, 3, 2])),
        onode("Concat", ["x", "t"], ["cat"], attr_i("axis", 1)),
        onode("Slice", ["cat", "starts", "ends", "axes"], ["sl"]),
        onode("Pad", ["sl", "pads"], ["pad"], attr_s("mode", "constant")),
        onode("Resize", ["pad", "roi", "scales"], ["up"], attr_s("mode", "nearest"),
              attr_s("coordinate_transformation_mode", "asymmetric"), attr_s("nearest_mode", "floor")),
        onode("Mul", ["up", "half"], ["mul"]),
        onode("Sigmoid", ["mul"], ["sig"]),
        onode("ReduceMean", ["sig"], ["rm"], attr_ints("axes", [2]), attr_i("keepdims", 1)),
        onode("Reshape", ["rm", "shape"], ["rs"]),
        onode("Unsqueeze", ["rs"], ["us"], attr_ints("axes", [0])),
        onode("Squeeze", ["us"], ["y"], attr_ints("axes", [0])),
        onode("Shape", ["x"], ["shp"]),
        onode("Gather", ["shp", "idx"], ["n"], attr_i("axis", 0)),
        onode("Constant", [], ["k"], attr_t("value", tensor("k", [2], [3, 4], dt=INT64))),
        onode("ConstantOfShape", ["k"], ["z"], attr_t("value", tensor("v", [1], [0.25]))),
        onode("Cast", ["z"], ["y2"], attr_i("to", FLOAT)),
    ]
    put("onnx", "shape-ops.onnx",
        model(nodes, inits, [value_info("x", ["N", 2, 4, 4])],
              [value_info("y", [1, 2, 10]), value_info("y2", [3, 4])], opset=11))

    # Elementwise, reductions and matrix ops (opset 13: axes as inputs).
    inits = [tensor("two", [], [2.0]), tensor("W", [4, 3], ramp(12)), tensor("slope", [1], [0.1]),
             tensor("rax", [1], [1], dt=INT64), tensor("split", [2], [1, 1], dt=INT64),
             tensor("Wt", [2, 2, 2, 2], ramp(16)), tensor("eshape", [3], [2, 2, 3], dt=INT64)]
    nodes = [
        onode("Add", ["x", "two"], ["a"]), onode("Sub", ["a", "x"], ["b"]),
        onode("Div", ["x", "b"], ["c"]), onode("Pow", ["c", "two"], ["d"]),
        onode("Sqrt", ["d"], ["e"]), onode("Exp", ["e"], ["f"]), onode("Tanh", ["f"], ["g"]),
        onode("Neg", ["g"], ["h"]), onode("Abs", ["h"], ["i"]), onode("Reciprocal", ["f"], ["j"]),
        onode("LeakyRelu", ["x"], ["k"], attr_f("alpha", 0.1)),
        onode("HardSigmoid", ["k"], ["l"], attr_f("alpha", 0.2), attr_f("beta", 0.5)),
        onode("HardSwish", ["l"], ["m"]), onode("PRelu", ["m", "slope"], ["n"]),
        onode("Max", ["n", "i", "j"], ["o"]), onode("Min", ["o", "two"], ["p"]),
        onode("Sum", ["p", "x"], ["q"]), onode("Identity", ["q"], ["r"]),
        onode("MatMul", ["r", "W"], ["mm"]),
        onode("ReduceSum", ["mm", "rax"], ["rs"], attr_i("keepdims", 1)),
        onode("ReduceMax", ["mm"], ["rmax"], attr_ints("axes", [1]), attr_i("keepdims", 1)),
        onode("ReduceL2", ["mm"], ["rl2"], attr_ints("axes", [1]), attr_i("keepdims", 1)),
        onode("Add", ["rs", "rmax"], ["s1"]), onode("Add", ["s1", "rl2"], ["s2"]),
        onode("Expand", ["s2", "eshape"], ["ex"]),
        onode("LogSoftmax", ["ex"], ["y"], attr_i("axis", -1)),
        onode("Split", ["x", "split"], ["sp0", "sp1"], attr_i("axis", 0)),
        onode("Add", ["sp0", "sp1"], ["y2"]),
    ]
    put("onnx", "math-ops.onnx",
        model(nodes, inits, [value_info("x", [2, 4])], [value_info("y", [2, 2, 3]),
                                                       value_info("y2", [1, 4])]))

    # Pooling and transposed convolution.
    inits = [tensor("Wt", [2, 2, 2, 2], ramp(16)), tensor("Bt", [2], [0, 1])]
    nodes = [
        onode("ConvTranspose", ["x", "Wt", "Bt"], ["ct"], attr_ints("kernel_shape", [2, 2]),
              attr_ints("strides", [2, 2])),
        onode("AveragePool", ["ct"], ["ap"], attr_ints("kernel_shape", [3, 3]),
              attr_ints("pads", [1, 1, 1, 1]), attr_i("count_include_pad", 0)),
        onode("GlobalMaxPool", ["ap"], ["gm"]),
        onode("Dropout", ["gm"], ["y"]),
    ]
    put("onnx", "pool-ops.onnx", model(nodes, inits, [value_info("x", [1, 2, 3, 3])],
                                       [value_info("y", [1, 2, 1, 1])], opset=17))

    # External data: the initializer's bytes in data.bin next to the model.
    t, raw = tensor("W", [3, 2], ramp(6), location="data.bin")
    put("onnx", "external.onnx",
        join(model([onode("MatMul", ["x", "W"], ["y"])], [t], [value_info("x", [1, 3])],
                   [value_info("y", [1, 2])]), raw))


# ---- .npy -------------------------------------------------------------------


def npy(a, version=None):
    b = io.BytesIO()
    if version:
        np.lib.format.write_array(b, a, version=version)
    else:
        np.save(b, a)
    return b.getvalue()


def npy_seeds():
    put("npy", "f32-2x3.npy", npy(np.arange(6, dtype="<f4").reshape(2, 3)))
    put("npy", "i32-4.npy", npy(np.array([1, -2, 3, 4], dtype="<i4")))
    put("npy", "f64-2x2x2.npy", npy(np.linspace(-1, 1, 8).reshape(2, 2, 2)))
    put("npy", "f32-scalar.npy", npy(np.array(1.5, dtype="<f4")))
    put("npy", "f32-empty.npy", npy(np.zeros((0, 3), dtype="<f4")))
    put("npy", "f32-v2.npy", npy(np.ones((2, 2), dtype="<f4"), version=(2, 0)))
    put("npy", "f32-fortran.npy", npy(np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3))))
    put("npy", "f32-big-endian.npy", npy(np.arange(3, dtype=">f4")))
    put("npy", "i64.npy", npy(np.arange(3, dtype="<i8")))
    put("npy", "u8.npy", npy(np.arange(3, dtype="u1")))
    put("npy", "map-16x16.npy", npy(np.linspace(0, 1, 256, dtype="<f4").reshape(16, 16)))


# ---- images -----------------------------------------------------------------


def pixels(w, h):
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[..., 0] = np.linspace(0, 255, w)[None, :]
    a[..., 1] = np.linspace(0, 255, h)[:, None]
    a[..., 2] = 128
    return Image.fromarray(a, "RGB")


def encoded(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def image_seeds():
    rgb = pixels(8, 6)
    put("image", "rgb.png", encoded(rgb, "PNG"))
    put("image", "gray.png", encoded(rgb.convert("L"), "PNG"))
    put("image", "rgba.png", encoded(rgb.convert("RGBA"), "PNG"))
    put("image", "palette.png", encoded(rgb.convert("P"), "PNG"))
    put("image", "gray16.png", encoded(rgb.convert("L").convert("I;16"), "PNG"))
    put("image", "baseline.jpg", encoded(rgb, "JPEG", quality=75))
    put("image", "444.jpg", encoded(pixels(16, 16), "JPEG", quality=90, subsampling=0))
    put("image", "progressive.jpg", encoded(pixels(16, 8), "JPEG", quality=70, progressive=True))
    put("image", "gray.jpg", encoded(rgb.convert("L"), "JPEG", quality=80))
    for o in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = o
        put("image", "exif-orient%d.jpg" % o, encoded(pixels(6, 4), "JPEG", quality=60, exif=exif))


# ---- run folders (run.json, stability.csv, cms.png, face.png) ---------------


def runjson_seeds():
    png_small = encoded(pixels(4, 4), "PNG")
    png_wide = encoded(pixels(400, 2), "PNG")  # wider than a thumbnail: shrunk
    params = {"align": "facemesh", "centres": "grid", "stride": 8, "patch": 20, "fill": "zero",
              "canonical_size": 64}
    cms = {"csm_version": "0.1.0", "command": "cms", "task": "gender", "model": "<models>/x.json",
           "class": None, "parameters": params,
           "cms": {"images": 3, "npy": "cms.npy", "png": "cms.png", "stability": "stability.csv"},
           "faces": [{"image": "a.jpg", "face": 1, "box": [1, 2, 30, 40], "label": "female",
                      "confidence": "P(female)", "base": 0.75, "cis_png": "face.png",
                      "input_png": "face.png", "reprojection_png": "face.png"}],
           "failures": [{"image": "b.jpg", "reason": "no face found"}],
           "seconds": 12.5}
    # Not here: "reprojections": [{"image": "a.jpg", "png": "face.png"}] (the JPEG
    # encoder trips UBSan in stb_image_write.h:
    # fuzz/open-crashes/runjson/ubsan-stb-jpeg-shift-reprojections).
    stab = "images,correlation\n1,0.5\n2,0.75\n3,1\n"
    put("runjson", "cms-run", join(json.dumps(cms, separators=(",", ":")), stab, png_small, png_wide))
    cis = {"csm_version": "0.1.0", "command": "cis", "task": "expression", "class": "happy",
           "parameters": params,
           "faces": [{"image": "c.jpg", "face": 2, "label": "happy", "base": 0.9, "cis_png": "cms.png"}],
           "failures": []}
    put("runjson", "cis-run", join(json.dumps(cis, indent=1), "", png_small))
    put("runjson", "minimal", b'{"command":"cms","faces":[],"failures":[]}')
    golden = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "golden", "cms")
    if os.path.exists(os.path.join(golden, "run.json")):
        with open(os.path.join(golden, "run.json"), "rb") as f:
            j = json.load(f)
        with open(os.path.join(golden, "stability.csv"), "rb") as f:
            st = f.read()
        put("runjson", "golden-cms", join(json.dumps(j, separators=(",", ":")), st))


tfjs_seeds()
onnx_seeds()
npy_seeds()
image_seeds()
runjson_seeds()
