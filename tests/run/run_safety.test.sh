#!/usr/bin/env bash
# Runs that must not lose or mix data (issue 15): run.json exists before any
# work, so a run killed before its first checkpoint resumes; one run per
# output folder (a second is refused while the first holds it); a checkpoint
# of another run (other inputs, or another --size) is refused by --resume
# before anything is written; a refused fresh run touches nothing; the
# output folder is checked before the work; temporary files of killed
# writers are removed; a write error (file too large) exits 3 with nothing
# half-written. Each check fails on the code before these fixes.
# Skips (77) without the models.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
samples=${CSM_SAMPLES_DIR:?}
for f in emotion blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
py=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-runsafe.XXXXXX")
bg=
trap '[ -n "$bg" ] && kill -9 $bg 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
fast=(--task expression --centres grid --stride 24 --quiet --threads 1)
imgs=("$samples/sample3.jpg" "$samples/sample1.jpg" "$samples/sample2.jpg")
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
# Waits (up to 60 s) for a file to appear; 1 when it never does.
wait_for() {
  for _ in $(seq 600); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- run.json before any work: a kill before the first checkpoint resumes ---
"$csm" cms "${fast[@]}" "${imgs[@]}" -o "$tmp/ref" 2>"$tmp/err" || fail "reference run: $(cat "$tmp/err")"
"$csm" cms "${fast[@]}" "${imgs[@]}" -o "$tmp/early" 2>/dev/null &
bg=$!
wait_for "$tmp/early/run.json" || fail "run.json never appeared"
kill -9 $bg 2>/dev/null
wait $bg 2>/dev/null
bg=
ls "$tmp/early"/checkpoint-*.cms >/dev/null 2>&1 &&
  echo "note: the first input finished before the kill; the early case was not exercised"
"$csm" cms "${fast[@]}" --resume "${imgs[@]}" -o "$tmp/early" 2>"$tmp/err" ||
  fail "resume after a kill before the first checkpoint: $(cat "$tmp/err")"
cmp -s "$tmp/ref/cms.npy" "$tmp/early/cms.npy" || fail "resumed CMS differs from the uninterrupted one"

# ---- one run per folder ------------------------------------------------------
"$csm" cms "${fast[@]}" "${imgs[@]}" "${imgs[@]}" -o "$tmp/busy" 2>/dev/null &
bg=$!
wait_for "$tmp/busy/run.json" || fail "run.json never appeared (busy)"
"$csm" cms "${fast[@]}" --resume "${imgs[@]}" "${imgs[@]}" -o "$tmp/busy" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] && grep -q "in use by another csm run" "$tmp/err" ||
  fail "second cms in a busy folder: want exit 1 'in use', got $rc: $(cat "$tmp/err")"
"$csm" cis "${fast[@]}" "${imgs[0]}" -o "$tmp/busy" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] && grep -q "in use by another csm run" "$tmp/err" ||
  fail "cis into a busy folder: want exit 1 'in use', got $rc: $(cat "$tmp/err")"
kill -9 $bg 2>/dev/null
wait $bg 2>/dev/null
bg=
# The lock went with the process: the folder is usable again.
"$csm" cms "${fast[@]}" --resume "${imgs[@]}" "${imgs[@]}" -o "$tmp/busy" 2>"$tmp/err" ||
  fail "resume after the holder was killed: $(cat "$tmp/err")"

# ---- another run's checkpoint is refused before anything is written -----------
"$csm" cms "${fast[@]}" "${imgs[1]}" "${imgs[2]}" -o "$tmp/other" 2>/dev/null || fail "other run"
"$csm" cms "${fast[@]}" --size 128 "${imgs[0]}" "${imgs[1]}" -o "$tmp/s128" 2>/dev/null || fail "size 128 run"
for donor in other s128; do
  d=$tmp/mix-$donor
  cp -r "$tmp/ref" "$d"
  # Make d a run stopped after input 2 whose checkpoint is the donor's.
  "$py" - "$d/run.json" <<'PY'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["resume"].update(done=2, checkpoint="checkpoint-000002.cms", complete=False)
