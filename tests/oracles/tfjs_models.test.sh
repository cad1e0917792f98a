#!/usr/bin/env bash
# csm vs the TF.js oracle on every required face model, on real faces.
#
# For each model: a batch of 2 face crops (tests/oracles/face_crops.txt, two
# consecutive lines, a different pair per model) is cut from the sample photos
# and resized to the model input IN NODE (crop.mjs: jpeg-js decode, bilinear,
# RGB in [0,1] or gray), not by csm, so this test checks csm's engine only and
# does not depend on csm's image code. Models whose declared input batch is 1
# (the BlazeFace family) get the two crops as two runs of batch 1. Then csm and
# TF.js 4.22 (cpu backend) run the same .npy and compare.mjs checks every output:
# count, name, shape, max|csm - tfjs| / max|tfjs| <= 1e-4.
#
# Environment (ctest sets these, see tests/CMakeLists.txt): CSM_BIN,
# CSM_MODELS_DIR, CSM_SAMPLES_DIR, CSM_NPM_DIR, CSM_SOURCE_DIR, CSM_TEST_TMP.
# Optional:
#   CSM_ORACLE_MODELS="emotion faceres"  only these models
#   CSM_ORACLE_PEER=csm|tfjs-cpu|tfjs-wasm  what is compared with the oracle
#       (default csm; tfjs-cpu checks this pipeline itself, tfjs-wasm checks the
#       wasm backend that bench/ uses as speed peer, with
#       CSM_ORACLE_WASM_THREADS threads, default 1)
#   CSM_ORACLE_TOL=1e-4
# Exit: 0 all pass, 1 any failure, 77 skipped (no node, npm tree or models).
set -euo pipefail

SRC=${CSM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ORACLES=$SRC/tests/oracles
MODELS_DIR=${CSM_MODELS_DIR:-$SRC/models}
SAMPLES_DIR=${CSM_SAMPLES_DIR:-$SRC/data/samples}
export CSM_NPM_DIR=${CSM_NPM_DIR:-$SRC/deps/npm/node_modules}
CSM_BIN=${CSM_BIN:-$SRC/build/csm}
PEER=${CSM_ORACLE_PEER:-csm}
TOL=${CSM_ORACLE_TOL:-1e-4}
TMP=${CSM_TEST_TMP:-${TMPDIR:-/tmp}}/tfjs_models
ALL_MODELS="blazeface blazeface-front blazeface-back facemesh facemesh-detection-short
  facemesh-detection-full iris emotion gender age gender-ssrnet-imdb gear faceres
  faceres-deep mobilefacenet mobileface antispoof liveness"
read -r -d '' -a MODELS <<<"${CSM_ORACLE_MODELS:-$ALL_MODELS}" || true

skip() {
  echo "SKIP tfjs_models: $*"
  exit 77
}
die() {
  echo "tfjs_models: error: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || skip "node not found (scripts/setup.sh installs it)"
[[ -f $CSM_NPM_DIR/@tensorflow/tfjs/package.json && -f $CSM_NPM_DIR/jpeg-js/package.json ]] ||
  skip "npm tree not installed in $CSM_NPM_DIR (run scripts/setup.sh)"
for m in "${MODELS[@]}"; do
  [[ -f $MODELS_DIR/$m.json ]] || skip "model $m not installed in $MODELS_DIR (run scripts/setup.sh)"
done
[[ -f $SAMPLES_DIR/sample1.jpg ]] || skip "sample photos not installed in $SAMPLES_DIR"
case $PEER in
  csm) [[ -x $CSM_BIN ]] || die "csm binary not found: $CSM_BIN" ;;
  tfjs-cpu | tfjs-wasm) ;;
  *) die "CSM_ORACLE_PEER must be csm, tfjs-cpu or tfjs-wasm" ;;
esac

# ---- the csm invocation: the one place that knows csm's CLI ------------------------
# Runs model $1 (model.json path) on $2 (.npy) and leaves, in directory $3, the
# outputs as .npy files plus outputs.json {"outputs": [{"name", "shape", "file"}]}
# in the model's output order (the layout tfjs_run.mjs writes).
# Assumes: `csm infer --out PREFIX` writes output k as PREFIX_k.npy, and
# `--json` prints {"outputs": [{"name", "shape", ...}]} in the same order.
csm_infer() {
  local model_json=$1 input=$2 dir=$3
  mkdir -p "$dir" || return
  "$CSM_BIN" infer --model "$model_json" --npy "$input" --out "$dir/csm" --json >"$dir/csm.json" || return
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    const j = JSON.parse(fs.readFileSync(path.join(dir, "csm.json"), "utf8"));
    const outputs = j.outputs.map((o, k) => ({ name: o.name, shape: o.shape, file: `csm_${k}.npy` }));
    fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify({ outputs }));
  ' "$dir"
}
# -------------------------------------------------------------------------------------

