#!/usr/bin/env bash
# csm detect against @vladmandic/human 3.3.6 (tests/oracles/human_faces.mjs):
# face counts on group photos and the samples, box IoU per matched face, mesh
# distance in inter-ocular units; plus the CLI contract of `csm detect`.
# Needs the installed models, node and the npm tree; skips (77) otherwise.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
samples=${CSM_SAMPLES_DIR:-$root/data/samples}
testdata=${CSM_TEST_DATA:-$root/tests/data}
npm=${CSM_NPM_DIR:-$root/deps/npm/node_modules}
oracle=$root/tests/oracles/human_faces.mjs
# Limits (see docs/faces.md): csm's weighted NMS averages near-duplicate
# anchors that human's hard NMS leaves out, so boxes differ a little.
MIN_IOU=${CSM_DETECT_MIN_IOU:-0.85}
MEAN_IOU=${CSM_DETECT_MEAN_IOU:-0.90}
# Mesh: median over faces of the mean point distance / inter-ocular distance.
# The mean is looser: human crops without de-rotating (its default), and on
# strongly rolled faces its fit and csm's de-rotated one differ by 10-20%.
MESH_TOL=${CSM_DETECT_MESH_TOL:-0.03}
MESH_MEAN_TOL=${CSM_DETECT_MESH_MEAN_TOL:-0.03}

