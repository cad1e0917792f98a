#!/usr/bin/env bash
# csm reproject: the CLI contract. A canonical map that is a known linear
# function f(u, v) = 3 + u + 2 v (written with numpy) reprojected onto the
# faces of a sample photo: one image-size float32 .npy per face, finite on
# the face and NaN elsewhere, values inside f's range over the canonical
# face; one overlay PNG per image; count.npy beside the map masks pixels;
# --json; bad input (not a .npy, a 3-D or non-square or NaN map, a missing
# image, an image without a face) exits 2 with one line on stderr and no
# output; usage errors exit 1. Skips (77) without the models or numpy.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
samples=${CSM_SAMPLES_DIR:?}
for f in facemesh blazeface-back blazeface-front; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
# numpy: the first python3 on PATH that has it, else the system one.
py=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "python3 with numpy not found: skipped"; exit 77; }
mkdir -p "${CSM_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${CSM_TEST_TMP:-/tmp}/csm-reproject.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CSM_MODELS_DIR=$models
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
img=$samples/sample2.jpg

"$py" - "$tmp" <<'PY'
import os, sys
import numpy as np
d = sys.argv[1]
n = 128
v, u = np.mgrid[0:n, 0:n].astype(np.float64) + 0.5
np.save(f"{d}/lin.npy", (3 + u + 2 * v).astype(np.float32))
os.makedirs(f"{d}/run")
np.save(f"{d}/run/cms.npy", (3 + u + 2 * v).astype(np.float32))
count = np.ones((n, n), np.float32)
count[:, n // 2:] = 0  # the right half has no value
np.save(f"{d}/run/count.npy", count)
np.save(f"{d}/rank3.npy", np.zeros((2, n, n), np.float32))
np.save(f"{d}/rect.npy", np.zeros((n, n + 1), np.float32))
bad = (3 + u + 2 * v).astype(np.float32)
bad[5, 7] = np.nan
np.save(f"{d}/nan.npy", bad)
open(f"{d}/text.npy", "w").write("not a numpy file\n")
np.save(f"{d}/u8.npy", np.zeros((n, n), np.uint8))
os.makedirs(f"{d}/badcount")
np.save(f"{d}/badcount/cms.npy", (3 + u + 2 * v).astype(np.float32))
np.save(f"{d}/badcount/count.npy", np.ones((n // 2, n // 2), np.float32))
PY
# A faceless image: a flat grey 64 x 48 PNG, written by hand.
"$py" - "$tmp/blank.png" <<'PY'
import struct, sys, zlib
w, h = 64, 48
raw = b"".join(b"\x00" + bytes([120, 120, 120]) * w for _ in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY

# ---- usage ------------------------------------------------------------------
"$csm" reproject --help | grep -q "usage: csm reproject" || fail "--help"
"$csm" reproject "$img" -o "$tmp/u" >/dev/null 2>&1; [ $? = 1 ] || fail "no --cms: want exit 1"
"$csm" reproject --cms "$tmp/lin.npy" -o "$tmp/u" >/dev/null 2>&1; [ $? = 1 ] || fail "no image: want exit 1"
"$csm" reproject --cms "$tmp/lin.npy" "$img" >/dev/null 2>&1; [ $? = 1 ] || fail "no -o: want exit 1"
"$csm" reproject --cms "$tmp/lin.npy" "$img" -o "$tmp/u" --alpha 2 >/dev/null 2>&1
[ $? = 1 ] || fail "--alpha 2: want exit 1"
"$csm" reproject --cms "$tmp/lin.npy" "$img" -o "$tmp/u" --bogus >/dev/null 2>&1
[ $? = 1 ] || fail "unknown option: want exit 1"
[ -e "$tmp/u" ] && fail "usage errors: want no output folder"

# ---- a linear map on sample2 -------------------------------------------------
"$csm" reproject --cms "$tmp/lin.npy" "$img" -o "$tmp/out" --json --alpha 0.5 >"$tmp/out.json" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] || { fail "reproject sample2: exit $rc: $(cat "$tmp/err")"; }
for f in sample2.png sample2_face1.npy sample2_face2.npy sample2_face3.npy; do
  [ -s "$tmp/out/$f" ] || fail "missing $f"
done
"$py" - "$tmp" "$img" <<'PY' || fail "values of the linear map"
import json, sys
import numpy as np
d, img = sys.argv[1], sys.argv[2]
j = json.load(open(f"{d}/out.json"))
assert j["size"] == [128, 128], j["size"]
faces = j["images"][0]["faces"]
assert len(faces) >= 3 and j["images"][0]["png"].endswith("/sample2.png")
# f over the canonical raster: 3 + u + 2v for u, v in [0, 128].
lo, hi = 3.0, 3 + 128 + 2 * 128
seen = None
for k, f in enumerate(faces, 1):
    a = np.load(f"{d}/out/sample2_face{k}.npy")
    assert a.dtype == np.float32 and a.ndim == 2, (a.dtype, a.shape)
    if seen is None:
        seen = np.zeros(a.shape, bool)
    fin = np.isfinite(a)
    assert fin.sum() == f["pixels"] > 5000, (fin.sum(), f["pixels"])
    v = a[fin]
    assert lo <= v.min() and v.max() <= hi, (v.min(), v.max())
    assert abs(v.min() - f["min"]) < 1e-3 * hi and abs(v.mean() - f["mean"]) < 1e-3 * hi
    # Finite only inside the face's box (enlarged: the mesh reaches past the
    # detector's tight box), NaN elsewhere.
    x, y, w, h = f["box"]
    ys, xs = np.nonzero(fin)
    assert xs.min() >= x - w and xs.max() <= x + 2 * w and ys.min() >= y - h and ys.max() <= y + 2 * h
    # The map is smooth on the face: neighbouring pixels differ by little
    # (a face is ~250 px wide here and f grows by ~3 per canonical pixel).
    dx = np.abs(np.diff(a, axis=1))
    assert np.nanpercentile(dx, 99) < 10, np.nanpercentile(dx, 99)
    # u grows to the image right on these faces: the subject's right side
    # (canonical u small) is on the image left.
    cols = np.nonzero(fin.any(axis=0))[0]
    left = np.nanmean(a[:, cols[: len(cols) // 4]])
    right = np.nanmean(a[:, cols[-len(cols) // 4:]])
    assert left < right, (left, right)
    seen |= fin
assert (~seen).sum() > 0.9 * seen.size  # most of the photo is off the faces
PY

# ---- count.npy beside the map ------------------------------------------------
"$csm" reproject --cms "$tmp/run/cms.npy" "$img" -o "$tmp/out2" 2>"$tmp/err" || fail "with count.npy: $(cat "$tmp/err")"
"$py" - "$tmp" <<'PY' || fail "count.npy masking"
import sys
import numpy as np
d = sys.argv[1]
a = np.load(f"{d}/out/sample2_face1.npy")
b = np.load(f"{d}/out2/sample2_face1.npy")
fa, fb = np.isfinite(a), np.isfinite(b)
assert fb.sum() < 0.8 * fa.sum() and fb.sum() > 0.2 * fa.sum(), (fa.sum(), fb.sum())
assert not (fb & ~fa).any()
# Away from the cut at u = 64 the values agree (f < 3 + 63 needs u < 63).
both = fa & fb
assert np.allclose(a[both][b[both] < 3 + 63], b[both][b[both] < 3 + 63], atol=1e-3)
PY

# ---- bad input: exit 2, one line, no output ----------------------------------
bad_case() {
  local name=$1; shift
  rm -rf "$tmp/bad"
  "$csm" reproject "$@" -o "$tmp/bad" >"$tmp/bout" 2>"$tmp/berr"
  local rc=$?
  [ $rc = 2 ] || fail "$name: want exit 2, got $rc ($(cat "$tmp/berr"))"
  [ "$(wc -l <"$tmp/berr")" = 1 ] || fail "$name: want one line on stderr, got: $(cat "$tmp/berr")"
  [ -s "$tmp/bout" ] && fail "$name: want nothing on stdout"
  [ -e "$tmp/bad" ] && fail "$name: want no output folder"
}
bad_case "not a .npy" --cms "$tmp/text.npy" "$img"
bad_case "missing map" --cms "$tmp/none.npy" "$img"
bad_case "3-D map" --cms "$tmp/rank3.npy" "$img"
bad_case "non-square map" --cms "$tmp/rect.npy" "$img"
bad_case "NaN in the map" --cms "$tmp/nan.npy" "$img"
bad_case "uint8 map" --cms "$tmp/u8.npy" "$img"
bad_case "count.npy of another shape" --cms "$tmp/badcount/cms.npy" "$img"
bad_case "missing image" --cms "$tmp/lin.npy" "$img" "$tmp/missing.jpg"
bad_case "image without a face" --cms "$tmp/lin.npy" "$img" "$tmp/blank.png"
grep -q "blank.png" "$tmp/berr" || fail "image without a face: the message names the file"

[ $fails = 0 ] && echo "reproject: all checks passed"
exit $((fails > 0))
