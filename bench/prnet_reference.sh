#!/usr/bin/env bash
# The reference mode against the official algorithm on the reference's own
# faces, as a user would run it: JPEGs as they are, torchvision's seeded
# ResNet-18 (torch.manual_seed(0); resnet18(num_classes=10), ImageNet
# mean/std, logit confidence; issue 14's set-up) exported to ONNX.
#   official: tests/oracles/official_occlusion.py map (the official
#             Occlusion() transcribed, PyTorch eager on CPU, batches of 16,
#             CSM_THREADS threads; timed with its own model build and loads)
#   csm:      csm cis --align prnet --model resnet18.onnx ... (CSM_THREADS)
# Per face: Pearson r and max abs error (of the official map's range) on the
# pixels the official map covers, and both times; then the mean ratio
# official time / csm time (> 1: csm faster). JPEG decoding differs between
# the two (stb_image vs Pillow's libjpeg-turbo): the test
# (tests/explain/prnet_reference.test.sh) removes that with a PNG; here it
# stays, so r < 1 measures what it costs.
#
#   bash bench/prnet_reference.sh [BUILD_DIR] [N_FACES]   (defaults: build, 3)
# Needs ../shared/data/celeba-prnet (CSM_PRNET_DATA) and python3 with torch,
# torchvision, PIL, scipy.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
N=${2:-3}
DATA=${CSM_PRNET_DATA:-$ROOT/../shared/data/celeba-prnet}
PY=${CSM_TORCH_PYTHON:-/usr/bin/python3}
ORACLE=$ROOT/tests/oracles/official_occlusion.py
export CSM_THREADS=${CSM_THREADS:-2}
[[ -d $DATA/images ]] || { echo "prnet_reference: no $DATA (set CSM_PRNET_DATA)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/csm-prnet-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PY" "$ORACLE" model "$TMP/resnet18.onnx" resnet18 >"$TMP/export.log" 2>&1
now() { date +%s.%N; }
printf '%-8s %10s %12s %9s %9s %7s\n' face r "max err" "csm s" "torch s" ratio
sum=0
for img in $(ls "$DATA/images"/*.jpg | head -n "$N"); do
  id=$(basename "$img" .jpg)
  t0=$(now)
  "$PY" "$ORACLE" map resnet18 "$img" "$DATA/meshes/${id}_mesh.mat" "$DATA/frontal_mesh.mat" \
    "$DATA/frontal.jpg" "$TMP/$id.npy" >/dev/null
  t1=$(now)
  "$BUILD/csm" cis --quiet --align prnet --meshes "$DATA/meshes" \
    --canonical-mesh "$DATA/frontal_mesh.mat" --model "$TMP/resnet18.onnx" \
    --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --confidence logit "$img" \
    -o "$TMP/csm_$id" 2>/dev/null
  t2=$(now)
  line=$("$PY" "$ORACLE" compare "$TMP/$id.npy" "$TMP/csm_$id/${id}_face1.npy" 0 1 | head -n 1)
  r=$(sed -E 's/.*: r = ([0-9.]+),.*/\1/' <<<"$line")
  e=$(sed -E 's/.*max abs error = ([0-9.e+-]+) .*/\1/' <<<"$line")
  tt=$(awk "BEGIN{print $t1 - $t0}") tc=$(awk "BEGIN{print $t2 - $t1}")
  ratio=$(awk "BEGIN{print $tt / $tc}")
  sum=$(awk "BEGIN{print $sum + $ratio}")
  printf '%-8s %10s %12s %9.1f %9.1f %7.2f\n' "$id" "$r" "$e" "$tc" "$tt" "$ratio"
done
printf 'mean ratio official/csm over %d faces: %.2f (CSM_THREADS=%s)\n' "$N" \
  "$(awk "BEGIN{print $sum / $N}")" "$CSM_THREADS"
