#!/usr/bin/env bash
# csm warp: one canonical-size PNG per face, --size and --canonical, and the
# CLI contract (usage errors exit 1, bad input exits 2 with one line and no
# partial output). Needs the installed models and the committed canonical
# face; skips (77) otherwise.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
samples=${CSM_SAMPLES_DIR:-$root/data/samples}
for f in blazeface-back blazeface-front facemesh; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
[ -f "$samples/sample2.jpg" ] || { echo "no samples: skipped"; exit 77; }
export CSM_DATA_DIR=$root/data
[ -f "$CSM_DATA_DIR/canonical/facemesh_canonical.json" ] || { echo "no canonical face: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-warp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# PNG width and height from the IHDR chunk.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }

# ---- one PNG per face, canonical size ---------------------------------------
nfaces=$("$csm" detect "$samples/sample2.jpg" | head -1 | sed -E 's/.*: ([0-9]+) faces?/\1/')
"$csm" warp "$samples/sample2.jpg" -o "$tmp/out" 2>"$tmp/err"
[ $? = 0 ] || fail "warp sample2: exit $? ($(cat "$tmp/err"))"
n=$(ls "$tmp/out" | grep -c '^sample2_face[0-9]*_warp\.png$')
[ "$n" = "$nfaces" ] && [ "$n" -ge 1 ] || fail "want $nfaces warps, got $n"
for f in "$tmp"/out/*.png; do
  [ "$(png_size "$f")" = 256x256 ] || fail "$f: size $(png_size "$f"), want 256x256"
done
[ -f "$tmp/out/sample2_face1_warp.png" ] || fail "no sample2_face1_warp.png"

# ---- --size and --canonical ---------------------------------------------------
"$csm" warp "$samples/sample2.jpg" -o "$tmp/small" --size 128 --canonical "$samples/sample2.jpg" \
  2>"$tmp/err" || fail "--size 128 --canonical: exit $? ($(cat "$tmp/err"))"
[ "$(png_size "$tmp/small/sample2_face1_warp.png")" = 128x128 ] || fail "--size 128 not honoured"

# ---- CLI contract -------------------------------------------------------------
"$csm" warp --help | grep -q 'usage: csm warp' || fail "--help"
"$csm" warp "$samples/sample2.jpg" >/dev/null 2>&1; [ $? = 1 ] || fail "no -o: want exit 1"
"$csm" warp -o "$tmp/x" >/dev/null 2>&1; [ $? = 1 ] || fail "no images: want exit 1"
"$csm" warp "$samples/sample2.jpg" -o "$tmp/x" --size 3 >/dev/null 2>&1
[ $? = 1 ] || fail "--size 3: want exit 1"
"$csm" warp "$samples/sample2.jpg" -o "$tmp/x" --bogus >/dev/null 2>&1
[ $? = 1 ] || fail "unknown option: want exit 1"
# A missing file after a good one: exit 2, one line naming it, nothing written.
"$csm" warp "$samples/sample2.jpg" "$tmp/missing.jpg" -o "$tmp/partial" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing image: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q missing.jpg "$tmp/err" || fail "missing image: message '$(cat "$tmp/err")'"
[ ! -e "$tmp/partial" ] || fail "missing image: partial output written"
printf 'not a jpeg' >"$tmp/bad.jpg"
"$csm" warp "$tmp/bad.jpg" -o "$tmp/partial" 2>"$tmp/err"
[ $? = 2 ] || fail "corrupt image: want exit 2"
[ ! -e "$tmp/partial" ] || fail "corrupt image: partial output written"
"$csm" warp "$samples/sample2.jpg" -o "$tmp/partial" --canonical "$tmp/bad.jpg" 2>"$tmp/err"
[ $? = 2 ] || fail "corrupt --canonical: want exit 2"
CSM_DATA_DIR=$tmp/nowhere "$csm" warp "$samples/sample2.jpg" -o "$tmp/partial" 2>"$tmp/err"
[ $? = 2 ] || fail "no canonical face: want exit 2"
[ ! -e "$tmp/partial" ] || fail "no canonical face: partial output written"

[ $fails = 0 ] && echo "warp: all checks passed" || echo "warp: $fails failures"
[ $fails = 0 ]
