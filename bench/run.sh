#!/usr/bin/env bash
# csm vs its speed peer, TF.js 4.22 wasm backend, on the same work and thread count.
#
#   bash bench/run.sh BUILD_DIR        (make bench)
#
# For each case (model, batch) both engines run a fixed random input, warm up,
# then time whole iterations for >= 2 s; the table shows images/s and the ratio
# csm / tfjs-wasm. BlazeFace's graph fixes the input batch at 1: there, batch 16
# means 16 calls of batch 1 in tfjs-wasm and one call of 16 images in csm. Then BUILD_DIR/bench/bench_conv, if
# built (convolution GFLOP/s vs OpenBLAS sgemm).
# Environment: CSM_THREADS (default 2: both engines), CSM_BENCH_MIN_TIME (s, default 2),
# CSM_BENCH_CASES ("emotion:32 faceres:8" to run only those).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-}
[[ -n $BUILD ]] || {
  echo "usage: bench/run.sh BUILD_DIR" >&2
  exit 1
}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "bench: no build directory '$1'" >&2
  exit 1
}
export CSM_THREADS=${CSM_THREADS:-2}
MIN_TIME=${CSM_BENCH_MIN_TIME:-2}
MODELS_DIR=$ROOT/models
read -r -a CASES <<<"${CSM_BENCH_CASES:-emotion:32 faceres:8 blazeface:1 blazeface:16 facemesh:1 facemesh:16}"

die() {
  echo "bench: $*" >&2
  exit 1
}
command -v node >/dev/null 2>&1 || die "node not found (run scripts/setup.sh)"
[[ -f $ROOT/deps/npm/node_modules/@tensorflow/tfjs-backend-wasm/package.json ]] ||
  die "npm tree missing (run scripts/setup.sh)"

# ---- the csm side: the one place that knows the C benchmark ------------------------
# Prints one JSON line {model, batch, images_per_s, threads, ...} for model.json $1
# and batch $2, like bench/tfjs_wasm_bench.mjs: `bench_models MODEL_JSON BATCH THREADS`
# (fixed input, warm-up, >= 2 s of whole iterations). For a model whose input batch
# is fixed at 1, csm still takes all B images in one call (csm_model_run runs them
# item by item, spread over its threads); tfjs-wasm makes B calls of batch 1. Both
# process the same B images.
csm_bench() {
  local exe=$BUILD/bench/bench_models
  [[ -x $exe ]] || return 2
  "$exe" "$1" "$2" "$CSM_THREADS"
}
# -------------------------------------------------------------------------------------

RESULTS=$(mktemp "${TMPDIR:-/tmp}/csm-bench.XXXXXX")
ERRLOG=$(mktemp "${TMPDIR:-/tmp}/csm-bench-err.XXXXXX")
trap 'rm -f "$RESULTS" "$ERRLOG"' EXIT

last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v' "$ERRLOG" | tail -n 1; }

echo "bench: $CSM_THREADS threads, >= ${MIN_TIME}s per measurement, $(nproc) cores, $(uname -m)" >&2
# Models whose declared input batch is 1.
declare -A FIXED1=()
for c in "${CASES[@]}"; do
  m=${c%%:*}
  [[ -f $MODELS_DIR/$m.json ]] || die "model $m not installed (run scripts/setup.sh)"
  [[ -n ${FIXED1[$m]+x} ]] && continue
  info=$(node "$ROOT/tests/oracles/tfjs_run.mjs" --info --model "$MODELS_DIR/$m.json" 2>"$ERRLOG") ||
    die "cannot read $m's input shape: $(last_line)"
  FIXED1[$m]=$(node -p 'const s = JSON.parse(process.argv[1]).inputs[0].shape; s && s[0] === 1 ? 1 : 0' "$info")
