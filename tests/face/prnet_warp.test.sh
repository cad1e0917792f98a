#!/usr/bin/env bash
# csm warp --align prnet: the reference implementation's own inputs (CelebA
# images with their PRNet meshes, the frontal mesh and image) frontalized
# from the CLI, and its error contract (a missing or wrong mesh exits 2 with
# one line naming the file and writes nothing). Data: tests/data/celeba-prnet
# (part of the repository: missing is a failure).
set -uo pipefail
csm=${CSM_BIN:?}
data=${CSM_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}/celeba-prnet
[ -f "$data/frontal_mesh.mat" ] && [ -d "$data/meshes" ] || { echo "FAIL $data: missing"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-prnet-warp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# PNG width and height from the IHDR chunk.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }

ids=()
for m in "$data"/meshes/*_mesh.mat; do
  id=$(basename "$m" _mesh.mat)
  [ -f "$data/images/$id.jpg" ] && ids+=("$id")
  [ ${#ids[@]} = 2 ] && break
done
[ ${#ids[@]} = 2 ] || { echo "FAIL $data: fewer than two image/mesh pairs"; exit 1; }
a=${ids[0]} b=${ids[1]}
canon=(--canonical-mesh "$data/frontal_mesh.mat")

# ---- one image, one mesh file -------------------------------------------------
"$csm" warp --align prnet --mesh "$data/meshes/${a}_mesh.mat" "${canon[@]}" \
  "$data/images/$a.jpg" -o "$tmp/one" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] || fail "warp $a: exit $rc ($(cat "$tmp/err"))"
[ -f "$tmp/one/${a}_warp.png" ] || fail "no ${a}_warp.png"
[ "$(png_size "$tmp/one/${a}_warp.png")" = 256x256 ] || fail "$a: size $(png_size "$tmp/one/${a}_warp.png"), want 256x256"

# ---- two images, mesh folder, --canonical frontal.jpg, --size -------------------
"$csm" warp --align prnet --mesh "$data/meshes" "${canon[@]}" --canonical "$data/frontal.jpg" \
  --size 200 "$data/images/$a.jpg" "$data/images/$b.jpg" -o "$tmp/two" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] || fail "warp $a $b: exit $rc ($(cat "$tmp/err"))"
for id in "$a" "$b"; do
  f=$tmp/two/${id}_warp.png
  [ -f "$f" ] || { fail "no ${id}_warp.png"; continue; }
  [ "$(png_size "$f")" = 200x200 ] || fail "$f: size $(png_size "$f"), want 200x200"
done
[ "$(ls "$tmp/two" | wc -l)" = 2 ] || fail "want exactly 2 files, got $(ls "$tmp/two")"

# ---- errors ---------------------------------------------------------------------
# A missing mesh file: exit 2, one line naming it, nothing written.
"$csm" warp --align prnet --mesh "$tmp/missing_mesh.mat" "${canon[@]}" "$data/images/$a.jpg" \
  -o "$tmp/partial" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing mesh: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q missing_mesh.mat "$tmp/err" || fail "missing mesh: message '$(cat "$tmp/err")'"
[ ! -e "$tmp/partial" ] || fail "missing mesh: partial output written"
# Mesh folder without one image's mesh, after a good image: no partial output.
mkdir -p "$tmp/meshes"
cp "$data/meshes/${a}_mesh.mat" "$tmp/meshes/"
"$csm" warp --align prnet --mesh "$tmp/meshes" "${canon[@]}" "$data/images/$a.jpg" \
  "$data/images/$b.jpg" -o "$tmp/partial" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "folder without ${b}_mesh.mat: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "${b}_mesh.mat" "$tmp/err" || fail "folder without mesh: message '$(cat "$tmp/err")'"
[ ! -e "$tmp/partial" ] || fail "folder without mesh: partial output written"
# The wrong row count (the full frontal mesh as an image mesh): exit 2, naming it.
"$csm" warp --align prnet --mesh "$data/frontal_mesh.mat" "${canon[@]}" "$data/images/$a.jpg" \
  -o "$tmp/partial" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "wrong row count: want exit 2, got $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q frontal_mesh.mat "$tmp/err" || fail "wrong row count: message '$(cat "$tmp/err")'"
[ ! -e "$tmp/partial" ] || fail "wrong row count: partial output written"
# A missing canonical mesh: exit 2 naming it.
"$csm" warp --align prnet --mesh "$data/meshes" --canonical-mesh "$tmp/nofrontal.mat" \
  "$data/images/$a.jpg" -o "$tmp/partial" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q nofrontal.mat "$tmp/err" || fail "missing canonical mesh: exit $rc '$(cat "$tmp/err")'"

# ---- usage errors (exit 1) --------------------------------------------------------
"$csm" warp --align prnet "${canon[@]}" "$data/images/$a.jpg" -o "$tmp/x" >/dev/null 2>&1
[ $? = 1 ] || fail "--align prnet without --mesh: want exit 1"
"$csm" warp --align prnet --mesh "$data/meshes" "$data/images/$a.jpg" -o "$tmp/x" >/dev/null 2>&1
[ $? = 1 ] || fail "--align prnet without --canonical-mesh: want exit 1"
"$csm" warp --align bogus --mesh "$data/meshes" "${canon[@]}" "$data/images/$a.jpg" -o "$tmp/x" >/dev/null 2>&1
[ $? = 1 ] || fail "--align bogus: want exit 1"
"$csm" warp --mesh "$data/meshes" "$data/images/$a.jpg" -o "$tmp/x" >/dev/null 2>&1
[ $? = 1 ] || fail "--mesh without --align prnet: want exit 1"
"$csm" warp --align prnet --mesh "$data/meshes/${a}_mesh.mat" "${canon[@]}" "$data/images/$a.jpg" \
  "$data/images/$b.jpg" -o "$tmp/x" >/dev/null 2>&1
[ $? = 1 ] || fail "one mesh file for two images: want exit 1"
[ ! -e "$tmp/x" ] || fail "usage error wrote output"
"$csm" warp --help | grep -q -- '--align prnet' || fail "--help does not mention --align prnet"

[ $fails = 0 ] && echo "prnet warp: all checks passed"
exit $((fails > 0))
