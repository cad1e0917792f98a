#!/usr/bin/env bash
# Remakes tests/data/golden/ with the given csm binary (only when an output
# is meant to change: say why in the commit). Run from the repository root.
set -euo pipefail
csm=${1:?usage: make_golden.sh CSM_BIN}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash tests/run/golden_outputs.sh "$csm" "$tmp/out"
dst=tests/data/golden
rm -rf "$dst.new" && mkdir -p "$dst.new"
cp "$tmp/out/manifest.sha256" "$dst.new/"
bash tests/run/golden_fingerprint.sh >"$dst.new/fingerprint.txt"
# The text outputs and the small canonical maps, for machines whose
# fingerprint differs (compared within a tolerance there).
(cd "$tmp/out" && find . -type f \( -name '*.json' -o -name '*.csv' \) ! -path './demo/*' -print0 |
  xargs -0 -I{} cp --parents {} "$OLDPWD/$dst.new/")
(cd "$tmp/out" && find ./cis ./cms -name '*.npy' ! -name '*_input.npy' -print0 |
  xargs -0 -I{} cp --parents {} "$OLDPWD/$dst.new/")
[ -f "$dst/README.md" ] && cp "$dst/README.md" "$dst.new/"
rm -rf "$dst" && mv "$dst.new" "$dst"
du -sh "$dst"
