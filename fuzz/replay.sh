#!/usr/bin/env bash
# Replays the committed inputs: fuzz/replay.sh BIN_DIR HARNESS...
# runs BIN_DIR/fuzz_replay_<h> over fuzz/corpus/<h> and fuzz/crashes/<h>
# (fixed crashes, kept as regression tests) for each harness; any crash or
# sanitizer report fails. fuzz/open-crashes/ (still crashing) is not replayed.
# The ctest fuzz_replay runs it; REPLAY_VERBOSE=1 names each input.
set -uo pipefail
FUZZ=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:?usage: replay.sh BIN_DIR HARNESS...}
shift
(($# > 0)) || { echo "usage: replay.sh BIN_DIR HARNESS..." >&2; exit 2; }
# Leaks are failures under ASan builds (build-asan); harmless elsewhere.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$FUZZ/lsan.supp:print_suppressions=0}
fail=0
for h in "$@"; do
  exe=$BIN/fuzz_replay_$h
  if [[ ! -x $exe ]]; then
    echo "FAIL $h: $exe not built" >&2
    fail=1
    continue
  fi
  dirs=()
  for d in "$FUZZ/corpus/$h" "$FUZZ/crashes/$h"; do
    [[ -d $d ]] && dirs+=("$d")
  done
  if ((${#dirs[@]} == 0)); then
    echo "FAIL $h: no fuzz/corpus/$h" >&2
    fail=1
    continue
  fi
  if ! "$exe" "${dirs[@]}"; then
    echo "FAIL $h: an input of ${dirs[*]} crashed $exe (REPLAY_VERBOSE=1 names each input)" >&2
    fail=1
  fi
done
exit $fail
