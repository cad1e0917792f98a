#!/usr/bin/env bash
# ONNX models: csm vs ONNX Runtime vs PyTorch on the same .onnx files, the same
# input batch and the same thread count, in one run.
#
#   bash bench/onnx.sh BUILD_DIR        (also run at the end of bench/run.sh)
#
# tests/oracles/torch_models.py exports VGG16 and ResNet-18, MobileNetV2 (224x224)
# and the SphereFace-style face net (112x112) (fixed seeds, random weights
# calibrated on the face crops of tests/oracles/face_crops.txt, opset 13,
# dynamic batch). The input: BATCH (16) real face crops (tests/oracles/crop.mjs,
# the crops in turn), normalized as the model expects, NCHW, one .npy given to
# all three:
#   csm:          BUILD_DIR/bench/bench_onnx (csm_model_run; CSM_THREADS threads)
#   onnxruntime:  bench/onnx_ort_bench.mjs (onnxruntime-node 1.20.1, CPU EP, all
#                 graph optimizations, intraOpNumThreads CSM_THREADS, interOp 1)
#   pytorch:      bench/onnx_torch_bench.py (the exported nn.Module itself, eager,
#                 torch.set_num_threads(CSM_THREADS), inference_mode)
# each: one warm-up run, then whole runs for >= CSM_BENCH_MIN_TIME (2) s and >= 3
# runs. Table: images/s and the ratios csm/ORT and csm/PyTorch (> 1: csm faster).
# Then, with CSM_BENCH_ONNX_PROFILE=1 (default), csm's time per op type and its
# slowest nodes for each model (bench_onnx --profile, on stderr).
# Environment: CSM_THREADS (default 2), CSM_BENCH_MIN_TIME, CSM_BENCH_ONNX_MODELS
# ("vgg16 resnet18 mobilenetv2 facenet"), CSM_BENCH_ONNX_BATCH (16),
# CSM_BENCH_ONNX_PEERS ("ort torch"), CSM_BENCH_ONNX_PROFILE (1),
# CSM_TORCH_PYTHON (/usr/bin/python3: the python with torch).
# The exported models (VGG16: 0.5 GB) live in a temporary folder, removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-}
[[ -n $BUILD ]] || {
  echo "usage: bench/onnx.sh BUILD_DIR" >&2
  exit 1
}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "bench: no build directory '$1'" >&2
  exit 1
}
export CSM_THREADS=${CSM_THREADS:-2}
MIN_TIME=${CSM_BENCH_MIN_TIME:-2}
BATCH=${CSM_BENCH_ONNX_BATCH:-16}
read -r -a MODELS <<<"${CSM_BENCH_ONNX_MODELS:-vgg16 resnet18 mobilenetv2 facenet}"
read -r -a PEERS <<<"${CSM_BENCH_ONNX_PEERS:-ort torch}"
PROFILE=${CSM_BENCH_ONNX_PROFILE:-1}
PY=${CSM_TORCH_PYTHON:-/usr/bin/python3}
SAMPLES_DIR=${CSM_SAMPLES_DIR:-$ROOT/data/samples}
EXE=$BUILD/bench/bench_onnx

die() {
  echo "bench: $*" >&2
  exit 1
}
[[ -x $EXE ]] || die "$EXE not built"
command -v node >/dev/null 2>&1 || die "node not found (run scripts/setup.sh)"
[[ -f $ROOT/deps/npm/node_modules/onnxruntime-node/package.json ]] ||
  die "onnxruntime-node not installed in deps/npm (run scripts/setup.sh)"
"$PY" -c 'import numpy, torch, torchvision' 2>/dev/null ||
  die "$PY cannot import numpy, torch, torchvision (scripts/setup.sh installs python3-torch)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-onnx.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.tsv
ERRLOG=$WORK/err.log
: >"$RESULTS"
last_line() { grep -Ev '^[[:space:]]*$|^[[:space:]]+at |^Node\.js v|Warning|^  ' "$ERRLOG" | tail -n 1; }

