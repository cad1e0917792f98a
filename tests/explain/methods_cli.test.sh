#!/usr/bin/env bash
# csm compare, eval and sanity from the command line, on gender-64 (small
# and fast) and the built-in sample photos: the files and JSON each writes,
# eval's table recomputed here from its per-face confidences (Eq. 11-13 in
# numpy, independently of src/eval), sanity's structure, csm models
# --layers, and the one-line errors (exit 1 usage, 2 input) with nothing
# written. Skips (77) without the models or samples.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
samples=${CSM_SAMPLES_DIR:?}
for f in gender blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
[ -f "$samples/sample1.jpg" ] || { echo "no sample photos: skipped"; exit 77; }
py=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-methods-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
fast=(--centres grid --stride 24 --quiet)
img=$samples/sample2.jpg

# ---- compare ----------------------------------------------------------------
"$csm" compare --task gender-64 "${fast[@]}" --samples 4 "$img" -o "$tmp/cmp" 2>"$tmp/err" ||
  fail "compare: $(cat "$tmp/err")"
grep -q "CAM layer" "$tmp/err" || fail "compare does not report the CAM layer"
"$py" - "$tmp/cmp" <<'PY' || fail "compare outputs"
import json, os, sys
import numpy as np
d = sys.argv[1]
run = json.load(open(os.path.join(d, "compare.json")))
want = ["cis", "gradcam", "gradcam++", "scorecam", "occlusion", "gradient", "smoothgrad"]
assert run["methods"] == want, run["methods"]
assert run["layer"], run
assert len(run["faces"]) >= 1
for f in run["faces"]:
    assert os.path.getsize(os.path.join(d, f["png"])) > 1000
    for m in want:
        a = np.load(os.path.join(d, f["maps"][m]["npy"]))
        assert a.shape == (64, 64) and a.dtype == np.float32, (m, a.shape)
        assert np.isfinite(a).all(), m
        assert a.max() > a.min(), m  # not a flat map
    # The CAMs are ReLU'd, the gradient maps absolute values.
    for m in ["gradcam", "gradcam++", "scorecam", "gradient", "smoothgrad"]:
        assert np.load(os.path.join(d, f["maps"][m]["npy"])).min() >= 0, m
PY

# ---- eval -------------------------------------------------------------------
"$csm" cms --task gender-64 "${fast[@]}" "$samples/sample1.jpg" "$img" -o "$tmp/cms" 2>"$tmp/err" ||
  fail "cms: $(cat "$tmp/err")"
"$csm" eval --task gender-64 "${fast[@]}" --methods gradcam,occlusion,gradient --cms "$tmp/cms/cms.npy" \
  "$samples/sample1.jpg" "$img" --json -o "$tmp/eval" >"$tmp/eval.out" 2>"$tmp/err" ||
  fail "eval: $(cat "$tmp/err")"
"$py" - "$tmp/eval.out" "$tmp/eval/eval.json" <<'PY' || fail "eval results"
import json, sys
import numpy as np
out = json.load(open(sys.argv[1]))
full = json.load(open(sys.argv[2]))
names = ["cms", "gradcam", "occlusion", "gradient"]
assert list(out["methods"]) == names, list(out["methods"])
assert full["methods"] == out["methods"]
faces = [f for f in full["faces"] if f["y"] > 0]
assert out["n"] == len(faces) and out["n"] >= 2, (out["n"], len(faces))
y = np.array([f["y"] for f in faces], float)
o = np.array([[f["o"][m] for m in names] for f in faces], float)
for j, m in enumerate(names):
    got = out["methods"][m]
    drop = 100 * np.mean(np.maximum(0, y - o[:, j]) / y)          # Eq. 11
    inc = 100 * np.mean(o[:, j] > y)                              # Eq. 12
    win = 100 * np.mean(o[:, j] == o.min(axis=1))                 # Eq. 13, ties win
    assert abs(got["avg_drop"] - drop) < 1e-2, (m, got, drop)
    assert abs(got["increase"] - inc) < 1e-2, (m, got, inc)
    assert abs(got["win"] - win) < 1e-2, (m, got, win)
    dauc = np.mean([f["deletion_auc"][m] for f in faces])
    assert abs(got["deletion_auc"] - dauc) < 1e-4, (m, got, dauc)
    assert 0 <= got["deletion_auc"] <= 1 and 0 <= got["insertion_auc"] <= 1
