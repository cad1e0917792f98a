#!/usr/bin/env bash
# ONNX models from the command line, against PyTorch as the oracle: a small
# deterministic face classifier (conv+BN+ReLU+max-pool x3, global average
# pool, linear, 2 classes, 64x64 RGB, ImageNet mean/std) is exported to
# ONNX and run with --model m.onnx by csm models, infer, classify, cis,
# cms, compare, eval, sanity and report. Checked against torch on the same
# inputs: the preprocessing (mean/std, BGR) against numpy on a PNG crop,
# the class probabilities (1e-4), Grad-CAM maps and input gradients (rel.
# err. 1e-3), NCHW input vs channels-last input (same outputs), a model
# with a batch fixed at 1; and the errors (missing, malformed, unsupported
# operator, wrong input size: one line naming the file, exit 2, nothing
# written). Skips (77) without /usr/bin/python3 + torch, the face models
# or the sample photos.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
samples=${CSM_SAMPLES_DIR:?}
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "/usr/bin/python3 with torch, numpy and PIL not found: skipped"
  exit 77
fi
for f in blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
[ -f "$samples/sample1.jpg" ] || { echo "no sample photos: skipped"; exit 77; }
mkdir -p "${CSM_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${CSM_TEST_TMP:-/tmp}/csm-onnx-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
img=$samples/sample1.jpg
cd "$tmp" || exit 1

# ---- the PyTorch model ------------------------------------------------------
cat >facenet.py <<'PY'
import torch, torch.nn as nn

class FaceNet(nn.Module):
    """conv-BN-ReLU blocks with max-pooling, global average pool, linear."""
    def __init__(self):
        super().__init__()
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        self.features = nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32),
                                      nn.MaxPool2d(2), *block(32, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))

def fused(m):
    """The model as torch.onnx.export writes it: each BN folded into its conv."""
    import copy
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    f = copy.deepcopy(m)
    for k in (0, 4, 8):
        f.features[k] = fuse_conv_bn_eval(f.features[k], f.features[k + 1])
        f.features[k + 1] = nn.Identity()
    return f.eval()

def build():
    torch.manual_seed(0)
    m = FaceNet()
    with torch.no_grad():  # BN statistics that are not the identity
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
        m.fc.weight.mul_(8)  # probabilities away from 0.5
    return m.eval()

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PY
"$py" - <<'PY' 2>export.err || fail "torch.onnx.export: $(tail -3 export.err)"
import torch
from facenet import build
m = build()
x = torch.zeros(1, 3, 64, 64)
torch.onnx.export(m, x, "m.onnx", opset_version=13, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
torch.onnx.export(m, x, "m1.onnx", opset_version=13, input_names=["image"], output_names=["logits"])
# An operator csm does not have (GELU exports as Erf).
g = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU()).eval()
torch.onnx.export(g, torch.zeros(1, 3, 16, 16), "gelu.onnx", opset_version=13)
PY
[ -f m.onnx ] || { echo "no ONNX model exported"; exit 1; }
flags=(--model m.onnx --confidence softmax --classes a,b --mean 0.485,0.456,0.406
  --std 0.229,0.224,0.225)
fast=(--centres grid --stride 24 --quiet)

# ---- csm models ---------------------------------------------------------------
"$csm" models --model m.onnx --json >models.json 2>err || fail "models: $(cat err)"
"$csm" models --layers --model m.onnx --json >layers.json 2>err || fail "models --layers: $(cat err)"
"$py" - <<'PY' || fail "models output"
import json
m = json.load(open("models.json"))[0]
assert m["input"] == [-1, 3, 64, 64] and m["layout"] == "NCHW", m
assert m["outputs"] == [{"name": "logits", "shape": [1, 2]}], m
# Conv weights (BN folded in) + the linear layer.
assert m["params"] == 3 * 16 * 9 + 16 + 16 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 2 + 2, m
layers = json.load(open("layers.json"))
cam = [l for l in layers if l["cam"]]
assert len(cam) == 1 and cam[0]["shape"] == [1, 16, 16, 64], cam
assert "Relu" in cam[0]["name"], cam  # the file's own node name
# The three convs are weighted layers 4, 3, 2 from the output (1: the
# linear layer, not a feature map).
assert sorted(l["weighted"] for l in layers if l["weighted"]) == [2, 3, 4], layers
PY

