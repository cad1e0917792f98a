#!/usr/bin/env bash
# Hostile input files through the CLI (issue 15): FIFOs and folders given
# for every kind of input (never a hang: exit 2 naming the path), a PNG zlib
# bomb, an image over the memory limit, corrupt versus truncated JPEGs, an
# int32 .npy model input, non-finite mesh vertices, a --crop outside the
# image, and --list paths with spaces. Every file is made here, by
# /usr/bin/python3 (numpy, PIL, zlib; scipy for .mat files when present).
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
py=/usr/bin/python3
data=${CSM_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}/celeba-prnet
[ -f "$models/age.json" ] || { echo "models not installed: skipped"; exit 77; }
"$py" -c 'import numpy, PIL, zlib' 2>/dev/null || { echo "no $py with numpy and PIL: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-hostile.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0 passes=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# name, expected exit code, command...: the exit code, and on failure one
# line on stderr and nothing on stdout. `timeout` turns a hang into 124
# (generous: the machine may be busy; a FIFO that blocks never returns).
check() {
  local name=$1 want=$2; shift 2
  timeout 60 "$@" >out 2>err
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$name: exit $rc, want $want; stderr: $(head -c 300 err)"; return 1
  fi
  if [ "$want" != 0 ]; then
    [ "$(wc -l <err)" = 1 ] || { fail "$name: $(wc -l <err) error lines, want 1"; return 1; }
    [ -s out ] && { fail "$name: printed output on failure"; return 1; }
  fi
  passes=$((passes + 1))
}
has() { # name, text: stderr holds text
  if grep -qF -- "$2" err; then passes=$((passes + 1)); else fail "$1: stderr lacks '$2': $(cat err)"; fi
}
lacks() { # name, text
  if grep -qF -- "$2" err; then fail "$1: stderr has '$2': $(cat err)"; else passes=$((passes + 1)); fi
}

"$py" - <<'EOF' || { echo "FAIL making the files"; exit 1; }
import io, struct, zlib
import numpy as np
from PIL import Image

Image.new("RGB", (64, 64), (128, 128, 128)).save("grey.png")
Image.new("RGB", (100, 80), (10, 200, 30)).save("small.jpg")

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

# A zlib bomb: declared 64x64 RGB, 256 MiB of zeros in about 256 KB.
z = zlib.compressobj(9)
parts = [z.compress(bytes(1 << 20)) for _ in range(256)] + [z.flush()]
idat = b"".join(parts)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", idat) + chunk(b"IEND", b"")
open("bomb.png", "wb").write(png)

# A small JPEG whose frame header says 9000x9000.
b = io.BytesIO()
Image.new("RGB", (16, 16), (90, 90, 90)).save(b, "JPEG")
j = bytearray(b.getvalue())
sof = j.find(b"\xff\xc0")
j[sof + 5:sof + 9] = struct.pack(">HH", 9000, 9000)
open("big.jpg", "wb").write(j)

# Scan data damaged (markers with garbage lengths), the end-of-image marker
# intact: corrupt, not truncated. And the same photo cut short.
rng = np.random.default_rng(1)
b = io.BytesIO()
Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(b, "JPEG", quality=90)
j = bytearray(b.getvalue())
sos = j.find(b"\xff\xda")
scan = sos + 2 + (j[sos + 2] << 8 | j[sos + 3])
for k in range(scan + 10, len(j) - 20, 7):
    j[k] = 0xFF if k % 2 else 0xFE
open("scan.jpg", "wb").write(j)
open("cut.jpg", "wb").write(b.getvalue()[: len(j) // 2])

np.save("i4.npy", np.zeros((1, 64, 64, 3), dtype="<i4"))

try:
    import scipy.io
    v = np.arange(30, dtype=np.float64).reshape(10, 3)
    v[7, 1] = np.nan
    scipy.io.savemat("nan_mesh.mat", {"vertices": v})
    v[7, 1] = np.inf
    scipy.io.savemat("inf_mesh.mat", {"vertices": v})
except ImportError:
    pass
EOF

# ---- FIFOs and folders: refused at once, naming the path ----------------------
for f in img.jpg img.png model.json model.onnx in.npy mesh.mat list.txt cms.npy; do mkfifo "fifo-$f"; done
mkdir folder.jpg
check fifo-image 2 "$csm" detect fifo-img.jpg && has fifo-image "fifo-img.jpg: not a regular file"
check fifo-image-infer 2 "$csm" infer --model age fifo-img.png && has fifo-image-infer "fifo-img.png"
check folder-image 2 "$csm" detect folder.jpg && has folder-image "folder.jpg: not a regular file"
check fifo-model-json 2 "$csm" infer --model ./fifo-model.json grey.png && has fifo-model-json "fifo-model.json"
check fifo-model-onnx 2 "$csm" infer --model ./fifo-model.onnx grey.png && has fifo-model-onnx "fifo-model.onnx"
mkdir shard && cp "$models/age.json" shard/ && mkfifo shard/age.bin
check fifo-weights 2 "$csm" infer --model shard/age.json grey.png && has fifo-weights "shard/age.bin"
check fifo-npy 2 "$csm" infer --model age --npy fifo-in.npy && has fifo-npy "fifo-in.npy: not a regular file"
check fifo-cms-npy 2 "$csm" reproject --cms fifo-cms.npy grey.png -o rp && has fifo-cms-npy "fifo-cms.npy"
check fifo-list 2 "$csm" cms --task age --list fifo-list.txt -o lst && has fifo-list "fifo-list.txt: not a regular file"
if [ -f "$data/frontal_mesh.mat" ]; then
  check fifo-mesh 2 "$csm" warp --align prnet --mesh fifo-mesh.mat \
    --canonical-mesh "$data/frontal_mesh.mat" grey.png -o wp && has fifo-mesh "fifo-mesh.mat: not a regular file"
  check fifo-canonical-mesh 2 "$csm" warp --align prnet --mesh "$data/meshes/000686_mesh.mat" \
    --canonical-mesh fifo-mesh.mat "$data/images/000686.jpg" -o wp && has fifo-canonical-mesh "fifo-mesh.mat"
fi
# A checkpoint and a run.json of a real (faceless, so quick) run, replaced by FIFOs.
timeout 120 "$csm" cms --task age grey.png -o ck >/dev/null 2>&1
if [ -f ck/checkpoint-000001.cms ] && [ -f ck/run.json ]; then
  cp -r ck ck2
  rm ck/checkpoint-000001.cms && mkfifo ck/checkpoint-000001.cms
  check fifo-checkpoint 2 "$csm" cms --task age grey.png -o ck --resume && has fifo-checkpoint "checkpoint-000001.cms: not a regular file"
  rm ck2/run.json && mkfifo ck2/run.json
  check fifo-run-json 2 "$csm" cms --task age grey.png -o ck2 --resume && has fifo-run-json "run.json: not a regular file"
else
  fail "csm cms on grey.png left no checkpoint to replace"
fi

# ---- images ----------------------------------------------------------------------
check png-bomb 2 "$csm" detect bomb.png && has png-bomb "bomb.png: PNG data inflates past its declared 64x64 size"
CSM_MAX_MEMORY=100M check memory-env 2 "$csm" detect big.jpg
has memory-env "big.jpg: decoding 9000x9000 pixels needs" && has memory-env "limit 104857600 (--max-memory)"
check memory-option 2 "$csm" --max-memory 100M detect big.jpg && has memory-option "(--max-memory)"
check corrupt-scan 2 "$csm" detect scan.jpg && has corrupt-scan "scan.jpg: corrupt JPEG" && lacks corrupt-scan "truncated"
check cut-jpeg 2 "$csm" detect cut.jpg && has cut-jpeg "cut.jpg: truncated JPEG"

# ---- .npy dtype, .mat vertices ---------------------------------------------------
check npy-int32 2 "$csm" infer --model age --npy i4.npy
has npy-int32 "i4.npy: .npy dtype '<i4' is not supported: expected '<f4' (little-endian float32)"
for m in nan inf; do
  [ -f ${m}_mesh.mat ] && [ -f "$data/frontal_mesh.mat" ] || continue
  check $m-vertices 2 "$csm" warp --align prnet --mesh ${m}_mesh.mat \
    --canonical-mesh "$data/frontal_mesh.mat" grey.png -o wp
  has $m-vertices "${m}_mesh.mat: vertices row 7 is not finite"
done

# ---- --crop ----------------------------------------------------------------------
check crop-inside 0 "$csm" infer --model age --crop 10,10,50,50 small.jpg
check crop-partly-outside 0 "$csm" infer --model age --crop 90,70,50,50 small.jpg
for c in 100,0,10,10 -10,-10,10,10 0,80,5,5 500,500,20,20; do
  check "crop-outside $c" 2 "$csm" infer --model age --crop $c small.jpg
  has "crop-outside $c" "small.jpg: --crop $c lies outside the 100x80 image"
done

# ---- --list: paths with spaces, quoted or tab-separated ---------------------------
cp grey.png "my photo.png" && cp grey.png "tab, name.png"
printf '# faces\n"my photo.png"\ntab, name.png\t\n"missing \\"one\\".png"\n' >spaces.txt
check list-spaces 2 "$csm" cms --task age --list spaces.txt -o sp
has list-spaces "no face in any of the 3 images"
for want in '{"image": "my photo.png", "reason": "no face found"}' \
  '{"image": "tab, name.png", "reason": "no face found"}' '"image": "missing \"one\".png"'; do
  if grep -qsF -- "$want" sp/run.json; then passes=$((passes + 1)); else fail "list-spaces: run.json lacks $want"; fi
done
printf '"open.png\n' >open.txt
check list-open-quote 2 "$csm" cms --task age --list open.txt -o op && has list-open-quote "open.txt: line 1: a quote is not closed"

echo "hostile inputs: $passes passed, $fails failed"
[ "$fails" = 0 ]
