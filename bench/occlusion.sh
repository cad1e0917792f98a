#!/usr/bin/env bash
# Occlusion saliency speed: csm vs TF.js 4.22 wasm on the same occluded inputs.
#
#   bash bench/occlusion.sh BUILD_DIR        (also run at the end of bench/run.sh)
#
# For each case (zoo task on one face) BUILD_DIR/bench/bench_occlusion computes a
# CIS map as `csm cis` does (468 mesh centres, default patch and batch): a
# warm-up run, which dumps the occluded inputs it evaluated, then the median of
# CSM_BENCH_OCC_REPEAT (3) timed runs of occlusion + CIS. Then
# bench/tfjs_occlusion_bench.mjs runs the same occluded inputs through TF.js-wasm
# in the same batch size, whole passes for >= CSM_BENCH_MIN_TIME (2) s. Table:
# occluded inputs/s and seconds per CIS map of both, the ratio csm / tfjs-wasm,
# and the largest confidence difference between the two engines on the set.
# csm's time includes building the occluded inputs and the CIS; the peer's is only
# the model on inputs it is handed.
# Threads: csm runs pinned to CSM_THREADS (bench_occlusion --pin: OpenMP's dynamic
# adjustment off), as TF.js-wasm's fixed pool is. As shipped, csm lets libgomp
# shrink its teams by the 15-minute load average (src/core/threads.c): the last
# columns are csm unpinned (a timed run without the dump) and the team it got.
# Environment: CSM_THREADS (default 2: both engines), CSM_BENCH_MIN_TIME,
# CSM_BENCH_OCC_REPEAT, CSM_BENCH_OCC_IMAGE (data/samples/sample3.jpg),
# CSM_BENCH_OCC_FACE (1), CSM_BENCH_OCC_CASES ("gender expression gender-64").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-}
[[ -n $BUILD ]] || {
  echo "usage: bench/occlusion.sh BUILD_DIR" >&2
  exit 1
}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "bench: no build directory '$1'" >&2
  exit 1
}
export CSM_THREADS=${CSM_THREADS:-2}
export CSM_MODELS_DIR=${CSM_MODELS_DIR:-$ROOT/models}
MIN_TIME=${CSM_BENCH_MIN_TIME:-2}
REPEAT=${CSM_BENCH_OCC_REPEAT:-3}
IMAGE=${CSM_BENCH_OCC_IMAGE:-$ROOT/data/samples/sample3.jpg}
FACE=${CSM_BENCH_OCC_FACE:-1}
read -r -a CASES <<<"${CSM_BENCH_OCC_CASES:-gender expression gender-64}"
EXE=$BUILD/bench/bench_occlusion

die() {
  echo "bench: $*" >&2
  exit 1
}
[[ -x $EXE ]] || die "$EXE not built"
command -v node >/dev/null 2>&1 || die "node not found (run scripts/setup.sh)"
[[ -f $ROOT/deps/npm/node_modules/@tensorflow/tfjs-backend-wasm/package.json ]] ||
  die "npm tree missing (run scripts/setup.sh)"
[[ -f $IMAGE ]] || die "no image $IMAGE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-occ.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.tsv
ERRLOG=$WORK/err.log
: >"$RESULTS"
last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v' "$ERRLOG" | tail -n 1; }

echo "bench: occlusion saliency, $(basename "$IMAGE") face $FACE, $CSM_THREADS threads," \
  "csm median of $REPEAT, tfjs-wasm >= ${MIN_TIME}s, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for task in "${CASES[@]}"; do
  echo "bench: occlusion $task ..." >&2
  dump=$WORK/$task.npy
  csm_json=null
  tfjs_json=null
  dyn_json=null
  if out=$("$EXE" "$task" "$IMAGE" --face "$FACE" --threads "$CSM_THREADS" --repeat "$REPEAT" \
    --pin --dump "$dump" 2>"$ERRLOG"); then
    csm_json=$(tail -n 1 <<<"$out")
    model=$(node -p 'JSON.parse(process.argv[1]).model' "$csm_json")
    if out=$(node "$ROOT/bench/tfjs_occlusion_bench.mjs" "$CSM_MODELS_DIR/$model.json" "$dump" \
      --threads "$CSM_THREADS" --min-time "$MIN_TIME" 2>"$ERRLOG"); then
      tfjs_json=$(tail -n 1 <<<"$out")
    else
      echo "bench: tfjs-wasm occlusion $task failed: $(last_line)" >&2
    fi
    if out=$("$EXE" "$task" "$IMAGE" --face "$FACE" --threads "$CSM_THREADS" --repeat "$REPEAT" \
      2>"$ERRLOG"); then
      dyn_json=$(tail -n 1 <<<"$out")
    else
      echo "bench: csm occlusion $task (unpinned) failed: $(last_line)" >&2
    fi
  else
    echo "bench: csm occlusion $task failed: $(last_line)" >&2
  fi
  rm -f "$WORK/$task".*
  printf '%s\t%s\t%s\t%s\n' "$task" "$csm_json" "$tfjs_json" "$dyn_json" >>"$RESULTS"
done

# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => {
    const [task, c, t, d] = l.split("\t");
    const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
    return { task, csm: parse(c), tfjs: parse(t), dyn: parse(d) };
  });
  const f = (x, d = 1) => (x == null ? "-" : x.toFixed(d));
  const pad = (s, n) => String(s).padStart(n);
  const w = [10, 8, 10, 10, 10, 10, 15, 11, 6, 10, 15];
  console.log(["task", "model", "input", "evaluated", "csm occ/s", "csm s/CIS", "tfjs-wasm occ/s",
    "tfjs s/CIS", "ratio", "conf diff", "unpinned occ/s"].map((s, i) => pad(s, w[i])).join(" "));
  for (const r of rows) {
    const c = r.csm, t = r.tfjs;
    const cr = c && c.occluded_per_s, tr = t && t.occluded_per_s;
    console.log([r.task, c ? c.model : "-", c ? c.input.join("x") : "-",
      c ? `${c.evaluated}/${c.centres}` : "-", f(cr), f(c && c.seconds_per_cis, 2), f(tr),
      f(t && t.seconds_per_cis, 2), cr && tr ? (cr / tr).toFixed(2) : "-",
      t ? t.max_abs_conf_diff.toExponential(1) : "-",
      r.dyn ? `${f(r.dyn.occluded_per_s)} (${r.dyn.team}t)` : "-"].map((s, i) => pad(s, w[i])).join(" "));
  }
  const c0 = rows.find((r) => r.csm), t0 = rows.find((r) => r.tfjs);
  const notes = [];
  if (c0) notes.push(`csm ${c0.csm.team}t pinned, batch ${c0.csm.batch}, 15-min load ${c0.csm.load15}`);
  if (t0) notes.push(`wasm ${t0.tfjs.threads}t${t0.tfjs.simd ? " simd" : ""} batch ${t0.tfjs.batch}`);
  console.log(`(${notes.join(", ")}; csm: occlusion + CIS, median of runs; tfjs-wasm: model only)`);
  for (const r of rows) if (r.csm) console.log(`csm ${r.task}: inference only ${f(r.csm.inference_only_per_s)} occ/s`);
' "$RESULTS"
