#!/usr/bin/env bash
# Memory bombs in model files (issue 15). A 200-byte ONNX ConstantOfShape
# [30000,30000] was computed at load time (3.6 GB) even for `csm models`;
# a model whose input is huge ran with gigabytes of activations. Now large
# constants are left to run time (CSM_MAX_FOLD_BYTES) and a run's memory,
# the weights and the folded constants are checked against the one memory
# limit (CSM_MAX_MEMORY / --max-memory): over it is exit 2 with one line
# "<file>: ... needs N bytes, limit M (--max-memory)". `ulimit -v` keeps a
# regression from taking the machine's memory, `timeout` from hanging.
# The models are written here by /usr/bin/python3 (protobuf by hand).
set -uo pipefail
csm=${CSM_BIN:?}
py=/usr/bin/python3
"$py" -c 'import numpy, PIL' 2>/dev/null || { echo "no $py with numpy and PIL: skipped"; exit 77; }
tmp=$(mktemp -d "${CSM_TEST_TMP:-/tmp}/model_memory.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0 passes=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# name, expected exit code, command...: run under a 3 GB address-space cap;
# on failure one line on stderr naming the model and nothing on stdout.
check() {
  local name=$1 want=$2 model=$3; shift 3
  (ulimit -v 3000000 && timeout 120 "$@") >out 2>err
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$name: exit $rc, want $want; stderr: $(head -c 300 err)"; return 1
  fi
  if [ "$want" != 0 ]; then
    [ "$(wc -l <err)" = 1 ] || { fail "$name: $(wc -l <err) error lines, want 1"; return 1; }
    [ -s out ] && { fail "$name: printed output on failure"; return 1; }
    grep -qF -- "$model" err || { fail "$name: stderr does not name $model: $(cat err)"; return 1; }
  fi
  passes=$((passes + 1))
}
has() { # name, file, text
  if grep -qF -- "$3" "$2"; then passes=$((passes + 1)); else fail "$1: $2 lacks '$3': $(cat "$2")"; fi
}

"$py" - <<'EOF' || { echo "FAIL making the files"; exit 1; }
import json, struct
import numpy as np

def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out

def field(num, payload):  # length-delimited
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def fint(num, v):
    return varint(num << 3) + varint(v)

def value_info(name, dims):  # float tensor
    shape = b"".join(field(1, fint(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, fint(1, 1) + field(2, shape)))

def tensor(name, dtype, dims, raw):
    return b"".join(fint(1, d) for d in dims) + fint(2, dtype) + field(8, name) + field(9, raw)

def attr_ints(name, vals):
    return field(1, name) + fint(20, 7) + b"".join(fint(8, v) for v in vals)

def attr_int(name, v):
    return field(1, name) + fint(20, 2) + fint(3, v)

def node(op, inputs, output, attrs=()):
    return (b"".join(field(1, i) for i in inputs) + field(2, output) + field(3, output)
            + field(4, op) + b"".join(field(5, a) for a in attrs))

def model(path, nodes, inits, inputs, outputs):
    g = (b"".join(field(1, n) for n in nodes) + field(2, "g")
         + b"".join(field(5, t) for t in inits)
         + b"".join(field(11, value_info(n, d)) for n, d in inputs)
         + b"".join(field(12, field(1, n)) for n in outputs))
    open(path, "wb").write(fint(1, 8) + field(7, g) + field(8, fint(2, 13)))

def shape_init(name, dims):
    return tensor(name, 7, [len(dims)], struct.pack("<%dq" % len(dims), *dims))

# ConstantOfShape [30000, 30000]: 3.6 GB from a ~200-byte file.
model("cos.onnx", [node("ConstantOfShape", ["shape"], "y")], [shape_init("shape", [30000, 30000])],
      [("x", [1, 3])], ["y"])
# ConstantOfShape(1.0) [5000, 5000] (100 MB, over the 64 MiB fold limit)
# averaged to a scalar: computed at run time, still right.
one = field(1, "value") + fint(20, 4) + field(5, tensor("v", 1, [1], struct.pack("<f", 1.0)))
model("mean.onnx",
      [node("ConstantOfShape", ["shape"], "c", [one]),
       node("ReduceMean", ["c"], "y", [attr_ints("axes", [0, 1]), attr_int("keepdims", 0)])],
      [shape_init("shape", [5000, 5000])], [("x", [1, 3])], ["y"])
# 4 MB of weights.
model("weights.onnx", [node("Relu", ["w"], "y")],
      [tensor("w", 1, [1 << 20], np.zeros(1 << 20, np.float32).tobytes())], [("x", [1, 3])], ["y"])
np.save("x.npy", np.zeros((1, 3), np.float32))

# TF.js: a [1,2000,2000,3] image input, a 3x3 convolution to 16 channels
# (256 MB of activations) and their mean: a small output from a big run.
def tfnode(name, op, inputs=(), attr=None):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr or {}}
nodes = [
    tfnode("x", "Placeholder", attr={"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [
        {"size": "1"}, {"size": "2000"}, {"size": "2000"}, {"size": "3"}]}}}),
    tfnode("w", "Const", attr={"dtype": {"type": "DT_FLOAT"}}),
    tfnode("axes", "Const", attr={"dtype": {"type": "DT_INT32"}}),
    tfnode("conv", "Conv2D", ["x", "w"], {"strides": {"list": {"i": ["1", "1", "1", "1"]}},
                                          "padding": {"s": "U0FNRQ=="}}),
    tfnode("y", "Mean", ["conv", "axes"]),
]
manifest = [{"paths": ["big.bin"], "weights": [
    {"name": "w", "shape": [3, 3, 3, 16], "dtype": "float32"},
    {"name": "axes", "shape": [2], "dtype": "int32"}]}]