# ---- classify: probabilities against torch on the same input -----------------
"$csm" classify "${flags[@]}" "$img" --json --save-input x.npy >cls.json 2>err ||
  fail "classify: $(cat err)"
"$py" - <<'PY' || fail "classify probabilities vs torch"
import json, numpy as np, torch
from facenet import build
m = build()
faces = json.load(open("cls.json"))["images"][0]["faces"]
x = np.load("x.npy")
assert x.shape == (len(faces), 64, 64, 3) and x.dtype == np.float32, x.shape
assert len(faces) >= 2, len(faces)
with torch.no_grad():
    p = torch.softmax(m(torch.from_numpy(x).permute(0, 3, 1, 2)), 1).numpy()
got = np.array([[f["scores"]["a"], f["scores"]["b"]] for f in faces])
err = np.abs(got - p).max()
print(f"classify: {len(faces)} faces, max |p_csm - p_torch| = {err:.2e}")
assert err <= 1e-4, (got, p)
PY

# A face crop as a 64x64 PNG, fed whole (--no-detect, --crop-scale 1: the
# identity warp): the input is exactly (p / 255 - mean) / std, computed here.
"$py" - "$img" <<'PY' || fail "face crop"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB").crop((392, 380, 644, 632))
im.resize((64, 64), Image.BILINEAR).save("face.png")
PY
one=(--no-detect --crop-scale 1)
"$csm" classify "${flags[@]}" "${one[@]}" face.png --json --save-input xf.npy >f.json 2>err ||
  fail "classify --no-detect: $(cat err)"
"$csm" classify --model m.onnx --confidence softmax --channels bgr --mean 0.406,0.456,0.485 \
  --std 0.225,0.224,0.229 "${one[@]}" face.png --json --save-input xb.npy >b.json 2>err ||
  fail "classify --channels bgr: $(cat err)"
"$csm" infer --model m.onnx --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 face.png \
  --save-input xi.npy --out inf >/dev/null 2>err || fail "infer on an image: $(cat err)"
"$py" - <<'PY' || fail "preprocessing vs numpy"
import json, numpy as np, torch
from PIL import Image
from facenet import build, MEAN, STD
p = np.asarray(Image.open("face.png").convert("RGB"), dtype=np.float64)
want = ((p / 255 - np.array(MEAN)) / np.array(STD))[None]
x = np.load("xf.npy")
err = np.abs(x - want).max()
print(f"mean/std preprocessing: max |x_csm - x_numpy| = {err:.2e}")
assert x.shape == (1, 64, 64, 3) and err <= 1e-5, (x.shape, err)
# BGR: the channels reversed, mean and std given in the model's order.
xb = np.load("xb.npy")
assert np.abs(xb[..., ::-1] - x).max() <= 1e-6, np.abs(xb[..., ::-1] - x).max()
# csm infer on the image: the same input (bilinear at the same size).
assert np.abs(np.load("xi.npy") - x).max() <= 1e-5
m = build()
with torch.no_grad():
    pt = torch.softmax(m(torch.from_numpy(want.astype(np.float32)).permute(0, 3, 1, 2)), 1)
    logits = m(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
s = json.load(open("f.json"))["images"][0]["faces"][0]["scores"]
err = max(abs(s["a"] - pt[0, 0].item()), abs(s["b"] - pt[0, 1].item()))
print(f"face.png: p_csm {s['a']:.6f}, p_torch {pt[0, 0].item():.6f}, diff {err:.2e}")
assert err <= 1e-4, (s, pt)
# BGR: the model got the reversed input; torch on it gives csm's scores.
with torch.no_grad():
    pb = torch.softmax(m(torch.from_numpy(xb.copy()).permute(0, 3, 1, 2)), 1)[0, 0].item()
assert abs(json.load(open("b.json"))["images"][0]["faces"][0]["scores"]["0"] - pb) <= 1e-4
assert np.abs(np.load("inf_0.npy") - logits).max() <= 1e-4
PY

# ---- infer: NCHW as declared vs channels-last, gradients vs torch autograd ----
"$py" - <<'PY' || fail "noisy inputs"
import numpy as np, torch
from facenet import build
m = build()

def min_gap(x):
    """The smallest relative gap between a max-pool window's two largest
    positive values: where it is at float rounding level, rounding decides
    which pixel the gradient goes to."""
    gap = 1.0
    with torch.no_grad():
        for k in (3, 7):  # the two MaxPool2d's inputs
            a = m.features[:k](torch.from_numpy(x).permute(0, 3, 1, 2))
            w = a.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2).sort(-1, descending=True)[0]
            pos = w[..., 0] > 0
            gap = min(gap, ((w[..., 0] - w[..., 1]) / w[..., 0].clamp_min(1e-30))[pos].min().item())
    return gap

