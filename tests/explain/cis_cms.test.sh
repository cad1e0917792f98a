#!/usr/bin/env bash
# csm cis / csm cms: the CLI contract (outputs, run.json, one-line errors and
# exit codes, no partial output), and cms's promises: a run killed mid-way
# and continued with --resume ends with the same bits as an uninterrupted
# one; --jobs 2 gives the same bits as one job; failing inputs are listed.
# A coarse grid of centres keeps it quick. Skips (77) without the models.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
samples=${CSM_SAMPLES_DIR:?}
for f in emotion blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
py=/usr/bin/python3
"$py" -c 'import numpy' 2>/dev/null || { echo "python3-numpy missing: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-cis.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
fast=(--task expression --centres grid --stride 24 --quiet)

# ---- csm cis ------------------------------------------------------------
"$csm" cis --help >"$tmp/help" && grep -q "usage: csm cis" "$tmp/help" || fail "cis --help"
"$csm" cis -o "$tmp/x" "$samples/sample3.jpg" 2>/dev/null; [ $? = 1 ] || fail "no --task: want 1"
"$csm" cis --task expression "$samples/sample3.jpg" 2>/dev/null; [ $? = 1 ] || fail "no -o: want 1"
"$csm" cis --task expression --class nope -o "$tmp/x" "$samples/sample3.jpg" 2>"$tmp/err"
[ $? = 1 ] || fail "bad --class: want 1"
"$csm" cis --task expression --fill paint -o "$tmp/x" "$samples/sample3.jpg" 2>/dev/null
[ $? = 1 ] || fail "bad --fill: want 1"

"$csm" cis "${fast[@]}" --class happy "$samples/sample3.jpg" -o "$tmp/cis" 2>"$tmp/err" ||
  fail "cis: $(cat "$tmp/err")"
"$py" - "$tmp/cis" <<'PY' || fail "cis outputs"
import json, os, sys
import numpy as np
d = sys.argv[1]
run = json.load(open(os.path.join(d, "run.json")))
assert run["command"] == "cis" and run["task"] == "expression" and run["class"] == "happy", run
faces = run["faces"]
assert len(faces) == 3, len(faces)   # sample3: three faces
for f in faces:
    assert f["label"] == "happy" and f["confidence"] == "P(happy)", f
    assert 0 <= f["base"] <= 1
    assert 0 < f["evaluated"] <= f["centres"]
    m = np.load(os.path.join(d, f["cis"]))
    assert m.shape == (256, 256) and m.dtype == np.float32 and np.isfinite(m).all()
    assert (m != 0).mean() > 0.2, (m != 0).mean()       # the face is covered
    assert m[0, 0] == 0 and m[255, 255] == 0             # the corners are not
    i = np.load(os.path.join(d, f["input"]))
    assert i.shape == (64, 64) and np.isfinite(i).all()
    for k in ("cis_png", "input_png"):
        assert open(os.path.join(d, f[k]), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
assert os.path.exists(os.path.join(d, "canonical.png"))
PY
# A bad image among good ones: exit 2, one line naming it, nothing written.
printf 'not an image' >"$tmp/bad.jpg"
"$csm" cis "${fast[@]}" "$samples/sample3.jpg" "$tmp/bad.jpg" -o "$tmp/cis-bad" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "bad image: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "bad.jpg" "$tmp/err" || fail "bad image: one line naming it: $(cat "$tmp/err")"
[ -e "$tmp/cis-bad" ] && fail "bad image: want no output folder"
# A photo without a face.
"$py" -c 'import zlib,struct,sys
w=h=64; raw=b"".join(b"\0"+bytes([200,180,160])*w for _ in range(h))
c=lambda t,d: struct.pack(">I",len(d))+t+d+struct.pack(">I",zlib.crc32(t+d))
open(sys.argv[1],"wb").write(b"\x89PNG\r\n\x1a\n"+c(b"IHDR",struct.pack(">IIBBBBB",w,h,8,2,0,0,0))+c(b"IDAT",zlib.compress(raw))+c(b"IEND",b""))' "$tmp/blank.png"
"$csm" cis "${fast[@]}" "$tmp/blank.png" -o "$tmp/cis-blank" 2>"$tmp/err"
[ $? = 2 ] || fail "no face: want exit 2"
grep -q "no face" "$tmp/err" || fail "no face: message: $(cat "$tmp/err")"

# ---- csm cms --------------------------------------------------------------
imgs=("$samples"/sample{1,2,3,4}.jpg "$tmp/bad.jpg" "$tmp/blank.png" "$samples/sample5.jpg")
"$csm" cms "${fast[@]}" --no-cis "${imgs[@]}" -o "$tmp/full" 2>"$tmp/err" || fail "cms: $(cat "$tmp/err")"
"$py" - "$tmp/full" <<'PY' || fail "cms outputs"
import csv, json, os, sys
import numpy as np
d = sys.argv[1]
run = json.load(open(os.path.join(d, "run.json")))
c = run["cms"]
cms, cnt, se = (np.load(os.path.join(d, c[k])) for k in ("npy", "count", "stderr"))
assert cms.shape == cnt.shape == se.shape == (256, 256)
n = len(run["faces"])
assert c["faces"] == n and n >= 10, (c, n)
assert cnt.max() <= n and cnt.max() >= n - 2, cnt.max()
assert (cms[cnt == 0] == 0).all() and (se[cnt < 2] == 0).all()
fails = list(csv.DictReader(open(os.path.join(d, "failures.csv"))))
reasons = {os.path.basename(f["image"]): f["reason"] for f in fails}
assert set(reasons) == {"bad.jpg", "blank.png"}, reasons
assert "no face" in reasons["blank.png"]
rows = list(csv.DictReader(open(os.path.join(d, "stability.csv"))))
assert [int(r["images"]) for r in rows][:3] == [1, 2, 5], rows
assert abs(float(rows[-1]["correlation"])) <= 1
PY
# Killed after the first checkpoint, then resumed: the same bits.
"$csm" cms "${fast[@]}" --no-cis "${imgs[@]}" -o "$tmp/killed" 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do
  [ -e "$tmp/killed/checkpoint-000001.cms" ] && break
  sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
grep -q '"complete": false' "$tmp/killed/run.json" || fail "kill: the run had already finished"
"$csm" cms "${fast[@]}" --no-cis "${imgs[@]}" -o "$tmp/killed" 2>"$tmp/err"
[ $? = 1 ] || fail "rerun without --resume into a used folder: want exit 1"
"$csm" cms "${fast[@]}" --no-cis --resume "${imgs[@]}" -o "$tmp/killed" 2>"$tmp/err" ||
  fail "resume: $(cat "$tmp/err")"
for f in cms.npy count.npy stderr.npy stability.csv failures.csv; do
  cmp -s "$tmp/full/$f" "$tmp/killed/$f" || fail "resume: $f differs"
done
"$csm" cms "${fast[@]}" --no-cis --resume "$samples/sample1.jpg" -o "$tmp/killed" 2>/dev/null
[ $? = 1 ] || fail "resume with other images: want exit 1"
# Two jobs: the same bits.
"$csm" cms "${fast[@]}" --no-cis --jobs 2 "${imgs[@]}" -o "$tmp/jobs" 2>"$tmp/err" ||
  fail "jobs: $(cat "$tmp/err")"
for f in cms.npy count.npy stderr.npy stability.csv failures.csv; do
  cmp -s "$tmp/full/$f" "$tmp/jobs/$f" || fail "--jobs 2: $f differs"
done

[ $fails = 0 ] && echo "cis/cms: all checks passed"
exit $((fails > 0))
