#!/usr/bin/env bash
# `make demo`: the main job on the built-in sample photos. Until the saliency
# commands exist it shows what the engine and the face pipeline do: the model
# table, every face found with its mesh and pose, the faces classified, and
# each face frontalized onto the canonical face.
set -euo pipefail
build=${1:-build}
csm="$build/csm"
samples=(data/samples/sample*.jpg)
out=demo-out
mkdir -p "$out/faces" "$out/warp"
echo "== csm models"
"$csm" models
echo
echo "== csm detect -o $out/faces (overlays: box, mesh, pose)"
"$csm" detect -o "$out/faces" "${samples[@]}"
for task in gender expression age; do
  echo
  echo "== csm classify --task $task"
  "$csm" classify --task "$task" "${samples[@]}"
done
echo
echo "== csm warp -o $out/warp (each face on the canonical face)"
"$csm" warp -o "$out/warp" "${samples[@]}"
echo
echo "outputs written to $out/"
