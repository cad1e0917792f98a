#!/usr/bin/env bash
# The CLI contract: exit codes, one-line errors naming the file, no partial
# output, --help everywhere, JSON shapes. Needs the installed models.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -f "$models/emotion.json" ] || { echo "models not installed: skipped"; exit 77; }
fails=0 passes=0
check() { # name, expected exit code, command...
  local name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL $name: exit $rc, want $want; stderr: $(head -c 300 "$tmp/err")"; fails=$((fails + 1)); return 1
  fi
  if [ "$want" != 0 ]; then
    local lines; lines=$(wc -l <"$tmp/err")
    if [ "$lines" != 1 ]; then echo "FAIL $name: $lines error lines, want 1"; fails=$((fails + 1)); return 1; fi
    if [ -s "$tmp/out" ]; then echo "FAIL $name: printed output on failure"; fails=$((fails + 1)); return 1; fi
  fi
  passes=$((passes + 1))
}
stderr_has() { # name, text
  if grep -qF -- "$2" "$tmp/err"; then passes=$((passes + 1)); else echo "FAIL $1: stderr lacks '$2': $(cat "$tmp/err")"; fails=$((fails + 1)); fi
}

check help 0 "$csm" --help
check help-models 0 "$csm" models --help
check help-infer 0 "$csm" infer --help
check no-command 1 "$csm"
check unknown-command 1 "$csm" frobnicate
check unknown-option 1 "$csm" infer --model emotion --bogus x.jpg
check no-input 1 "$csm" infer --model emotion
check bad-threads 1 "$csm" --threads zero models
check models-bogus 1 "$csm" models --bogus
check models-positional 1 "$csm" models emotion
stderr_has models-positional "unexpected argument 'emotion'"
check models-layers-one 1 "$csm" models --layers
stderr_has models-layers-one "exactly one --model"
check models-no-value 1 "$csm" models --model
check bad-max-memory 1 "$csm" --max-memory lots models
stderr_has bad-max-memory "--max-memory"

check missing-model 2 "$csm" infer --model "$tmp/nope.json" --npy "$tmp/x.npy"
stderr_has missing-model "nope.json"

# Corrupt and truncated images.
printf 'not an image' >"$tmp/corrupt.jpg"
check corrupt-image 2 "$csm" infer --model emotion "$tmp/corrupt.jpg"
stderr_has corrupt-image "corrupt.jpg"
if [ -f "${CSM_SAMPLES_DIR:-}/sample1.jpg" ]; then
  head -c 20000 "$CSM_SAMPLES_DIR/sample1.jpg" >"$tmp/truncated.jpg"
  check truncated-image 2 "$csm" infer --model emotion "$tmp/truncated.jpg"
  stderr_has truncated-image "truncated.jpg"
fi
: >"$tmp/empty.png"
check empty-image 2 "$csm" infer --model emotion "$tmp/empty.png"

# .npy inputs written by hand (header + float32 payload) so no numpy is needed.
npy() { # file, shape-tuple, count, value (awk expression)
  local file=$1 shape=$2 count=$3 value=$4
  local dict="{'descr': '<f4', 'fortran_order': False, 'shape': $shape, }"
  local total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 ))
  local pad=$(( total - 10 - ${#dict} - 1 ))
  local hlen=$(( total - 10 ))
  { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hlen % 256)))\\x$(printf %02x $((hlen / 256)))"
    printf '%s%*s\n' "$dict" "$pad" ""
    awk -v n="$count" "BEGIN { for (i = 0; i < n; i++) printf \"%s\\n\", $value }" |
      perl -ne 'print pack("f<", $_)'; } >"$file"
}
npy "$tmp/ok.npy" "(2, 64, 64, 1)" 8192 "(i % 97) / 97"
check infer-npy 0 "$csm" infer --model emotion --npy "$tmp/ok.npy" --json --out "$tmp/o"
if ! grep -q '"outputs"' "$tmp/out" || [ ! -f "$tmp/o_0.npy" ]; then echo "FAIL infer-npy: no JSON outputs or .npy"; fails=$((fails + 1)); fi
npy "$tmp/wrong.npy" "(1, 32, 32, 1)" 1024 "0.5"
check wrong-shape 2 "$csm" infer --model emotion --npy "$tmp/wrong.npy" --out "$tmp/w"
stderr_has wrong-shape "wrong.npy"
[ ! -e "$tmp/w_0.npy" ] || { echo "FAIL wrong-shape: partial output written"; fails=$((fails + 1)); }
npy "$tmp/nan.npy" "(1, 64, 64, 1)" 4096 '(i == 7 ? "nan" : 0.5)'
check nan-input 2 "$csm" infer --model emotion --npy "$tmp/nan.npy"
stderr_has nan-input "NaN"
head -c 100 "$tmp/ok.npy" >"$tmp/short.npy"
check short-npy 2 "$csm" infer --model emotion --npy "$tmp/short.npy"

check models-json 0 "$csm" models --json --model emotion --model gender
if ! grep -q '"params"' "$tmp/out"; then echo "FAIL models-json: no params key"; fails=$((fails + 1)); fi

echo "cli: $passes passed, $fails failed"
[ "$fails" = 0 ]
