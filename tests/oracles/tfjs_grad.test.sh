#!/usr/bin/env bash
# csm's whole-model input gradients (reverse-mode autodiff, src/nn/autodiff.c)
# vs TF.js 4.22's tf.grad (cpu backend), on real faces.
#
# For each model: a batch of 2 face crops (tests/oracles/face_crops.txt, a
# different pair per model) is cut and resized in Node (crop.mjs, independent of
# csm), scaled to the model's input range, and written as in.npy. Then
#   csm:  csm infer --npy in.npy --out P --grad K:J        -> P_grad.npy
#   tfjs: tests/oracles/tfjs_grad.mjs (tf.grad of the sum over the batch of
#         output[K].reshape(B, -1)[:, J], the model's execute() inside tf.grad)
# and numpy checks the shapes and
#   rel = ||g_csm - g_tfjs|| / ||g_tfjs|| <= tol (1e-3 unless the table says why)
# and prints the cosine of the two gradients (also per batch item: the worse
# one is shown) must be >= 1 - tol as well. A model whose graph uses an op without a gradient in TF.js is
# skipped with a message (not a failure).
#
# Environment (ctest sets these, see tests/CMakeLists.txt): CSM_BIN,
# CSM_MODELS_DIR, CSM_SAMPLES_DIR, CSM_NPM_DIR, CSM_SOURCE_DIR, CSM_TEST_TMP.
# Optional: CSM_GRAD_MODELS="gender faceres" (only these), CSM_PYTHON (a python
# with numpy; default /usr/bin/python3, else python3).
# Exit: 0 all pass, 1 any failure, 77 skipped (no node, numpy, npm tree or models).
set -euo pipefail

