#!/usr/bin/env bash
# Input-gradient speed: csm (reverse-mode autodiff, src/nn/autodiff.c) vs TF.js
# 4.22 tf.grad on the same model, the same input batch and the same threads.
#
#   bash bench/grad.sh BUILD_DIR        (also run at the end of bench/run.sh)
#
# For each case (model:batch) a batch of real face crops (tests/oracles/crop.mjs,
# the boxes of tests/oracles/face_crops.txt in turn) is scaled to the model's
# input range and written once as .npy; then
#   csm:       BUILD_DIR/bench/bench_grad_peer (what `csm infer --grad K:J` does,
#              without process start-up and model load; pinned to CSM_THREADS)
#   tfjs-wasm: bench/tfjs_grad_bench.mjs --backend wasm --threads CSM_THREADS
#              (kernels wasm lacks, and its wrong MaxPoolGrad, run through the
#              cpu backend: see that script; the fallback share is printed)
#   tfjs-cpu:  bench/tfjs_grad_bench.mjs --backend cpu (plain JS, one thread)
# each: one warm-up gradient, then whole gradients for >= CSM_BENCH_MIN_TIME (2) s.
# Table: seconds per gradient (csm's split into tape forward and backward), the
# ratios (peer / csm: how many times faster csm is), the wasm time less its cpu
# fallback kernels (a lower bound for a wasm backend that had them; note that
# the fused convs' gradients compute filter gradients, Conv2DBackpropFilter,
# even for an input gradient) and each peer's relative L2 distance from csm's
# gradient.
# Environment: CSM_THREADS (default 2), CSM_BENCH_MIN_TIME,
# CSM_BENCH_GRAD_CASES ("faceres:1 faceres:8 gender:32"),
# CSM_BENCH_GRAD_PEERS ("wasm cpu"), CSM_PYTHON (python3 with numpy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-}
[[ -n $BUILD ]] || {
  echo "usage: bench/grad.sh BUILD_DIR" >&2
  exit 1
}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "bench: no build directory '$1'" >&2
  exit 1
}
export CSM_THREADS=${CSM_THREADS:-2}
MODELS_DIR=${CSM_MODELS_DIR:-$ROOT/models}
SAMPLES_DIR=${CSM_SAMPLES_DIR:-$ROOT/data/samples}
MIN_TIME=${CSM_BENCH_MIN_TIME:-2}
read -r -a CASES <<<"${CSM_BENCH_GRAD_CASES:-faceres:1 faceres:8 gender:32}"
read -r -a PEERS <<<"${CSM_BENCH_GRAD_PEERS:-wasm cpu}"
EXE=$BUILD/bench/bench_grad_peer

# model -> "W,H,C scale offset K:J": input size, pixel [0,1] -> x*scale+offset
# (the zoo's range, src/task/zoo.c), the output value differentiated.
declare -A SPEC=(
  [faceres]="224,224,3 255 0 0:0"
  [gender]="64,64,1 2 -1 0:0"
  [emotion]="64,64,1 2 -1 0:3"
  [gear]="198,198,3 1 0 1:0"
  [mobileface]="112,112,3 255 0 0:0"
)

die() {
  echo "bench: $*" >&2
  exit 1
}
[[ -x $EXE ]] || die "$EXE not built"
command -v node >/dev/null 2>&1 || die "node not found (run scripts/setup.sh)"
[[ -f $ROOT/deps/npm/node_modules/@tensorflow/tfjs-backend-wasm/package.json ]] ||
  die "npm tree missing (run scripts/setup.sh)"
PY=${CSM_PYTHON:-}
if [[ -z $PY ]]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then
      PY=$p
      break
    fi
  done
fi
[[ -n $PY ]] || die "no python3 with numpy (set CSM_PYTHON)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-grad.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.tsv
ERRLOG=$WORK/err.log
: >"$RESULTS"
last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v' "$ERRLOG" | tail -n 1; }

