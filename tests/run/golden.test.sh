#!/usr/bin/env bash
# The explaining commands (cis, cms, compare, eval, sanity, demo) give the
# same outputs as before the pipeline moved from the CLI into libcsm
# (tests/data/golden/, made by the CLI of commit 9765f66: see its README).
# Bit for bit (SHA-256 of every file, JSON run times removed) on a machine
# with the fingerprint the goldens were made under; elsewhere the vector
# code rounds differently, so the JSON numbers and the stored canonical
# maps are compared within a relative 1e-4 and the file lists must match.
set -uo pipefail
csm=${CSM_BIN:?}
src=${CSM_SOURCE_DIR:?}
golden=$src/tests/data/golden
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-golden.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$src" || exit 1
if ! bash tests/run/golden_outputs.sh "$csm" "$tmp/out" >"$tmp/log" 2>&1; then
  echo "FAIL: the golden job did not run:"; tail -20 "$tmp/log"; echo "0 passed, 1 failed"; exit 1
fi
/usr/bin/python3 - "$golden" "$tmp/out" "$(bash tests/run/golden_fingerprint.sh)" <<'PY'
import json, os, sys
import numpy as np
golden, out, fingerprint = sys.argv[1], sys.argv[2], sys.argv[3]
def manifest(d):
    m = {}
    for line in open(os.path.join(d, "manifest.sha256")):
        h, name = line.split(None, 1)
        m[name.strip()] = h
    return m
want, have = manifest(golden), manifest(out)
passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print("FAIL", what)
check(sorted(want) == sorted(have),
      "file lists differ: missing %s, extra %s" % (sorted(set(want) - set(have))[:10], sorted(set(have) - set(want))[:10]))
strict = open(os.path.join(golden, "fingerprint.txt")).read().strip() == fingerprint.strip()
if strict:
    for name in sorted(want):
        if name in have:
            check(want[name] == have[name], "%s differs from the golden output" % name)
else:
    print("note: machine fingerprint differs from the goldens'; comparing numbers within 1e-4")
    def close(a, b, path):
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], path + "." + k) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(close(x, y, path) for x, y in zip(a, b))
        if isinstance(a, float) or isinstance(b, float):
            return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))
        return a == b
    for root, _, files in os.walk(golden):
        for f in files:
            g = os.path.join(root, f)
            rel = "./" + os.path.relpath(g, golden)
            h = os.path.join(out, rel)
            if f.endswith(".json"):
                check(close(json.load(open(g)), json.load(open(h)), rel), "%s: values differ by more than 1e-4" % rel)
            elif f.endswith(".npy"):
                a, b = np.load(g), np.load(h)
                scale = max(1e-12, float(np.abs(a).max()))
                check(a.shape == b.shape and float(np.abs(a - b).max()) <= 1e-4 * scale, "%s: map differs" % rel)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