SRC=${CSM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ORACLES=$SRC/tests/oracles
MODELS_DIR=${CSM_MODELS_DIR:-$SRC/models}
SAMPLES_DIR=${CSM_SAMPLES_DIR:-$SRC/data/samples}
export CSM_NPM_DIR=${CSM_NPM_DIR:-$SRC/deps/npm/node_modules}
CSM_BIN=${CSM_BIN:-$SRC/build/csm}
TMP=${CSM_TEST_TMP:-${TMPDIR:-/tmp}}/tfjs_grad

# model  W,H,C  scale offset (pixel in [0,1] -> x*scale+offset: the zoo's input
# range, src/task/zoo.c)  output (index, or a word in the output's name)
# value  tol  (why, where tol is not 1e-3)
SPECS=(
  "gender 64,64,1 2 -1 0 0 1e-3"
  "emotion 64,64,1 2 -1 0 3 1e-3"
  # faceres: 1e-2. Its input gradient is not continuous at float32 resolution
  # (ReLU kinks / max-pool ties in deep layers): TF.js against itself, on the
  # same crops with +-1e-5 added to the 0..255 input (about 1 ulp), moves by
  # 3.3e-3 (item 0) and by 3.9e-3 / 1.2e-3 with +-1e-4; csm vs TF.js measured
  # 1.4e-3, all of it in batch item 1 (item 0: 5e-7), 99.99% of the error in
  # 1000 of the 150528 input values: a few units on the other side of a kink,
  # not a wrong backward pass. The cosine check below still applies.
  "faceres 224,224,3 255 0 gender 0 1e-2"
  "gear 198,198,3 1 0 gender 0 1e-3"
  "mobileface 112,112,3 255 0 0 0 1e-3"
)
ALL_MODELS=$(for s in "${SPECS[@]}"; do echo "${s%% *}"; done)
read -r -d '' -a MODELS <<<"${CSM_GRAD_MODELS:-$ALL_MODELS}" || true

skip() {
  echo "SKIP tfjs_grad: $*"
  exit 77
}
die() {
  echo "tfjs_grad: error: $*" >&2
  exit 1
}

PY=${CSM_PYTHON:-}
if [[ -z $PY ]]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then
      PY=$p
      break
    fi
  done
fi
[[ -n $PY ]] || skip "no python3 with numpy (set CSM_PYTHON)"
command -v node >/dev/null 2>&1 || skip "node not found (scripts/setup.sh installs it)"
[[ -f $CSM_NPM_DIR/@tensorflow/tfjs/package.json && -f $CSM_NPM_DIR/jpeg-js/package.json ]] ||
  skip "npm tree not installed in $CSM_NPM_DIR (run scripts/setup.sh)"
[[ -f $SAMPLES_DIR/sample1.jpg ]] || skip "sample photos not installed in $SAMPLES_DIR"
[[ -x $CSM_BIN ]] || die "csm binary not found: $CSM_BIN"

declare -A SPEC=()
for s in "${SPECS[@]}"; do SPEC[${s%% *}]=$s; done
for m in "${MODELS[@]}"; do
  [[ -n ${SPEC[$m]+x} ]] || die "no spec for model $m (known: $ALL_MODELS)"
  [[ -f $MODELS_DIR/$m.json ]] || skip "model $m not installed in $MODELS_DIR (run scripts/setup.sh)"
done

rm -rf "$TMP"
mkdir -p "$TMP"
LOG=$TMP/step.log
last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v' "$LOG" | tail -n 1; }

CROPS=()
while read -r img x y w h rest; do
  [[ -z ${img:-} || $img == \#* ]] && continue
  [[ -f $SAMPLES_DIR/$img ]] || die "face_crops.txt: $img not in $SAMPLES_DIR"
  CROPS+=("$SAMPLES_DIR/$img:$x,$y,$w,$h")
done <"$ORACLES/face_crops.txt"
((${#CROPS[@]} >= 2)) || die "face_crops.txt lists fewer than 2 crops"

# Output index of model.json $1 for spec $2: a number, or the first output whose
# name or signature name contains the word.
output_index() {
  node "$ORACLES/tfjs_run.mjs" --info --model "$1" >"$TMP/info.json" || return
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const want = process.argv[2];
    if (/^\d+$/.test(want)) { console.log(want); process.exit(0); }
    const k = j.outputs.findIndex((o) => `${o.name} ${o.signature_name || ""}`.includes(want));
    if (k < 0) { console.error(`no output named *${want}*`); process.exit(1); }
    console.log(k);' "$TMP/info.json" "$2"
}

echo "tfjs_grad: csm infer --grad vs TF.js tf.grad (cpu), ${#MODELS[@]} models, 2 face crops each"
printf '%-11s %-13s %-26s %10s %8s %12s %12s %s\n' model input 'output:value' rel_l2 tol cosine min_cos_item result
passed=0
failed=0
skipped=0
FAILED=()
for i in "${!MODELS[@]}"; do
  m=${MODELS[$i]}
  read -r _ size scale offset out value tol <<<"${SPEC[$m]}"
  d=$TMP/$m
  mkdir -p "$d"
  model_json=$MODELS_DIR/$m.json
  a=${CROPS[$(((2 * i) % ${#CROPS[@]}))]}
  b=${CROPS[$(((2 * i + 1) % ${#CROPS[@]}))]}
  if ! k=$(output_index "$model_json" "$out" 2>"$LOG") || ! oname=$(node -p \
    "const o = JSON.parse(require('fs').readFileSync('$TMP/info.json', 'utf8')).outputs[$k]; o.signature_name || o.name" 2>"$LOG"); then
    FAILED+=("$m: output $out: $(last_line)")
    failed=$((failed + 1))
    continue
  fi
  if ! node "$ORACLES/crop.mjs" --size "$size" --out "$d/crop.npy" "$a" "$b" >"$LOG" 2>&1 ||
    ! "$PY" -c '
import sys, numpy as np
x = np.load(sys.argv[1]).astype(np.float32) * np.float32(sys.argv[3]) + np.float32(sys.argv[4])
np.save(sys.argv[2], x.astype(np.float32))' "$d/crop.npy" "$d/in.npy" "$scale" "$offset" >"$LOG" 2>&1; then
    FAILED+=("$m: input: $(last_line)")
    failed=$((failed + 1))
    continue
  fi
  if ! node "$ORACLES/tfjs_grad.mjs" --model "$model_json" --input "$d/in.npy" --grad "$k:$value" \
    --out "$d/tfjs_grad.npy" >"$LOG" 2>&1; then
    if grep -q 'no gradient in TF.js' "$LOG"; then
      echo "tfjs_grad: $m skipped: $(last_line)"
      skipped=$((skipped + 1))
    else
      FAILED+=("$m: tfjs: $(last_line)")
      failed=$((failed + 1))
    fi
    continue
  fi
  if ! "$CSM_BIN" infer --model "$model_json" --npy "$d/in.npy" --out "$d/csm" --grad "$k:$value" >"$LOG" 2>&1; then
    FAILED+=("$m: csm: $(last_line)")
    failed=$((failed + 1))
    continue
  fi
  if "$PY" - "$d/csm_grad.npy" "$d/tfjs_grad.npy" "$d/in.npy" "$tol" "$m" "$size" "$k ${oname%:0}:$value" >"$LOG" 2>&1 <<'EOF'; then
import sys
import numpy as np
c, t, x = (np.load(f).astype(np.float64) for f in sys.argv[1:4])
tol, model, size, out = float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
if c.shape != x.shape or t.shape != x.shape:
    print(f"FAIL {model}: shapes csm {c.shape} tfjs {t.shape} input {x.shape}")
    sys.exit(1)
nt = np.linalg.norm(t)
if not np.isfinite(c).all() or nt == 0 or not np.isfinite(nt):
    print(f"FAIL {model}: non-finite or zero gradient (|tfjs| = {nt})")
    sys.exit(1)
rel = np.linalg.norm(c - t) / nt
cos = float((c * t).sum() / (np.linalg.norm(c) * nt))
items = [float((ci * ti).sum() / (np.linalg.norm(ci) * np.linalg.norm(ti))) for ci, ti in zip(c, t)]
ok = rel <= tol and min(items) >= 1 - tol
print(f"{model:<11} {size:<13} {out:<26} {rel:10.2e} {tol:8.0e} {cos:12.9f} {min(items):12.9f} {'ok' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
    cat "$LOG"
    passed=$((passed + 1))
  else
    cat "$LOG"
    FAILED+=("$m: $(tail -n 1 "$LOG")")
    failed=$((failed + 1))
  fi
done

for f in "${FAILED[@]}"; do echo "FAIL $f"; done
echo "tfjs_grad: $passed passed, $failed failed, $skipped skipped (no TF.js gradient)"
((failed == 0))
