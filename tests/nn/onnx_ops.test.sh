#!/usr/bin/env bash
# csm's ONNX operators against PyTorch, the independent oracle.
#
# tests/oracles/onnx_op_zoo.py exports small torch modules (convolutions,
# activations, pooling, shapes, matrices, resizing; opsets 11, 13, 17) with a
# dynamic batch axis, and saves a random batch-2 input with torch's outputs.
# csm runs each model on that input (`csm infer --npy`, NCHW as declared) and
# every output must match: same shape, relative L2 error
# |csm - torch| / |torch| <= tol (default 1e-4).
#
# Environment (ctest sets these): CSM_BIN, CSM_SOURCE_DIR, CSM_TEST_TMP.
# Optional: CSM_ONNX_OPS="convs acts" only these modules; CSM_ONNX_OPS_TOL.
# Exit: 0 all pass, 1 any failure, 77 skipped (no python3 with torch).
set -euo pipefail

SRC=${CSM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CSM_BIN=${CSM_BIN:-$SRC/build/csm}
TMP=${CSM_TEST_TMP:-${TMPDIR:-/tmp}}/onnx_ops
TOL=${CSM_ONNX_OPS_TOL:-1e-4}
PY=/usr/bin/python3

[[ -x $PY ]] && $PY -c 'import torch, numpy' 2>/dev/null || {
  echo "SKIP onnx_ops: /usr/bin/python3 with torch and numpy is needed (python3-torch)"
  exit 77
}
[[ -x $CSM_BIN ]] || {
  echo "onnx_ops: error: csm binary not found: $CSM_BIN" >&2
  exit 1
}

rm -rf "$TMP"
mkdir -p "$TMP"
read -r -a only <<<"${CSM_ONNX_OPS:-}" || true
$PY "$SRC/tests/oracles/onnx_op_zoo.py" "$TMP" "${only[@]}" >"$TMP/export.log" 2>&1 || {
  tail -n 20 "$TMP/export.log"
  echo "onnx_ops: error: exporting the models failed" >&2
  exit 1
}

passed=0
failed=0
FAILED=()
while read -r dir n_out; do
  d=$TMP/$dir
  if ! "$CSM_BIN" infer --model "$d/model.onnx" --npy "$d/in.npy" --out "$d/csm" >"$d/csm.log" 2>&1; then
    FAILED+=("$dir: csm infer: $(tail -n 1 "$d/csm.log")")
    failed=$((failed + 1))
    continue
  fi
  if $PY - "$d" "$n_out" "$TOL" "$dir" <<'EOF'; then passed=$((passed + 1)); else
import os, sys
import numpy as np
d, n, tol, label = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
worst, worst_k, bad = -1.0, 0, []
for k in range(n):
    want = np.load(os.path.join(d, f"out_{k}.npy")).astype(np.float64)
    path = os.path.join(d, f"csm_{k}.npy")
    if not os.path.exists(path):
        bad.append(f"out{k}: csm wrote no {os.path.basename(path)}")
        continue
    got = np.load(path).astype(np.float64)
    if got.shape != want.shape:
        bad.append(f"out{k}: shape {list(got.shape)}, torch {list(want.shape)}")
        continue
    norm = np.linalg.norm(want)
    err = np.linalg.norm(got - want) / (norm if norm > 0 else 1.0)
    if not np.isfinite(err) or err > tol:
        bad.append(f"out{k}: relative L2 error {err:.3g} > {tol:g}")
    if not np.isfinite(err) or err > worst:
        worst, worst_k = (err if np.isfinite(err) else float("inf")), k
print(f"{label:16s} {n:2d} outputs, worst relative L2 error {worst:.2e} (out{worst_k})")
for b in bad:
    print(f"  FAIL {label}: {b}")
sys.exit(1 if bad else 0)
EOF
    failed=$((failed + 1))
    FAILED+=("$dir: outputs differ from torch (above)")
  fi
done <"$TMP/models.txt"

for f in "${FAILED[@]}"; do echo "FAIL $f"; done
echo "onnx_ops: $passed passed, $failed failed (tol $TOL)"
((failed == 0 && passed > 0))
