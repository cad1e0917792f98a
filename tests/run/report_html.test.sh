#!/usr/bin/env bash
# csm report: the CLI contract and the page itself, on run folders made here
# by hand (docs/formats.md): embedded PNGs, no network references, escaped
# text, errors with no partial output; then the page rendered in headless
# Chromium (DOM and screenshot). Skips (77) without python3, and the browser
# part without chromium (after the other checks passed).
set -uo pipefail
csm=${CSM_BIN:?}
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
base=${CSM_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$base"
tmp=$(mktemp -d "$base/csm-report.XXXXXX")
# CSM_REPORT_KEEP=1 keeps the scratch folder (page, screenshot) for a look.
[ -n "${CSM_REPORT_KEEP:-}" ] && echo "keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- fake run folders: runs/gender (a cms run), runs/age (a cis run) -------
python3 - "$tmp/runs" <<'PY' || { echo "FAIL making the run folders"; exit 1; }
import json, os, struct, sys, zlib

def png(path, w, h, px):
    raw = b"".join(b"\0" + b"".join(bytes(px(x, y)) for x in range(w)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

red_blue = lambda x, y: (230, 20, 20) if x < 32 else (20, 40, 220)
ramp = lambda x, y: (x * 4 % 256, y * 4 % 256, 128)
root = sys.argv[1]
params = {"align": "facemesh", "centres": "mesh", "stride": 0, "patch_space": "canonical",
          "patch": 20, "footprint": 20, "fill": "zero", "canonical_size": 256}
def face(stem, image, k, label, base, reproj):
    f = {"image": image, "face": k, "box": [10, 20, 100, 120], "label": label,
         "confidence": "P(%s)" % label, "base": base, "centres": 468, "evaluated": 431,
         "seconds": 2.1, "cis": stem + ".npy", "cis_png": stem + ".png",
         "input": stem + "_input.npy", "input_png": stem + "_input.png"}
    if reproj:
        f["reprojection_png"] = stem + "_cms.png"
    return f

d = os.path.join(root, "gender")
os.makedirs(d)
faces = [face("a_face1", "photos/a.jpg", 1, "female", 0.97, True),
         face("b_face1", "photos/<script>alert(1)</script>&b.jpg", 1, "male", 0.88, False)]
for f in faces:
    for key in ("cis_png", "input_png", "reprojection_png"):
        if key in f:
            png(os.path.join(d, f[key]), 48, 48, ramp)
png(os.path.join(d, "cms.png"), 64, 64, red_blue)
png(os.path.join(d, "canonical.png"), 64, 64, ramp)
with open(os.path.join(d, "stability.csv"), "w") as fp:
    fp.write("images,correlation\n")
    for n, c in [(1, 0.31), (2, 0.52), (5, 0.74), (10, 0.86), (20, 0.95), (40, 1.0)]:
        fp.write("%d,%g\n" % (n, c))
json.dump({"csm_version": "0.1.0", "command": "cms", "task": "gender",
           "model": "models/faceres.json", "class": None, "parameters": params,
           "canonical_png": "canonical.png", "faces": faces,
           "failures": [{"image": "photos/c.jpg", "reason": "no face found"}],
           "cms": {"images": 40, "faces": 40, "npy": "cms.npy", "png": "cms.png",
                   "count": "count.npy", "stderr": "stderr.npy", "stability": "stability.csv",
                   "failures": "failures.csv"},
           "seconds": 81.2}, open(os.path.join(d, "run.json"), "w"), indent=1)

d = os.path.join(root, "age")
os.makedirs(d)
faces = [face("p_face1", "photos/p.jpg", 1, "old", 0.61, False)]
for key in ("cis_png", "input_png"):
    png(os.path.join(d, faces[0][key]), 48, 48, ramp)
png(os.path.join(d, "canonical.png"), 64, 64, ramp)
json.dump({"csm_version": "0.1.0", "command": "cis", "task": "age", "model": "models/gear.json",
           "class": "old", "parameters": params, "canonical_png": "canonical.png",
           "faces": faces, "failures": [], "seconds": 3.5},
          open(os.path.join(d, "run.json"), "w"), indent=1)
PY
runs=$tmp/runs

# Checks a page: embedded images, the number of <img> elements, nothing
# fetched from anywhere, escaped text.
check_page() { # FILE WANT_IMGS WHAT
  python3 - "$1" "$2" <<'PY' || fail "$3: page content"
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
want = int(sys.argv[2])
imgs = re.findall(r"<img\b[^>]*>", html)
assert len(imgs) == want, "want %d <img>, got %d" % (want, len(imgs))
for tag in imgs:
    assert 'src="data:image/png;base64,' in tag, tag[:120]
assert "http:" not in html and "https:" not in html, "network reference"
assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:)""", html), "external src/href"
assert "<link" not in html and "@import" not in html and "url(" not in html
assert "<script" not in html, "unescaped or inline script"
assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;b.jpg" in html, "image name not escaped"
PY
}

# ---- CLI contract ------------------------------------------------------------
"$csm" report --help | grep -q "usage: csm report" || fail "--help"
"$csm" report >/dev/null 2>&1; [ $? = 1 ] || fail "no folder: want exit 1"
"$csm" report "$runs" "$runs" >/dev/null 2>&1; [ $? = 1 ] || fail "two folders: want exit 1"
"$csm" report --bogus "$runs" >/dev/null 2>&1; [ $? = 1 ] || fail "unknown option: want exit 1"
"$csm" report "$runs" -o >/dev/null 2>&1; [ $? = 1 ] || fail "-o without a value: want exit 1"

"$csm" report "$tmp/missing" -o "$tmp/missing.html" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing folder: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "missing folder: want a one-line error, got: $(cat "$tmp/err")"
grep -q "missing" "$tmp/err" || fail "missing folder: the error should name it"
[ -e "$tmp/missing.html" ] && fail "missing folder: output written"

mkdir -p "$tmp/empty/sub"
"$csm" report "$tmp/empty" -o "$tmp/empty.html" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "no run.json: want exit 2, got $rc"
grep -q "no run.json in" "$tmp/err" || fail "no run.json: message: $(cat "$tmp/err")"
[ -e "$tmp/empty.html" ] && fail "no run.json: output written"

# ---- the two runs side by side ----------------------------------------------
"$csm" report "$runs" -o "$tmp/report.html" >"$tmp/out" 2>"$tmp/err" ||
  fail "report: exit $?: $(cat "$tmp/err")"
[ -s "$tmp/report.html" ] || fail "report: no page"
# gender: CMS + 3 + 2 face images; age: 2 face images.
[ -s "$tmp/report.html" ] && check_page "$tmp/report.html" 8 "two runs"
grep -q "<svg" "$tmp/report.html" || fail "report: no stability plot"
grep -q "no face found" "$tmp/report.html" || fail "report: failures missing"
ls "$tmp" | grep -q '\.tmp\.' && fail "report: temporary file left behind"

# ---- one run folder, default output -----------------------------------------
"$csm" report "$runs/gender" >/dev/null 2>"$tmp/err" || fail "single run: $(cat "$tmp/err")"
if [ -s "$runs/gender/report.html" ]; then
  check_page "$runs/gender/report.html" 6 "single run"
else
  fail "single run: no DIR/report.html"
fi
rm -f "$runs/gender/report.html"

# ---- broken run folders: errors name the file, nothing is written ------------
cp -r "$runs/gender" "$tmp/broken"
rm "$tmp/broken/b_face1_input.png"
"$csm" report "$tmp/broken" -o "$tmp/broken.html" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing PNG: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "missing PNG: want a one-line error"
grep -q "b_face1_input.png" "$tmp/err" || fail "missing PNG: message lacks the file: $(cat "$tmp/err")"
[ -e "$tmp/broken.html" ] && fail "missing PNG: partial output left"
ls "$tmp" | grep -q '\.tmp\.' && fail "missing PNG: temporary file left behind"
cp "$runs/gender/b_face1_input.png" "$tmp/broken/"
echo "{not json" >"$tmp/broken/run.json"
"$csm" report "$tmp/broken" -o "$tmp/broken.html" >/dev/null 2>"$tmp/err"
[ $? = 2 ] || fail "bad run.json: want exit 2"
grep -q "run.json" "$tmp/err" || fail "bad run.json: message lacks the file"
[ -e "$tmp/broken.html" ] && fail "bad run.json: output written"

if [ $fails != 0 ]; then
  exit 1
fi

# ---- rendered in headless Chromium ---------------------------------------------
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "report: all file checks passed; chromium not installed: browser checks skipped"
  exit 77
fi
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
  --user-data-dir="$tmp/profile" --window-size=1200,900)
timeout 120 "$browser" "${flags[@]}" --screenshot="$tmp/shot.png" "file://$tmp/report.html" \
  >"$tmp/chrome.log" 2>&1 || fail "chromium --screenshot: $(tail -1 "$tmp/chrome.log")"
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$tmp/report.html" >"$tmp/dom.html" \
  2>"$tmp/chrome.log" || fail "chromium --dump-dom: $(tail -1 "$tmp/chrome.log")"
python3 - "$tmp/dom.html" <<'PY' || fail "rendered DOM"
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
assert "<td>gender</td>" in dom and "<td>age</td>" in dom, "task names missing"
imgs = re.findall(r"<img\b", dom)
assert len(imgs) == 8, "want 8 <img>, got %d" % len(imgs)
assert "<script" not in dom, "a script element appeared"
assert "<script>alert(1)</script>" not in dom
assert "<polyline" in dom, "stability curve missing"
PY
python3 - "$tmp/shot.png" <<'PY' || fail "screenshot"
import os, struct, sys, zlib
path = sys.argv[1]
size = os.path.getsize(path)
assert size > 20000, "screenshot only %d bytes" % size
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, t = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif t == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, pixels, i = bytearray(stride), set(), 0
red = 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        pixels.add(px)
        red += px[0] > 200 and px[1] < 60 and px[2] < 60
    prev = line
assert (w, h) == (1200, 900), (w, h)
assert len(pixels) > 50, "only %d colours: blank page?" % len(pixels)
# The CMS image is half (230, 20, 20): shown at up to 384 px, it must show.
assert red > 2000, "only %d red pixels: the CMS image is not visible" % red
print("screenshot: %d bytes, %d colours, %d CMS-red pixels" % (size, len(pixels), red))
PY

[ $fails = 0 ] && echo "report: all checks passed"
exit $((fails > 0))
