#!/usr/bin/env bash
# csm's ONNX loader vs PyTorch on models exported at test time, on real faces.
#
# tests/oracles/torch_models.py (Debian's python3-torch 1.13 / torchvision 0.14,
# fixed seeds, random weights calibrated on the crops: see there) builds VGG16
# (224x224, the paper's architecture; logits + softmax), ResNet-18, ResNet-18
# exported without constant folding (its BatchNormalization nodes stay),
# MobileNetV2, and a SphereFace/LightCNN-style face embedder (112x112, PReLU,
# BatchNorm, L2-normalized embedding) at opset 13 and again at opset 11; exports
# each with torch.onnx.export (dynamic batch axis) and writes PyTorch's outputs.
# Inputs: real face crops, cut from the sample photos (tests/oracles/
# face_crops.txt) by tests/oracles/crop.mjs (jpeg-js, bilinear; not csm's image
# code), normalized per model and given to both engines as the same NCHW .npy:
# per model a batch of 3 and a batch of 1 (another crop); also a batch of 3
# and one of 1 from four
# labelled face crops of tests/data/faceapi (amy, raj, sheldon, penny; resized by `csm infer
# --save-input`, the only use of csm's image code here).
# csm runs each case with `csm infer --model M.onnx --npy IN --out PREFIX --json`;
# torch_models.py compare checks output names and shapes and, per output, the
# relative L2 error ||csm - ref|| / ||ref|| <= 1e-4 against PyTorch in float64
# (the same module, .double(); float32 rounding alone costs deep models up to
# ~4e-5, so two float32 engines would be compared at twice that), and prints
# the error against PyTorch float32 too, the max abs error, softmax(logits) of
# the classifiers (shown; VGG16's in-graph softmax output is checked) and each
# output's spread over the batch (its input-dependent share).
#
# Environment (ctest sets these, see tests/CMakeLists.txt): CSM_BIN,
# CSM_SOURCE_DIR, CSM_SAMPLES_DIR, CSM_NPM_DIR, CSM_TEST_DATA, CSM_TEST_TMP,
# CSM_THREADS. Optional:
#   CSM_ONNX_MODELS="resnet18,facenet"  only these variants (torch_models.py's names)
#   CSM_ONNX_TOL=1e-4
#   CSM_TORCH_PYTHON=/usr/bin/python3   the python with torch, torchvision, numpy
#   CSM_ONNX_KEEP=1                     keep $CSM_TEST_TMP/onnx_models (VGG16 is 0.5 GB)
# Exit: 0 all pass, 1 any failure, 77 skipped (no torch, no node/jpeg-js, no photos).
set -euo pipefail