json.dump({"modelTopology": {"node": nodes}, "weightsManifest": manifest}, open("big.json", "w"))
open("big.bin", "wb").write(np.full(432, 0.01, np.float32).tobytes()
                            + np.array([1, 2], np.int32).tobytes())
from PIL import Image
Image.new("RGB", (64, 64), (128, 128, 128)).save("grey.png")
EOF

# Loading and listing compute no big constant.
check cos-models 0 cos.onnx "$csm" models --model cos.onnx
has cos-models out "cos.onnx"
# Running it is refused before anything is allocated.
check cos-infer 2 cos.onnx env CSM_MAX_MEMORY=200M "$csm" infer --model cos.onnx --npy x.npy
has cos-infer err "needs 3600000"
has cos-infer err "limit 209715200 (--max-memory)"
check cos-infer-flag 2 cos.onnx "$csm" --max-memory 1G infer --model cos.onnx --npy x.npy
has cos-infer-flag err "limit 1073741824 (--max-memory)"
# A constant over the fold limit is computed at run time, within the limit.
check mean-infer 0 mean.onnx env CSM_MAX_MEMORY=1G "$csm" infer --json --model mean.onnx --npy x.npy
has mean-infer out '"data": [1]'
# A run's activations.
check big-infer 2 big.json env CSM_MAX_MEMORY=200M "$csm" infer --model big.json grey.png
has big-infer err "big.json: a run on input [1,2000,2000,3] needs"
# The input batch itself (2000 x 2000 x 3 floats, 48 MB) is checked before
# it is allocated, not only the run's activations after it.
check big-input 2 big.json env CSM_MAX_MEMORY=40M "$csm" infer --model big.json grey.png
has big-input err "big.json: the model's input batch needs 48000000 bytes"
check big-infer-fits 0 big.json env CSM_MAX_MEMORY=1G "$csm" infer --json --model big.json grey.png
# Weights.
check weights 2 weights.onnx env CSM_MAX_MEMORY=2M "$csm" models --model weights.onnx
has weights err "weights (up to initializer 'w') needs 4194304 bytes"
check weights-tfjs 2 big.json env CSM_MAX_MEMORY=1K "$csm" models --model big.json
has weights-tfjs err "big.json: weights (up to 'w') needs 1728 bytes, limit 1024"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