CROPS=()
while read -r img x y w h rest; do
  [[ -z ${img:-} || $img == \#* ]] && continue
  CROPS+=("$SAMPLES_DIR/$img:$x,$y,$w,$h")
done <"$ROOT/tests/oracles/face_crops.txt"
for s in 224 112; do
  node "$ROOT/tests/oracles/crop.mjs" --size "$s,$s,3" --out "$WORK/crops$s.npy" "${CROPS[@]}" \
    >"$ERRLOG" 2>&1 || die "crop.mjs: $(last_line)"
done
CROP_ARGS=(--crops224 "$WORK/crops224.npy" --crops112 "$WORK/crops112.npy")

echo "bench: ONNX models, batch $BATCH, $CSM_THREADS threads, >= ${MIN_TIME}s per measurement," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "bench: exporting ${MODELS[*]} with PyTorch ..." >&2
"$PY" "$ROOT/tests/oracles/torch_models.py" export --outdir "$WORK" "${CROP_ARGS[@]}" \
  --models "$(IFS=,; echo "${MODELS[*]}")" --no-cases >"$ERRLOG" 2>&1 ||
  die "torch_models.py export: $(last_line)"

PROFILES=$WORK/profiles.txt
: >"$PROFILES"
for m in "${MODELS[@]}"; do
  onnx=$WORK/$m.onnx
  in=$WORK/$m.b$BATCH.npy
  # BATCH crops in turn, normalized for the model, NCHW.
  "$PY" -c '
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import numpy as np, torch_models as tm
arch, size = tm.VARIANTS[sys.argv[2]][:2]
crops = tm.load_crops(sys.argv[4] if size == 224 else sys.argv[5], size)
idx = [i % len(crops) for i in range(int(sys.argv[3]))]
np.save(sys.argv[6], tm.normalize(arch, crops[idx]))' "$ROOT/tests/oracles" "$m" "$BATCH" \
    "$WORK/crops224.npy" "$WORK/crops112.npy" "$in"
  echo "bench: $m batch $BATCH: csm ..." >&2
  csm_json=null
  prof=()
  [[ $PROFILE == 1 ]] && prof=(--profile)
  if out=$("$EXE" "$onnx" "$in" --threads "$CSM_THREADS" --min-time "$MIN_TIME" "${prof[@]}" \
    2>"$ERRLOG"); then
    csm_json=$(tail -n 1 <<<"$out")
    [[ $PROFILE == 1 ]] && { grep -E '^(profile|  )' "$ERRLOG" >>"$PROFILES" || true; }
  else
    echo "bench: csm $m failed: $(last_line)" >&2
  fi
  ort_json=null
  if [[ " ${PEERS[*]} " == *" ort "* ]]; then
    echo "bench: $m batch $BATCH: onnxruntime ..." >&2
    if out=$(node "$ROOT/bench/onnx_ort_bench.mjs" "$onnx" "$in" --threads "$CSM_THREADS" \
      --min-time "$MIN_TIME" 2>"$ERRLOG"); then
      ort_json=$(tail -n 1 <<<"$out")
    else
      echo "bench: onnxruntime $m failed: $(last_line)" >&2
    fi
  fi
  torch_json=null
  if [[ " ${PEERS[*]} " == *" torch "* ]]; then
    echo "bench: $m batch $BATCH: pytorch ..." >&2
    if out=$("$PY" "$ROOT/bench/onnx_torch_bench.py" "$m" "$in" "${CROP_ARGS[@]}" \
      --threads "$CSM_THREADS" --min-time "$MIN_TIME" 2>"$ERRLOG"); then
      torch_json=$(tail -n 1 <<<"$out")
    else
      echo "bench: pytorch $m failed: $(last_line)" >&2
    fi
  fi
  rm -f "$onnx" "$in"
  printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$BATCH" "$csm_json" "$ort_json" "$torch_json" >>"$RESULTS"
done

# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => {
    const [model, batch, c, o, t] = l.split("\t");
    const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
    return { model, batch, csm: parse(c), ort: parse(o), torch: parse(t) };
  });
  const f = (x) => (x == null ? "-" : x.toFixed(1));
  const pad = (s, n) => String(s).padStart(n);
  const w = [12, 6, 10, 10, 10, 8, 10, 9, 9];
  console.log(["model", "batch", "csm img/s", "ORT img/s", "torch img/s", "csm/ORT", "csm/torch",
    "csm ms", "GFLOP/img"].map((s, i) => pad(s, w[i])).join(" "));
  for (const r of rows) {
    const c = r.csm && r.csm.images_per_s, o = r.ort && r.ort.images_per_s, t = r.torch && r.torch.images_per_s;
    console.log([r.model, r.batch, f(c), f(o), f(t), c && o ? (c / o).toFixed(2) : "-",
      c && t ? (c / t).toFixed(2) : "-", f(r.csm && r.csm.ms_per_run),
      r.csm ? r.csm.gflop_per_image.toFixed(3) : "-"].map((s, i) => pad(s, w[i])).join(" "));
  }
  const any = (k) => rows.find((r) => r[k]);
  const notes = [];
  if (any("csm")) notes.push(`csm ${any("csm").csm.threads}t`);
  if (any("ort")) notes.push(`${any("ort").ort.backend} intra ${any("ort").ort.threads}t inter 1`);
  if (any("torch")) notes.push(`${any("torch").torch.backend} ${any("torch").torch.threads}t`);
  console.log(`(${notes.join("; ")}; ratios > 1: csm faster)`);
' "$RESULTS"
if [[ -s $PROFILES ]]; then
  echo
  echo "csm per-op profile (bench_onnx --profile):"
  cat "$PROFILES"
fi