peer_run() { # model_json input dir
  case $PEER in
    csm) csm_infer "$@" ;;
    tfjs-cpu) node "$ORACLES/tfjs_run.mjs" --model "$1" --input "$2" --outdir "$3" ;;
    tfjs-wasm) node "$ORACLES/tfjs_run.mjs" --wasm --threads "${CSM_ORACLE_WASM_THREADS:-1}" \
      --model "$1" --input "$2" --outdir "$3" ;;
  esac
}

# Runs "$@" with output to $LOG; on failure records "$what: last line" and returns 1.
# (Functions run here are in an && list, where set -e is off: they check each step.)
FAILED=()
step() {
  local what=$1
  shift
  if ! "$@" >"$LOG" 2>&1; then
    # Last meaningful line: not blank, not a JS stack frame or Node's version footer.
    FAILED+=("$what: $(grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v' "$LOG" | tail -n 1)")
    return 1
  fi
}

rm -rf "$TMP"
mkdir -p "$TMP"
LOG=$TMP/step.log

CROPS=()
while read -r img x y w h rest; do
  [[ -z ${img:-} || $img == \#* ]] && continue
  [[ -f $SAMPLES_DIR/$img ]] || die "face_crops.txt: $img not in $SAMPLES_DIR"
  CROPS+=("$SAMPLES_DIR/$img:$x,$y,$w,$h")
done <"$ORACLES/face_crops.txt"
((${#CROPS[@]} >= 2)) || die "face_crops.txt lists fewer than 2 crops"

# Model inputs, one JSON line per model: "<batch> <height> <width> <channels>".
model_args=()
for m in "${MODELS[@]}"; do model_args+=(--model "$MODELS_DIR/$m.json"); done
node "$ORACLES/tfjs_run.mjs" --info "${model_args[@]}" >"$TMP/info.jsonl" 2>"$LOG" ||
  die "tfjs_run.mjs --info: $(tail -n 1 "$LOG")"
mapfile -t INPUTS < <(node -e '
  for (const line of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) {
    const j = JSON.parse(line);
    if (j.inputs.length !== 1) { console.log(`${j.model} ?`); continue; }
    const s = j.inputs[0].shape || [];
    console.log(s.length === 4 ? s.join(" ") : "?");
  }' "$TMP/info.jsonl")

echo "tfjs_models: peer=$PEER tol=$TOL, $((${#MODELS[@]})) models, face crops from face_crops.txt"
header=--header
passed=0
failed=0
for i in "${!MODELS[@]}"; do
  m=${MODELS[$i]}
  read -r batch height width channels _ <<<"${INPUTS[$i]} ? ? ? ?"
  if [[ $batch == "?" || ! $height =~ ^[0-9]+$ || ! $width =~ ^[0-9]+$ ]]; then
    FAILED+=("$m: input is not one NHWC image tensor: ${INPUTS[$i]}")
    failed=$((failed + 1))
    continue
  fi
  a=${CROPS[$(((2 * i) % ${#CROPS[@]}))]}
  b=${CROPS[$(((2 * i + 1) % ${#CROPS[@]}))]}
  if [[ $batch == 1 ]]; then cases=("$m#1:$a" "$m#2:$b"); else cases=("$m:$a $b"); fi
  ok=1
  for c in "${cases[@]}"; do
    label=${c%%:*}
    read -r -a crops <<<"${c#*:}"
    d=$TMP/${label//#/_}
    mkdir -p "$d"
    step "$label: crop" node "$ORACLES/crop.mjs" --size "$width,$height,$channels" --out "$d/in.npy" "${crops[@]}" &&
      step "$label: tfjs oracle" node "$ORACLES/tfjs_run.mjs" --model "$MODELS_DIR/$m.json" --input "$d/in.npy" --outdir "$d/tfjs" &&
      step "$label: $PEER" peer_run "$MODELS_DIR/$m.json" "$d/in.npy" "$d/peer" || {
      ok=0
      continue
    }
    if node "$ORACLES/compare.mjs" $header --label "$label" --oracle "$d/tfjs" --peer "$d/peer" --tol "$TOL" 2>"$LOG"; then
      :
    else
      ok=0
      while read -r line; do FAILED+=("${line#FAIL }"); done <"$LOG"
    fi
    header=
  done
  if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

for f in "${FAILED[@]}"; do echo "FAIL $f"; done
echo "tfjs_models: $passed passed, $failed failed"
((failed == 0))
