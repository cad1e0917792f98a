#!/usr/bin/env bash
# The explaining commands' outputs on a small fixed job, normalized so that
# they can be compared across runs: run times ("seconds") removed from the
# JSON, and the folders that differ between machines (models, outputs,
# sources) replaced by placeholders. Used by golden.test.sh, and to make
# tests/data/golden/ (see its README).
#
#   golden_outputs.sh CSM_BIN OUT_DIR
#
# Run from the repository root. Writes OUT_DIR/{cis,cms,compare,eval,sanity,
# demo}/..., OUT_DIR/stdout/<command>.txt (what each printed on stdout) and
# OUT_DIR/manifest.sha256 (every output file's SHA-256).
set -euo pipefail
csm=$1
out=$2
mkdir -p "$out/stdout"
export CSM_MODELS_DIR=${CSM_MODELS_DIR:-$PWD/models}
s=data/samples
common=(--size 64 --stride 8 --quiet --threads 2)
"$csm" cis --task gender "$s/sample3.jpg" -o "$out/cis" "${common[@]}"
"$csm" cms --task expression "$s/sample1.jpg" "$s/sample3.jpg" -o "$out/cms" "${common[@]}"
"$csm" compare --task gender "$s/sample3.jpg" --cms "$out/cms/cms.npy" \
  --methods cis,gradcam,occlusion -o "$out/compare" "${common[@]}"
"$csm" eval --task gender "$s/sample3.jpg" --cms "$out/cms/cms.npy" --json \
  --methods cis,gradcam -o "$out/eval" "${common[@]}" >"$out/stdout/eval.json"
"$csm" sanity --task gender "$s/sample3.jpg" --methods cis,gradcam --steps 2 --json \
  -o "$out/sanity" "${common[@]}" >"$out/stdout/sanity.json"
# The demo on one photo (its own samples folder).
# The demo on one photo, from inside OUT_DIR so that the paths it records
# (and their hash in run.json) are the same wherever OUT_DIR is.
mkdir -p "$out/samples"
ln -sf "$PWD/$s/sample3.jpg" "$out/samples/sample3.jpg"
csm_abs=$(cd "$(dirname "$csm")" && pwd)/$(basename "$csm")
(cd "$out" && CSM_SAMPLES_DIR=samples CSM_PROGRESS=0 "$csm_abs" demo --tasks age -o demo --threads 2 2>/dev/null)
rm -rf "$out/samples"
# Normalize the JSON files (and the report's embedded run.json copies).
/usr/bin/python3 - "$out" "$PWD" "$CSM_MODELS_DIR" <<'PY'
import json, os, re, sys
out, src, models = sys.argv[1], sys.argv[2], sys.argv[3]
out_abs = os.path.abspath(out)
def scrub(v):
    if isinstance(v, dict):
        return {k: scrub(x) for k, x in v.items() if k != "seconds"}
    if isinstance(v, list):
        return [scrub(x) for x in v]
    if isinstance(v, str):
        for a, b in ((out_abs, "<out>"), (out, "<out>"), (os.path.abspath(models), "<models>"),
                     (src, "<src>")):
            v = v.replace(a, b)
    return v
for root, _, files in os.walk(out):
    for f in files:
        p = os.path.join(root, f)
        if f.endswith(".json"):
            with open(p) as fp:
                d = json.load(fp)
            with open(p, "w") as fp:
                json.dump(scrub(d), fp, indent=1, sort_keys=False)
                fp.write("\n")
        elif f.endswith(".html"):
            with open(p) as fp:
                t = fp.read()
            for a, b in ((out_abs, "<out>"), (out, "<out>"), (os.path.abspath(models), "<models>"),
                         (src, "<src>")):
                t = t.replace(a, b)
            # run times shown on the page
            t = re.sub(r"(<th>seconds</th><td>)[^<]*", r"\1<t>", t)
            t = re.sub(r"\d+(\.\d+)? s\b", "<t> s", t)
            with open(p, "w") as fp:
                fp.write(t)
PY
# Checkpoints are removed by a finished run; none should be left.
(cd "$out" && find . -type f ! -name manifest.sha256 | LC_ALL=C sort | xargs sha256sum) >"$out/manifest.sha256"