# Two faces plus noise, chosen so that no max-pool window nearly ties.
x0 = np.load("x.npy")[:2]
for seed in range(1, 100):
    x = (x0 + np.random.default_rng(seed).uniform(-0.05, 0.05, x0.shape)).astype(np.float32)
    if min_gap(x) > 3e-6:
        break
else:
    raise SystemExit("no tie-free input found")
np.save("xn_nhwc.npy", x)
np.save("xn_nchw.npy", np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
PY
"$csm" infer --model m.onnx --npy xn_nchw.npy --out a --grad 0:1 >/dev/null 2>err ||
  fail "infer --npy NCHW: $(cat err)"
"$csm" infer --model m.onnx --npy xn_nhwc.npy --nhwc --out b --grad 0:1 >/dev/null 2>err ||
  fail "infer --npy --nhwc: $(cat err)"
"$csm" infer --model m1.onnx --npy xn_nchw.npy --out c --grad 0:1 >/dev/null 2>err ||
  fail "infer, batch fixed at 1: $(cat err)"
"$csm" infer --model m.onnx --npy xn_nhwc.npy >/dev/null 2>err
rc=$?
[ $rc -eq 2 ] && grep -q "64,64,3" err || fail "NHWC data for an NCHW model: rc $rc, $(cat err)"
"$py" - <<'PY' || fail "infer vs torch"
import numpy as np, torch
from facenet import build, fused
m = fused(build())
x = torch.from_numpy(np.load("xn_nchw.npy")).requires_grad_(True)
y = m(x)
y[:, 1].sum().backward()  # items do not mix: each item's d y[b, 1] / d x[b]
g = x.grad.numpy()
ya, yb, yc = np.load("a_0.npy"), np.load("b_0.npy"), np.load("c_0.npy")
ga, gb, gc = np.load("a_grad.npy"), np.load("b_grad.npy"), np.load("c_grad.npy")
assert ga.shape == g.shape and gb.shape == (2, 64, 64, 3), (ga.shape, gb.shape)
print(f"NCHW vs channels-last: max |y| diff {np.abs(ya - yb).max():.2e}, "
      f"grad diff {np.abs(ga.transpose(0, 2, 3, 1) - gb).max():.2e}")
assert np.abs(ya - yb).max() <= 1e-6 and np.abs(ga.transpose(0, 2, 3, 1) - gb).max() <= 1e-6
ye = np.abs(ya - y.detach().numpy()).max()
ge = np.abs(ga - g).max() / np.abs(g).max()
print(f"infer vs torch: logits max diff {ye:.2e}, input gradient rel. err. {ge:.2e}")
assert ye <= 1e-4 and ge <= 1e-3, (ye, ge)
assert np.abs(yc - ya).max() <= 1e-5 and np.abs(gc - ga).max() / np.abs(g).max() <= 1e-3
PY

# ---- cis, cms, report ---------------------------------------------------------
"$csm" cis "${flags[@]}" "${fast[@]}" "$img" -o cis 2>err || fail "cis: $(cat err)"
"$csm" cms "${flags[@]}" "${fast[@]}" "$img" "$samples/sample2.jpg" -o cms 2>err ||
  fail "cms: $(cat err)"
"$csm" report cis -o cis.html 2>err || fail "report: $(cat err)"
"$py" - <<'PY' || fail "cis/cms outputs"
import json, os, numpy as np
run = json.load(open("cis/run.json"))
assert run["model"] == "m.onnx", run["model"]
faces = run["faces"]
assert len(faces) >= 2
for f in faces:
    a = np.load(os.path.join("cis", f["cis"]))
    assert a.shape == (256, 256) and np.isfinite(a).all() and np.abs(a).max() > 0
c = np.load("cms/cms.npy")
assert c.shape == (256, 256) and np.isfinite(c).all() and np.abs(c).max() > 0
assert os.path.getsize("cis.html") > 10000
PY

# ---- compare: Grad-CAM and gradient maps against torch ------------------------
"$csm" compare "${flags[@]}" "${fast[@]}" --methods gradcam,gradient,cis "$img" -o cmp 2>err ||
  fail "compare: $(cat err)"
"$py" - <<'PY' || fail "compare vs torch"
import json, numpy as np, torch, torch.nn.functional as F
from facenet import build, fused
m = fused(build())
run = json.load(open("cmp/compare.json"))
assert "Relu" in run["layer"], run["layer"]  # the last conv block's output
cam_err, grad_ok = 0, []
for f in run["faces"]:
    cls = ["a", "b"].index(f["explains"])
    x = torch.from_numpy(np.load("cmp/" + f["x"])).permute(2, 0, 1)[None].contiguous()
    x.requires_grad_(True)
    acts = {}
    hook = m.features[10].register_forward_hook(lambda mod, i, o: acts.__setitem__("A", o))
    conf = torch.softmax(m(x), 1)[0, cls]
    hook.remove()
    A = acts["A"]
    A.retain_grad()
    conf.backward()
    w = A.grad[0].mean((1, 2))  # Grad-CAM: spatial mean of the gradient
    cam = F.relu((w[:, None, None] * A[0]).sum(0))
    cam = F.interpolate(cam[None, None], size=(64, 64), mode="bilinear", align_corners=False)
    cam = cam[0, 0].detach().numpy()
    got = np.load("cmp/" + f["maps"]["gradcam"]["npy"])
    cam_err = max(cam_err, np.abs(got - cam).max() / np.abs(cam).max())
    g = x.grad[0].abs().amax(0).numpy()  # vanilla gradient: max over channels of |d/dx|
    got = np.load("cmp/" + f["maps"]["gradient"]["npy"])
    # Flat (saturated) image regions tie in the first max-pool, where the
    # summation order of the conv decides which pixel gets the gradient;
    # infer's check above uses tie-free inputs.
    grad_ok.append((np.abs(got - g) <= 1e-3 * np.abs(g).max()).mean())
print(f"compare: Grad-CAM rel. err. {cam_err:.2e}; gradient maps within 1e-3: "
      + ", ".join(f"{100 * k:.1f}%" for k in grad_ok))
assert cam_err <= 1e-3, cam_err
assert min(grad_ok) >= 0.9, grad_ok
PY

# ---- eval and sanity ----------------------------------------------------------
"$csm" eval "${flags[@]}" "${fast[@]}" --methods gradcam,gradient --cms cms/cms.npy "$img" \
  --json -o ev >ev.out 2>err || fail "eval: $(cat err)"
"$py" - <<'PY' || fail "eval vs torch"
import json, numpy as np, torch
from facenet import build
m = build()
out = json.load(open("ev.out"))
assert out["n"] >= 2 and set(out["methods"]) == {"cms", "gradcam", "gradient"}, out
faces = json.load(open("ev/eval.json"))["faces"]
cmp = {f["face"]: f for f in json.load(open("cmp/compare.json"))["faces"]}
for f in faces:  # Y: the confidence on the original, on compare's input
    x = torch.from_numpy(np.load("cmp/" + cmp[f["face"]]["x"])).permute(2, 0, 1)[None]
    with torch.no_grad():
        p = torch.softmax(m(x), 1)[0, ["a", "b"].index(f["explains"])].item()
    assert abs(f["y"] - p) <= 1e-4, (f["y"], p)
PY
"$csm" sanity "${flags[@]}" "${fast[@]}" --steps 2 --methods gradcam "$img" --json >san.json \
  2>err || fail "sanity: $(cat err)"
grep -q '"gradcam"' san.json || fail "sanity JSON: $(head -c 300 san.json)"

# ---- verify: the model's output as an embedding ---------------------------
# A face paired with itself: cosine similarity 1, so the genuine pair's
# confidence is exactly 1 - t (Eq. 8); Grad-CAM explains both faces.
vflags=(--model m.onnx --confidence embedding --mean 0.485,0.456,0.406
  --std 0.229,0.224,0.225 --task verify --threshold 0.25)
"$csm" cis "${vflags[@]}" "${fast[@]}" "$img" "$img" -o ver 2>err || fail "verify cis: $(cat err)"
"$csm" compare "${vflags[@]}" "${fast[@]}" --methods gradcam "$img" "$img" -o vcmp 2>err ||
  fail "verify compare: $(cat err)"
"$py" - <<'PY' || fail "verify outputs"
import glob, json, numpy as np
faces = json.load(open("ver/run.json"))["faces"]
assert faces, "no faces"
for f in faces:
    assert f["label"] == "genuine" and abs(f["similarity"] - 1) <= 1e-5, f
    assert abs(f["base"] - 0.75) <= 1e-5, f
maps = glob.glob("vcmp/*_gradcam.npy")
assert maps, "no Grad-CAM maps"
for p in maps:
    a = np.load(p)
    assert a.shape[0] == 2 and np.isfinite(a).all() and np.abs(a).max() > 0, (p, a.shape)
print(f"verify: {len(faces)} self-pairs at similarity 1, {len(maps)} Grad-CAM pair maps")
PY

# ---- errors: one line naming the file, exit 2, nothing written -------------
head -c 300 m.onnx >trunc.onnx
for bad in missing.onnx trunc.onnx gelu.onnx; do
  for cmd in "models --model $bad" "infer --model $bad face.png" "classify --model $bad $img" \
    "cis --model $bad $img -o never"; do
    # shellcheck disable=SC2086
    "$csm" $cmd >out 2>err
    rc=$?
    [ $rc -eq 2 ] || fail "csm $cmd: exit $rc, want 2 ($(cat err))"
    [ "$(wc -l <err)" -eq 1 ] && grep -q "$bad" err || fail "csm $cmd: error '$(cat err)'"
    [ -s out ] && fail "csm $cmd printed output"
  done
done
grep -q "Erf" err || fail "unsupported operator not named: $(cat err)"
[ -e never ] && fail "a failed cis wrote its folder"
"$csm" classify --model m.onnx --input-size 112 "$img" >out 2>err
rc=$?
[ $rc -eq 2 ] && grep -q "\[-1,3,64,64\] (NCHW)" err ||
  fail "wrong --input-size: exit $rc, '$(cat err)'"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "onnx_cli: all checks passed"