PY
ls "$tmp/eval"/*_eval.png >/dev/null 2>&1 || fail "eval -o wrote no explanation images"
# The table form.
"$csm" eval --task gender-64 "${fast[@]}" --methods gradcam --cms "$tmp/cms/cms.npy" "$img" \
  >"$tmp/table" 2>/dev/null || fail "eval table"
grep -q "^gradcam " "$tmp/table" && grep -q "avg drop" "$tmp/table" || fail "eval table: $(cat "$tmp/table")"

# ---- sanity -----------------------------------------------------------------
"$csm" sanity --task gender-64 "${fast[@]}" --methods gradcam,gradient --steps 3 "$img" --json \
  -o "$tmp/san" >"$tmp/san.out" 2>"$tmp/err" || fail "sanity: $(cat "$tmp/err")"
"$py" - "$tmp/san.out" <<'PY' || fail "sanity results"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["layers"] == len(r["layer_names"]) and r["layers"] > 3, r["layers"]
assert r["randomized"][0] == 1 and r["randomized"][-1] == r["layers"] and len(r["randomized"]) == 3
for m in ["gradcam", "gradient"]:
    s = r["methods"][m]
    assert len(s["spearman"]) == 3 and len(s["ssim"]) == 3
    assert all(-1 <= v <= 1 for v in s["spearman"] + s["ssim"]), s
    assert s["pass"] == (s["spearman"][-1] < 0.5)
PY
ls "$tmp/san"/*_sanity_gradient.png >/dev/null 2>&1 || fail "sanity -o wrote no strips"

# ---- verify and identify (embed-faceres): every face of a sample its map ----
F=${CSM_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}/faceapi
[ -d "$F/amy" ] || fail "$F missing (tests/data is in the repository)"
if [ -f "$models/faceres.json" ]; then
  "$csm" compare --task verify --threshold 0.585 --methods gradcam,gradient --quiet \
    "$F/amy/amy1.png" "$F/amy/amy2.png" -o "$tmp/vcmp" 2>"$tmp/err" || fail "verify compare: $(cat "$tmp/err")"
  mkdir -p "$tmp/gallery/amy" "$tmp/gallery/howard"
  cp "$F/amy/amy2.png" "$tmp/gallery/amy/"
  cp "$F/howard/howard2.png" "$tmp/gallery/howard/"
  "$csm" compare --task identify --gallery "$tmp/gallery" --methods gradient --quiet \
    "$F/amy/amy1.png" -o "$tmp/icmp" 2>"$tmp/err" || fail "identify compare: $(cat "$tmp/err")"
  "$py" - "$tmp/vcmp" "$tmp/icmp" <<'PY' || fail "verify/identify maps"
import json, os, sys
import numpy as np
v = json.load(open(os.path.join(sys.argv[1], "compare.json")))
f = v["faces"][0]
assert f["explains"] == "genuine", f
for m in ["gradcam", "gradient"]:
    a = np.load(os.path.join(sys.argv[1], f["maps"][m]["npy"]))
    assert a.shape == (2, 224, 224), a.shape
    assert np.isfinite(a).all() and a[0].max() > 0 and a[1].max() > 0, m  # both faces explained
i = json.load(open(os.path.join(sys.argv[2], "compare.json")))
f = i["faces"][0]
assert f["explains"] == "amy", f
a = np.load(os.path.join(sys.argv[2], f["maps"]["gradient"]["npy"]))
assert a.shape == (224, 224) and a.max() > 0
PY
else
  echo "faceres not installed: verify/identify part skipped"
fi

# ---- models --layers ----------------------------------------------------------
"$csm" models --layers --model gender --json >"$tmp/layers.json" 2>"$tmp/err" ||
  fail "models --layers: $(cat "$tmp/err")"
"$py" - "$tmp/layers.json" "$tmp/cmp/compare.json" <<'PY' || fail "models --layers content"
import json, sys
layers = json.load(open(sys.argv[1]))
cam = [l for l in layers if l["cam"]]
assert len(cam) == 1 and cam[0]["name"] == json.load(open(sys.argv[2]))["layer"], cam
assert all(len(l["shape"]) == 4 for l in layers)
assert max(l["weighted"] for l in layers) > 3
PY

# ---- errors -------------------------------------------------------------------
expect() { # want_exit name command...
  local want=$1 name=$2
  shift 2
  "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  [ "$rc" = "$want" ] || fail "$name: exit $rc, want $want ($(cat "$tmp/err"))"
  [ "$(wc -l <"$tmp/err")" -le 1 ] || fail "$name: more than one line: $(cat "$tmp/err")"
}
expect 1 "eval without --cms" "$csm" eval --task gender-64 "$img"
expect 1 "unknown method" "$csm" compare --task gender-64 --methods gradcam,bogus "$img" -o "$tmp/x"
expect 1 "method twice" "$csm" compare --task gender-64 --methods gradcam,gradcam "$img" -o "$tmp/x"
expect 1 "cms without --cms" "$csm" compare --task gender-64 --methods cms "$img" -o "$tmp/x"
expect 1 "compare without -o" "$csm" compare --task gender-64 "$img"
expect 1 "bad --samples" "$csm" compare --task gender-64 --samples 0 "$img" -o "$tmp/x"
expect 1 "unknown layer" "$csm" compare --task gender-64 --methods gradcam --layer nope "$img" -o "$tmp/x"
"$py" -c 'import numpy as np; np.save("'"$tmp"'/small.npy", np.zeros((32, 32), np.float32))'
expect 2 "CMS of the wrong size" "$csm" eval --task gender-64 --methods gradcam --cms "$tmp/small.npy" "$img"
"$py" -c 'import numpy as np; a = np.zeros((256, 256), np.float32); a[3, 4] = np.nan; np.save("'"$tmp"'/nan.npy", a)'
expect 2 "CMS with NaN" "$csm" eval --task gender-64 --methods gradcam --cms "$tmp/nan.npy" "$img"
printf 'not a jpeg' >"$tmp/bad.jpg"
expect 2 "corrupt image" "$csm" compare --task gender-64 "$tmp/bad.jpg" -o "$tmp/bad-out"
[ ! -e "$tmp/bad-out" ] || fail "corrupt image: output folder written"
"$py" -c 'import numpy as np, sys; import struct' # numpy present
convert_gray() { "$py" - "$1" <<'PY'
import sys, zlib, struct
w = h = 64
raw = b"".join(b"\x00" + bytes([90]) * (w * 3) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
}
convert_gray "$tmp/noface.png"
expect 2 "no face" "$csm" sanity --task gender-64 "$tmp/noface.png" -o "$tmp/noface-out"
[ ! -e "$tmp/noface-out" ] || fail "no face: output folder written"

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