CROPS=()
while read -r img x y w h rest; do
  [[ -z ${img:-} || $img == \#* ]] && continue
  CROPS+=("$SAMPLES_DIR/$img:$x,$y,$w,$h")
done <"$ROOT/tests/oracles/face_crops.txt"

echo "bench: input gradients, $CSM_THREADS threads, >= ${MIN_TIME}s per measurement," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for c in "${CASES[@]}"; do
  m=${c%%:*}
  b=${c##*:}
  [[ -n ${SPEC[$m]+x} ]] || die "no input spec for model $m"
  [[ -f $MODELS_DIR/$m.json ]] || die "model $m not installed (run scripts/setup.sh)"
  read -r size scale offset kj <<<"${SPEC[$m]}"
  echo "bench: grad $m batch $b ..." >&2
  in=$WORK/$m.$b.npy
  crops=()
  for ((i = 0; i < b; i++)); do crops+=("${CROPS[$((i % ${#CROPS[@]}))]}"); done
  node "$ROOT/tests/oracles/crop.mjs" --size "$size" --out "$WORK/crop.npy" "${crops[@]}" >"$ERRLOG" 2>&1 ||
    die "crop.mjs: $(last_line)"
  "$PY" -c '
import sys, numpy as np
x = np.load(sys.argv[1]).astype(np.float32) * np.float32(sys.argv[3]) + np.float32(sys.argv[4])
np.save(sys.argv[2], x.astype(np.float32))' "$WORK/crop.npy" "$in" "$scale" "$offset"
  csm_json=null
  if out=$("$EXE" "$MODELS_DIR/$m.json" "$in" --grad "$kj" --threads "$CSM_THREADS" --pin \
    --min-time "$MIN_TIME" --out "$WORK/csm_grad.npy" 2>"$ERRLOG"); then
    csm_json=$(tail -n 1 <<<"$out")
  else
    echo "bench: csm grad $m batch $b failed: $(last_line)" >&2
  fi
  peer_json=()
  for p in wasm cpu; do
    j=null
    if [[ " ${PEERS[*]} " == *" $p "* ]]; then
      check=()
      [[ -f $WORK/csm_grad.npy ]] && check=(--check "$WORK/csm_grad.npy")
      if out=$(node "$ROOT/bench/tfjs_grad_bench.mjs" "$MODELS_DIR/$m.json" "$in" --grad "$kj" \
        --backend "$p" --threads "$CSM_THREADS" --min-time "$MIN_TIME" "${check[@]}" 2>"$ERRLOG"); then
        j=$(tail -n 1 <<<"$out")
      else
        echo "bench: tfjs-$p grad $m batch $b failed: $(last_line)" >&2
      fi
    fi
    peer_json+=("$j")
  done
  rm -f "$in" "$WORK/csm_grad.npy"
  printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$b" "$csm_json" "${peer_json[0]}" "${peer_json[1]}" >>"$RESULTS"
done

# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => {
    const [model, batch, c, w, p] = l.split("\t");
    const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
    return { model, batch, csm: parse(c), wasm: parse(w), cpu: parse(p) };
  });
  const s = (x) => (x == null ? "-" : x.toPrecision(3));
  const e = (x) => (x == null ? "-" : x.toExponential(1));
  const pad = (v, n) => String(v).padStart(n);
  const w = [8, 6, 10, 8, 8, 11, 8, 11, 11, 8, 10, 8, 15];
  console.log(["model", "batch", "csm s/grad", "fwd", "bwd", "wasm s/grad", "wasm/csm", "(cpu-fallbk)",
    "wasm-fallbk", "ratio", "cpu s/grad", "cpu/csm", "err wasm/cpu"].map((v, i) => pad(v, w[i])).join(" "));
  for (const r of rows) {
    const c = r.csm && r.csm.seconds_per_grad, ws = r.wasm && r.wasm.seconds_per_grad,
      cs = r.cpu && r.cpu.seconds_per_grad;
    console.log([r.model, r.batch, s(c), s(r.csm && r.csm.forward_s), s(r.csm && r.csm.backward_s),
      s(ws), c && ws ? (ws / c).toFixed(1) : "-", r.wasm ? s(r.wasm.fallback_s) : "-",
      r.wasm ? s(ws - r.wasm.fallback_s) : "-", c && ws ? ((ws - r.wasm.fallback_s) / c).toFixed(2) : "-", s(cs),
      c && cs ? (cs / c).toFixed(1) : "-",
      `${e(r.wasm && r.wasm.rel_l2_vs_ref)}/${e(r.cpu && r.cpu.rel_l2_vs_ref)}`].map((v, i) => pad(v, w[i])).join(" "));
  }
  const c0 = rows.find((r) => r.csm), w0 = rows.find((r) => r.wasm);
  const notes = [];
  if (c0) notes.push(`csm ${c0.csm.team}t pinned`);
  if (w0) notes.push(`wasm ${w0.wasm.threads}t${w0.wasm.simd ? " simd" : ""}, cpu kernels in wasm: ` +
    `${[...new Set(rows.flatMap((r) => (r.wasm ? Object.keys(r.wasm.fallback) : [])))].join(" ")}`);
  notes.push("tfjs-cpu 1t");
  console.log(`(${notes.join("; ")}; ratios: peer / csm, > 1: csm faster; wasm-fallbk: wasm time less the cpu ` +
    "fallback kernels, a lower bound for a wasm that had them; err = rel. L2 distance of the peer gradient from csm)");
  for (const r of rows) {
    if (!r.wasm || !Object.keys(r.wasm.fallback).length) continue;
    const parts = Object.entries(r.wasm.fallback).map(([k, v]) => `${k} ${v.calls}x ${s(v.s)}s`);
    console.log(`wasm ${r.model}:${r.batch} cpu-fallback kernels per gradient: ${parts.join(", ")}`);
  }
' "$RESULTS"