done
for c in "${CASES[@]}"; do
  m=${c%%:*}
  b=${c##*:}
  echo "bench: $m batch $b ..." >&2
  csm_json=null
  csm_batch=$b
  if out=$(csm_bench "$MODELS_DIR/$m.json" "$csm_batch" 2>"$ERRLOG"); then
    csm_json=$(tail -n 1 <<<"$out")
  else
    rc=$?
    if ((rc == 2)) && [[ ! -x $BUILD/bench/bench_models ]]; then
      echo "bench: $BUILD/bench/bench_models not built; csm column empty" >&2
    else
      echo "bench: csm $m batch $b failed: $(last_line)" >&2
    fi
  fi
  tfjs_json=null
  if out=$(node "$ROOT/bench/tfjs_wasm_bench.mjs" "$MODELS_DIR/$m.json" "$b" --threads "$CSM_THREADS" \
    --min-time "$MIN_TIME" 2>"$ERRLOG"); then
    tfjs_json=$(tail -n 1 <<<"$out")
  else
    echo "bench: tfjs-wasm $m batch $b failed: $(last_line)" >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$b" "${FIXED1[$m]}" "$csm_json" "$tfjs_json" >>"$RESULTS"
done

node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => {
    const [model, batch, fixed1, c, t] = l.split("\t");
    const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
    return { model, batch, fixed1: fixed1 === "1", csm: parse(c), tfjs: parse(t) };
  });
  const f = (x) => (x == null ? "-" : x.toFixed(1));
  const pad = (s, n) => String(s).padStart(n);
  console.log(["model", "batch", "csm img/s", "tfjs-wasm img/s", "ratio", "note"].map((s, i) =>
    i === 5 ? s : pad(s, [12, 6, 10, 16, 7][i])).join(" "));
  for (const r of rows) {
    const c = r.csm && r.csm.images_per_s, t = r.tfjs && r.tfjs.images_per_s;
    const notes = [];
    if (r.tfjs) notes.push(`wasm ${r.tfjs.threads}t${r.tfjs.simd ? " simd" : ""}`);
    if (r.csm && r.csm.threads != null) notes.push(`csm ${r.csm.threads}t`);
    if (r.fixed1 && r.batch !== "1") notes.push("input batch fixed at 1: tfjs-wasm makes batch-1 calls");
    console.log([pad(r.model, 12), pad(r.batch, 6), pad(f(c), 10), pad(f(t), 16),
      pad(c && t ? (c / t).toFixed(2) : "-", 7), notes.join(", ")].join(" "));
  }' "$RESULTS"

if [[ -x $BUILD/bench/bench_conv ]]; then
  echo
  echo "bench_conv (convolution vs OpenBLAS sgemm, $CSM_THREADS threads):"
  "$BUILD/bench/bench_conv" || echo "bench: bench_conv failed" >&2
else
  echo "bench: $BUILD/bench/bench_conv not built; skipped" >&2
fi

# Occlusion saliency: csm's occluded inputs/s and seconds per CIS map vs TF.js-wasm
# on the same occluded inputs (bench/occlusion.sh). CSM_BENCH_OCCLUSION=0 skips it.
if [[ ${CSM_BENCH_OCCLUSION:-1} != 0 ]]; then
  echo
  bash "$ROOT/bench/occlusion.sh" "$BUILD" || echo "bench: occlusion benchmark failed" >&2
fi

# Input gradients: csm's reverse-mode autodiff vs TF.js tf.grad (wasm and cpu) on
# the same batch (bench/grad.sh). CSM_BENCH_GRAD=0 skips it.
if [[ ${CSM_BENCH_GRAD:-1} != 0 ]]; then
  echo
  bash "$ROOT/bench/grad.sh" "$BUILD" || echo "bench: gradient benchmark failed" >&2
fi

# ONNX models: csm vs ONNX Runtime (onnxruntime-node) and PyTorch on the same .onnx
# files exported by tests/oracles/torch_models.py, batch 16 (bench/onnx.sh).
# CSM_BENCH_ONNX=0 skips it.
if [[ ${CSM_BENCH_ONNX:-1} != 0 ]]; then
  echo
  bash "$ROOT/bench/onnx.sh" "$BUILD" || echo "bench: ONNX benchmark failed" >&2
fi