SRC=${CSM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ORACLES=$SRC/tests/oracles
SAMPLES_DIR=${CSM_SAMPLES_DIR:-$SRC/data/samples}
TEST_DATA=${CSM_TEST_DATA:-$SRC/tests/data}
export CSM_NPM_DIR=${CSM_NPM_DIR:-$SRC/deps/npm/node_modules}
CSM_BIN=${CSM_BIN:-$SRC/build/csm}
PY=${CSM_TORCH_PYTHON:-/usr/bin/python3}
TOL=${CSM_ONNX_TOL:-1e-4}
TMP=${CSM_TEST_TMP:-${TMPDIR:-/tmp}}/onnx_models
export CSM_THREADS=${CSM_THREADS:-2}

skip() {
  echo "SKIP onnx_models: $*"
  exit 77
}
die() {
  echo "onnx_models: error: $*" >&2
  exit 1
}

[[ -x $PY ]] || skip "$PY not found (scripts/setup.sh installs python3-torch)"
"$PY" -c 'import numpy, torch, torchvision' 2>/dev/null ||
  skip "$PY cannot import numpy, torch and torchvision (scripts/setup.sh installs python3-torch, python3-torchvision)"
command -v node >/dev/null 2>&1 || skip "node not found (scripts/setup.sh installs it)"
[[ -f $CSM_NPM_DIR/jpeg-js/package.json ]] || skip "npm tree not installed in $CSM_NPM_DIR (run scripts/setup.sh)"
[[ -f $SAMPLES_DIR/sample1.jpg ]] || skip "sample photos not installed in $SAMPLES_DIR (run scripts/setup.sh)"
[[ -x $CSM_BIN ]] || die "csm binary not found: $CSM_BIN"

rm -rf "$TMP"
mkdir -p "$TMP"
LOG=$TMP/step.log
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  # The exported models are large (VGG16: 0.5 GB): never leave them behind.
  if [[ ${CSM_ONNX_KEEP:-0} != 1 ]]; then
    if [[ ${PASSED:-0} == 1 ]]; then rm -rf "$TMP"; else rm -f "$TMP"/models/*.onnx; fi
  fi
}
trap cleanup EXIT
last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v|Warning|^  ' "$LOG" | tail -n 1; }

# ---- inputs: real face crops -------------------------------------------------------
CROPS=()
while read -r img x y w h rest; do
  [[ -z ${img:-} || $img == \#* ]] && continue
  [[ -f $SAMPLES_DIR/$img ]] || die "face_crops.txt: $img not in $SAMPLES_DIR"
  CROPS+=("$SAMPLES_DIR/$img:$x,$y,$w,$h")
done <"$ORACLES/face_crops.txt"
((${#CROPS[@]} >= 4)) || die "face_crops.txt lists fewer than 4 crops"
for s in 224 112; do
  node "$ORACLES/crop.mjs" --size "$s,$s,3" --out "$TMP/crops$s.npy" "${CROPS[@]}" >"$LOG" 2>&1 ||
    die "crop.mjs --size $s: $(last_line)"
done
faces=()
FACES=(amy/amy1.png raj/raj1.png sheldon/sheldon2.png penny/penny3.png)
if [[ -f $TEST_DATA/faceapi/${FACES[0]} ]]; then
  files=()
  for f in "${FACES[@]}"; do files+=("$TEST_DATA/faceapi/$f"); done
  # Installed zoo models with 224x224x3 and 112x112x3 inputs: only their input
  # size matters here (csm resizes each whole crop, values in [0,1]).
  for pair in 224:faceres 112:mobileface; do
    "$CSM_BIN" infer --model "${pair#*:}" --range 0,1 --save-input "$TMP/faces${pair%%:*}.npy" \
      "${files[@]}" >"$LOG" 2>&1 || die "csm infer --save-input (faceapi crops): $(last_line)"
  done
  faces=(--faces224 "$TMP/faces224.npy" --faces112 "$TMP/faces112.npy")
else
  die "$TEST_DATA/faceapi/${FACES[0]} missing (tests/data is in the repository)"
fi

# ---- PyTorch: export and reference outputs -------------------------------------------
models=()
[[ -n ${CSM_ONNX_MODELS:-} ]] && models=(--models "$CSM_ONNX_MODELS")
echo "onnx_models: exporting with $("$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')..."
t0=$SECONDS
"$PY" "$ORACLES/torch_models.py" export --outdir "$TMP/models" --crops224 "$TMP/crops224.npy" \
  --crops112 "$TMP/crops112.npy" "${faces[@]}" "${models[@]}" --batch 3 >"$LOG" 2>&1 ||
  die "torch_models.py export: $(last_line)"
grep '^torch_models:' "$LOG" || true
echo "onnx_models: export took $((SECONDS - t0)) s"

# ---- csm -------------------------------------------------------------------------------
# The one place that knows csm's CLI: model $1 (.onnx) on $2 (.npy, NCHW as the
# model declares it) -> output k in $3_k.npy, names in $3.json.
csm_infer() {
  "$CSM_BIN" infer --model "$1" --npy "$2" --out "$3" --json >"$3.json"
}
FAILED=()
while read -r onnx input prefix; do
  t0=$EPOCHREALTIME
  if csm_infer "$onnx" "$input" "$prefix" 2>"$LOG"; then
    printf 'onnx_models: csm %-28s %s s\n' "$(basename "$prefix" .csm)" \
      "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"
  else
    FAILED+=("csm $(basename "$prefix" .csm): $(last_line)")
    echo "onnx_models: csm $(basename "$prefix" .csm) FAILED: $(last_line)"
  fi
done < <("$PY" "$ORACLES/torch_models.py" cases --outdir "$TMP/models")

echo
rc=0
"$PY" "$ORACLES/torch_models.py" compare --outdir "$TMP/models" --tol "$TOL" || rc=1
for f in "${FAILED[@]}"; do echo "FAIL $f" >&2; done
if ((rc == 0 && ${#FAILED[@]} == 0)); then
  PASSED=1
  echo "onnx_models: all outputs within relative L2 error $TOL of PyTorch (float64)"
  exit 0
fi
echo "onnx_models: FAILED (inputs and outputs kept in $TMP/models)" >&2
exit 1
