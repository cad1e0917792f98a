#!/usr/bin/env bash
# A fuzzing campaign: fuzz/run.sh HARNESS SECONDS [extra libFuzzer flags]
# Runs build-fuzz/fuzz/fuzz_HARNESS (`make fuzz`) for SECONDS with its
# dictionary (fuzz/dict/HARNESS.dict) on the committed seeds
# (fuzz/corpus/HARNESS, read only) plus a scratch corpus that receives the
# new inputs (fuzz/work/HARNESS/corpus, or $FUZZ_WORK/HARNESS/corpus; not
# committed). Crashes, leaks, timeouts and OOMs are written to
# fuzz/work/HARNESS/artifacts/. At the end it prints the executions per
# second, coverage (cov: edges, ft: features) and the artifacts found.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_WORK (default
# fuzz/work), FUZZ_JOBS (default 1, in-process: the machine is shared; more
# runs that many jobs and workers).
set -uo pipefail
FUZZ=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ/.." && pwd)
usage() {
  echo "usage: fuzz/run.sh HARNESS SECONDS [libFuzzer flags...]" >&2
  echo "harnesses: $(cd "$FUZZ/corpus" && echo *)" >&2
  exit 2
}
(($# >= 2)) || usage
H=$1 SECS=$2
shift 2
[[ $SECS =~ ^[0-9]+$ ]] || usage
[[ -d $FUZZ/corpus/$H ]] || usage
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
EXE=$BUILD/fuzz/fuzz_$H
[[ -x $EXE ]] || { echo "run.sh: $EXE not built (make fuzz)" >&2; exit 2; }
WORK=${FUZZ_WORK:-$FUZZ/work}/$H
mkdir -p "$WORK/corpus" "$WORK/artifacts"
LOG=$WORK/fuzz.log
DICT=()
[[ -f $FUZZ/dict/$H.dict ]] && DICT=(-dict="$FUZZ/dict/$H.dict")

# detect_leaks: every input's leaks are findings; abort_on_error: a stack
# for every report. The scratch corpus comes first: libFuzzer writes new
# inputs into the first folder only.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$FUZZ/lsan.supp:print_suppressions=0}
JOBS=()
if [[ ${FUZZ_JOBS:-1} != 1 ]]; then
  JOBS=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
echo "run.sh: fuzz_$H for ${SECS}s, log $LOG" >&2
touch "$LOG.start"
# From $WORK: -jobs writes its fuzz-<n>.log files into the current folder.
(cd "$WORK" && "$EXE" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" "${DICT[@]}" "${JOBS[@]}" "$@" \
  "$WORK/corpus" "$FUZZ/corpus/$H") >"$LOG" 2>&1
rc=$?
for f in "$WORK"/fuzz-[0-9]*.log; do
  [[ -f $f ]] && cat "$f" >>"$LOG" && rm -f "$f"
done

last=$(grep -E '^#[0-9]+.*cov: ' "$LOG" | tail -n 1)
execs=$(grep -E '^stat::number_of_executed_units' "$LOG" | awk '{s += $2} END {if (NR) print s}')
eps=$(grep -E '^stat::average_exec_per_sec' "$LOG" | awk '{s += $2} END {if (NR) print s}')
# -fork mode prints no stat:: lines: the last status line's exec/s.
[[ -n $eps ]] || eps=$(sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
corp=$(sed -nE 's/.*corp: ([^ ]+).*/\1/p' <<<"$last")
echo "fuzz_$H: ${SECS}s, ${execs:-?} runs, ${eps:-?} exec/s, cov: ${cov:-?} ft: ${ft:-?}," \
  "corpus ${corp:-?} (new inputs in $WORK/corpus)"
found=$(find "$WORK/artifacts" -type f -newer "$LOG.start" | sort)
if [[ -n $found ]]; then
  echo "fuzz_$H: findings (stacks in $LOG; replay: $EXE FILE):"
  sed 's/^/  /' <<<"$found"
  grep -E '^SUMMARY:|ERROR: libFuzzer' "$LOG" | sort -u | sed 's/^/  /'
fi
exit $rc
