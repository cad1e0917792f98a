#!/usr/bin/env bash
# `make demo`: the main job on the built-in sample photos. Until the saliency
# commands exist it shows the engine: the model table, then the emotion and
# gender models on a face from the first sample photo.
set -euo pipefail
build=${1:-build}
csm="$build/csm"
samples=data/samples
out=demo-out
mkdir -p "$out"
echo "== csm models"
"$csm" models
# A face in sample1.jpg (box chosen by eye; face detection comes with 'csm detect').
face=$(awk '$1 == "sample1.jpg" { print $2 "," $3 "," $4 "," $5; exit }' tests/oracles/face_crops.txt)
echo
echo "== csm infer --model emotion --crop $face $samples/sample1.jpg"
"$csm" infer --model emotion --crop "$face" "$samples/sample1.jpg"
echo "   (classes: angry, disgust, fear, happy, sad, surprise, neutral)"
echo
echo "== csm infer --model faceres --crop $face $samples/sample1.jpg --out $out/faceres"
"$csm" infer --model faceres --crop "$face" "$samples/sample1.jpg" --out "$out/faceres"
echo
echo "outputs written to $out/"
