#!/usr/bin/env bash
# examples/cms.c (the CMS through the library API, as docs/api.md shows it)
# builds, runs and writes a CMS that is what its parts say: for every pixel,
# the CMS times the number of faces that saw it equals the sum of the
# faces' CIS maps (0 where a face did not see the pixel), and the count is
# the number of per-face maps; the faces are the ones `csm detect` finds.
set -uo pipefail
example=${CSM_EXAMPLE_CMS:?}
csm=${CSM_BIN:?}
samples=${CSM_SAMPLES_DIR:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
if "$example" gender "$tmp/out" "$samples/sample3.jpg" "$samples/sample1.jpg" >"$tmp/log" 2>&1; then
  passes=$((passes + 1))
else
  fail "example exited non-zero: $(tail -3 "$tmp/log")"
fi
grep -q "CMS of gender over 6 faces of 2 images (0 failed)" "$tmp/log" && passes=$((passes + 1)) ||
  fail "summary: $(cat "$tmp/log")"
faces=$("$csm" detect --json "$samples/sample3.jpg" "$samples/sample1.jpg" 2>/dev/null |
  /usr/bin/python3 -c "import json,sys; print(sum(len(i['faces']) for i in json.load(sys.stdin)['images']))")
if /usr/bin/python3 - "$tmp/out" "$faces" <<'PY'; then passes=$((passes + 1)); else fails=$((fails + 1)); fi
import glob, json, sys
import numpy as np
out, faces = sys.argv[1], int(sys.argv[2])
cms, count = np.load(out + "/cms.npy"), np.load(out + "/count.npy")
cis = [np.load(p) for p in sorted(glob.glob(out + "/*_face[0-9].npy"))]
run = json.load(open(out + "/run.json"))
ok = True
def check(c, what):
    global ok
    if not c:
        print("FAIL", what); ok = False
check(len(cis) == faces == len(run["faces"]), "%d CIS files, %d faces detected, %d in run.json" % (len(cis), faces, len(run["faces"])))
check(count.max() <= len(cis) and count.max() >= 1, "count %g of %d maps" % (count.max(), len(cis)))
total = np.sum(cis, axis=0, dtype=np.float64)
err = np.abs(cms.astype(np.float64) * count - total).max()
check(err <= 1e-5 * max(1.0, np.abs(total).max()), "CMS x count differs from the sum of the CIS maps by %g" % err)
check(np.all(cms[count == 0] == 0), "CMS nonzero where no face saw the pixel")
sys.exit(0 if ok else 1)
PY
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