r["faces"] = [f for f in r["faces"] if "sample2" not in f["image"]]
json.dump(r, open(p, "w"))
PY
  rm -f "$d"/checkpoint-*.cms "$d"/cms.npy
  cp "$tmp/$donor/checkpoint-000002.cms" "$d/checkpoint-000002.cms"
  before=$(sums "$d")
  "$csm" cms "${fast[@]}" --resume "${imgs[@]}" -o "$d" 2>"$tmp/err"
  rc=$?
  [ $rc = 2 ] && grep -q "another run" "$tmp/err" ||
    fail "$donor's checkpoint: want exit 2 'another run', got $rc: $(cat "$tmp/err")"
  [ "$(sums "$d")" = "$before" ] || fail "$donor's checkpoint: the folder changed before the refusal"
done

# ---- a refused fresh run touches nothing; the folder is checked first ----------
before=$(sums "$tmp/ref")
"$csm" cms "${fast[@]}" "${imgs[@]}" -o "$tmp/ref" 2>"$tmp/err"
[ $? = 1 ] && grep -q "resume" "$tmp/err" || fail "fresh run in a used folder: $(cat "$tmp/err")"
[ "$(sums "$tmp/ref")" = "$before" ] || fail "a refused run changed its folder (canonical.png?)"
touch "$tmp/plainfile"
# The folder's fault is found before the (missing) image is read.
"$csm" cis "${fast[@]}" "$tmp/missing.jpg" -o "$tmp/plainfile/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q "plainfile" "$tmp/err" && ! grep -q "missing.jpg" "$tmp/err" ||
  fail "cis into a path under a file: want exit 2 naming the folder first, got $rc: $(cat "$tmp/err")"

# ---- temporary files of killed writers are removed ---------------------------
mkdir -p "$tmp/stale"
dead=999999
while kill -0 $dead 2>/dev/null; do dead=$((dead - 1)); done
touch "$tmp/stale/cms.npy.tmp.$dead.0" "$tmp/stale/run.json.tmp.$$.3"
"$csm" cms "${fast[@]}" "${imgs[0]}" -o "$tmp/stale" 2>"$tmp/err" || fail "stale: $(cat "$tmp/err")"
[ ! -e "$tmp/stale/cms.npy.tmp.$dead.0" ] || fail "a dead writer's temporary file was left"
[ -e "$tmp/stale/run.json.tmp.$$.3" ] || fail "a live process's temporary file was removed"

# ---- a write error exits 3 with nothing half-written ---------------------------
# RLIMIT_FSIZE makes writes past the limit fail with EFBIG (SIGXFSZ
# ignored): at 40 KB the first file (canonical.png) fails; at 400 KB run.json
# and the per-face files are written and the first checkpoint (1.3 MB) fails.
for kb in 40 400; do
  (
    trap '' XFSZ
    ulimit -f $kb
    "$csm" cms "${fast[@]}" "${imgs[0]}" -o "$tmp/full$kb" 2>"$tmp/err"
  )
  rc=$?
  [ $rc = 3 ] && grep -qi "too large" "$tmp/err" ||
    fail "write error at $kb KB: want exit 3 'File too large', got $rc: $(cat "$tmp/err")"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "write error at $kb KB: not one line: $(cat "$tmp/err")"
  ls "$tmp/full$kb" | grep -q '\.tmp\.' && fail "write error at $kb KB left temporary files"
  ls "$tmp/full$kb" | grep -q 'checkpoint' && fail "write error at $kb KB left a checkpoint"
  if [ -e "$tmp/full$kb/run.json" ]; then
    "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/full$kb/run.json" 2>/dev/null ||
      fail "write error at $kb KB: run.json is not whole"
  elif [ $kb = 400 ]; then
    fail "write error at 400 KB: run.json was not written before the work"
  fi
done

[ $fails = 0 ] && echo "PASS run_safety" || { echo "$fails failure(s)"; exit 1; }