for f in blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
command -v node >/dev/null || { echo "node not found: skipped"; exit 77; }
[ -f "$npm/@vladmandic/human/dist/human.esm.js" ] || { echo "@vladmandic/human not in $npm: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-detect.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CSM_MODELS_DIR=$models CSM_NPM_DIR=$npm
fails=0

fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- CLI contract ---------------------------------------------------------
"$csm" detect >/dev/null 2>&1; [ $? = 1 ] || fail "no images: want exit 1"
"$csm" detect --detector sideways "$samples/sample1.jpg" >/dev/null 2>&1
[ $? = 1 ] || fail "bad --detector: want exit 1"
"$csm" detect --min-score 2 "$samples/sample1.jpg" >/dev/null 2>&1
[ $? = 1 ] || fail "bad --min-score: want exit 1"
printf 'not a jpeg' >"$tmp/broken.jpg"
"$csm" detect -o "$tmp/ov" "$samples/sample1.jpg" "$tmp/broken.jpg" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "broken image: exit $rc, want 2"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q broken.jpg "$tmp/err" || fail "broken image: want one line naming the file, got: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "broken image: printed output"
[ -e "$tmp/ov/sample1_faces.png" ] && fail "broken image: wrote a partial overlay"
"$csm" detect --no-mesh -o "$tmp/ov" "$samples/sample1.jpg" >"$tmp/out" 2>"$tmp/err" || fail "overlay: $(cat "$tmp/err")"
[ -s "$tmp/ov/sample1_faces.png" ] || fail "overlay: no $tmp/ov/sample1_faces.png"
grep -q "sample1.jpg: 3 faces" "$tmp/out" || fail "summary: $(head -2 "$tmp/out")"

# ---- csm vs human ---------------------------------------------------------
# compare.mjs CSM.json HUMAN.json EXPECTED_COUNTS|- CHECK_MESH(0/1)
cat >"$tmp/compare.mjs" <<'EOF'
import fs from 'node:fs';
const [cf, hf, expect, checkMesh] = process.argv.slice(2);
const UNSURE = 0.9;
const C = JSON.parse(fs.readFileSync(cf, 'utf8')).images;
const H = JSON.parse(fs.readFileSync(hf, 'utf8')).images;
const want = expect === '-' ? null : expect.split(',').map(Number);
const lim = {
  minIou: +process.env.MIN_IOU,
  meanIou: +process.env.MEAN_IOU,
  mesh: +process.env.MESH_TOL,
  meshMean: +process.env.MESH_MEAN_TOL,
};
const iou = (a, b) => {
  const iw = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / (a[2] * a[3] + b[2] * b[3] - iw * ih);
};
let bad = 0;
const ious = [];
const meshErr = [];
const tiltedErr = [];
const TILT = 20; // degrees
C.forEach((ci, i) => {
  const hi = H[i];
  const name = ci.path.split('/').pop();
  let line = `${name}: csm ${ci.faces.length} human ${hi.faces.length}`;
  if (want) line += ` expected ${want[i]}`;
  if (ci.faces.length !== hi.faces.length || (want && ci.faces.length !== want[i])) {
    line += '  <- count differs';
    bad++;
  }
  const used = new Set();
  const parts = [];
  for (const h of hi.faces) {
    let best = -1;
    let bi = 0;
    ci.faces.forEach((c, j) => {
      const v = iou(c.box, h.box);
      if (!used.has(j) && v > bi) { bi = v; best = j; }
    });
    if (best < 0) { parts.push('unmatched'); bad++; continue; }
    used.add(best);
    ious.push(bi);
    let p = `iou ${bi.toFixed(3)}`;
    if (bi < lim.minIou) { p += '<-'; bad++; }
    const c = ci.faces[best];
    if (checkMesh === '1' && c.mesh && h.mesh && h.faceScore < UNSURE) {
      // Human's own FaceMesh doubts its fit (profiles it crops without
      // de-rotating): printed, left out of the mean.
      p += ` (human mesh score ${h.faceScore}: not compared)`;
    } else if (checkMesh === '1' && c.mesh && h.mesh) {
      // Inter-ocular distance: outer eye corners 33 and 263 of human's mesh.
      const iod = Math.hypot(h.mesh[33][0] - h.mesh[263][0], h.mesh[33][1] - h.mesh[263][1]);
      let s = 0;
      for (let k = 0; k < 468; k++) s += Math.hypot(c.mesh[k][0] - h.mesh[k][0], c.mesh[k][1] - h.mesh[k][1]);
      // Tilted faces: csm de-rotates the crop by the roll before FaceMesh (as
      // the design asks); human's default pipeline feeds the tilted crop, so
      // the two fits legitimately differ there. They are reported apart.
      const roll = c.pose ? Math.abs(c.pose.roll) : 0;
      (roll < TILT ? meshErr : tiltedErr).push(s / 468 / iod);
      p += ` mesh ${((100 * s) / 468 / iod).toFixed(1)}%${roll < TILT ? '' : ` (roll ${roll.toFixed(0)}°)`}`;
    }
    parts.push(p);
  }
  console.log(`${line}\n    ${parts.join(', ')}`);
});
const mean = (a) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
const sorted = (a) => [...a].sort((x, y) => x - y);
if (ious.length) {
  console.log(`box IoU vs human: ${ious.length} faces, min ${sorted(ious)[0].toFixed(3)}, mean ${mean(ious).toFixed(3)} (limits ${lim.minIou}, mean ${lim.meanIou})`);
  if (mean(ious) < lim.meanIou) bad++;
}
if (meshErr.length) {
  const s = sorted(meshErr);
  const med = s[s.length >> 1];
  console.log(`mesh vs human (x, y; / inter-ocular), faces rolled < ${TILT}°: ${s.length} faces, median ${(100 * med).toFixed(2)}%, mean ${(100 * mean(meshErr)).toFixed(2)}%, max ${(100 * s[s.length - 1]).toFixed(2)}% (limits: median ${100 * lim.mesh}%, mean ${100 * lim.meshMean}%)`);
  if (med > lim.mesh || mean(meshErr) > lim.meshMean) bad++;
  if (tiltedErr.length)
    console.log(`  (faces rolled ${TILT}° or more, not held to the limit: ${tiltedErr.length}, mean ${(100 * mean(tiltedErr)).toFixed(2)}%)`);
}
process.exit(bad ? 1 : 0);
EOF
export MIN_IOU MEAN_IOU MESH_TOL MESH_MEAN_TOL

run_pair() { # label, expected counts or -, csm args | human args (split at --)
  local label=$1 expect=$2 mesh=$3; shift 3
  local cargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cargs+=("$1"); shift; done
  shift
  local imgs=("$@")
  echo "== $label"
  # Human runs FaceMesh once on the detector's crop: compare csm's same single
  # pass (its refits on the crop from the first mesh are checked in
  # tests/face/test_mesh_pose.c).
  [ "$mesh" = 1 ] && cargs+=(--no-refine)
  if ! "$csm" detect --json "${cargs[@]}" "${imgs[@]}" >"$tmp/c.json" 2>"$tmp/cerr"; then
    fail "$label: csm detect: $(cat "$tmp/cerr")"; return
  fi
  local hm=()
  [ "$mesh" = 1 ] && hm=(--mesh)
  if ! node "$oracle" "${hargs[@]}" "${hm[@]}" "${imgs[@]}" >"$tmp/h.json" 2>"$tmp/herr"; then
    fail "$label: oracle: $(tail -3 "$tmp/herr")"; return
  fi
  node "$tmp/compare.mjs" "$tmp/c.json" "$tmp/h.json" "$expect" "$mesh" || fail "$label"
}

# Human's oracle options per csm run: same model and threshold.
group=()
for n in 1 3 4 5; do group+=("$testdata/faceapi/bbt$n.jpg"); done
if [ -f "${group[0]}" ]; then
  # 0.3: the fourth face of bbt1 and fifth of bbt5 (profile, half hidden)
  # score 0.49 and 0.39; at the default 0.5 they are missed (by human too).
  hargs=(--detector back --min-score 0.3)
  run_pair "group photos, back, min-score 0.3" 4,5,6,5 0 --detector back --min-score 0.3 --no-mesh -- "${group[@]}"
  run_pair "group photos, back, min-score 0.3, mesh" - 1 --detector back --min-score 0.3 -- "${group[@]}"
else
  fail "$testdata/faceapi/bbt1.jpg missing (tests/data is in the repository)"
fi
sample_imgs=("$samples"/sample*.jpg)
hargs=(--detector back)
run_pair "samples, back" - 1 --detector back -- "${sample_imgs[@]}"
hargs=(--detector front)
run_pair "samples, front" - 0 --detector front --no-mesh -- "${sample_imgs[@]}"
# auto picks back on these (no close-ups): same counts as back.
"$csm" detect --json --no-mesh "${sample_imgs[@]}" >"$tmp/auto.json" 2>/dev/null || fail "auto run"
"$csm" detect --json --no-mesh --detector back "${sample_imgs[@]}" >"$tmp/back.json" 2>/dev/null
cmp -s "$tmp/auto.json" "$tmp/back.json" || fail "auto differs from back on the samples"

if [ $fails -gt 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all detect checks passed"
