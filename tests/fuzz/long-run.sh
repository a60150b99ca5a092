#!/usr/bin/env bash
# A long fuzzing run of one harness: RUNS executions in all, split over JOBS processes that share
# one corpus (each picks up the others' finds). Prints executions, time, exec/s, coverage and
# crashes; the README's fuzzing figures come from here. Needs the fuzz preset built:
#   cmake --preset fuzz && cmake --build --preset fuzz -j2
# usage: tests/fuzz/long-run.sh HARNESS RUNS [JOBS] [libFuzzer flags...]
#   e.g. tests/fuzz/long-run.sh pos_line 10000000 1
# Work directory: build/fuzz/long-run/HARNESS (or $TILLSYNC_FUZZ_BUILD/long-run/HARNESS): logs (fuzz-N.log), the grown corpus, and each
# run's crash artifacts (artifacts/DATE-TIME/). A crash
# worth keeping goes into tests/fuzz/regressions/HARNESS/ (ctest replays it).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?harness, e.g. pos_line} runs=${2:?number of executions} jobs=${3:-1}
shift $(($# < 3 ? $# : 3))
build=${TILLSYNC_FUZZ_BUILD:-$PWD/build/fuzz} # another build of the harnesses, if set
src=$PWD/tests/fuzz bin=$build/tests/fuzz/fuzz_$name
[ -x "$bin" ] || { echo "no $bin: build the fuzz preset first" >&2; exit 2; }
case $name in
  pos_line) max_len=4096 ;;
  config) max_len=8192 ;;
  glu_answer) max_len=4096 ;;
  journal_mount) max_len=16384 ;;
  *) max_len=4096 ;;
esac
work=$build/long-run/$name
artifacts=$work/artifacts/$(date +%Y%m%d-%H%M%S)
mkdir -p "$work/corpus" "$artifacts"
rm -f "$work"/fuzz-*.log

per_job=$(((runs + jobs - 1) / jobs))
echo "fuzz_$name: $runs executions in $jobs job(s) of $per_job, corpus $work/corpus"
start=$(date +%s)
(cd "$work" && "$bin" -runs="$per_job" -jobs="$jobs" -workers="$jobs" -max_len="$max_len" \
  -dict="$src/dict/$name.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 -timeout=25 \
  "$@" "$work/corpus" "$src/corpus/$name" \
  >/dev/null 2>&1) || true
secs=$(($(date +%s) - start))

execs=0 cov=0 ft=0
for log in "$work"/fuzz-*.log; do
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=$((execs + ${n:-0}))
  c=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  f=$(grep -ao 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  [ "${c:-0}" -gt "$cov" ] && cov=$c
  [ "${f:-0}" -gt "$ft" ] && ft=$f
done
crashes=$(ls "$artifacts" | wc -l)
echo "harness:     fuzz_$name"
echo "executions:  $execs"
echo "time:        ${secs}s"
echo "exec/s:      $((execs / (secs > 0 ? secs : 1)))"
echo "coverage:    cov $cov, ft $ft (edges, features; the largest of the jobs)"
echo "corpus:      $(ls "$work/corpus" | wc -l) inputs"
echo "crashes:     $crashes"
[ "$crashes" = 0 ] || ls -d "$artifacts"/*
[ "$crashes" = 0 ] && [ "$execs" -ge "$runs" ]
