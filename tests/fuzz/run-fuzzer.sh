#!/usr/bin/env bash
# One harness as ctest runs it: every kept reproducer under regressions/<name>/ first (each must
# now pass), then a short fuzzing run from the corpus in the tree, with a fixed seed so that a
# CI run is repeatable. A crash is kept under <work>/artifacts/; to keep it as a regression,
# copy it into tests/fuzz/regressions/<name>/.
# usage: run-fuzzer.sh BINARY SOURCE_DIR WORK_DIR RUNS MAX_LEN
set -euo pipefail
bin=$1 src=$2 work=$3 runs=$4 max_len=$5
name=$(basename "$bin"); name=${name#fuzz_}
corpus=$src/corpus/$name dict=$src/dict/$name.dict regressions=$src/regressions/$name

rm -rf "$work"
mkdir -p "$work/new" "$work/artifacts"
opts=(-artifact_prefix="$work/artifacts/" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1)

failed=0
for input in "$regressions"/*; do
  [ -f "$input" ] || continue
  if out=$("$bin" "${opts[@]}" "$input" 2>&1); then
    echo "== $name: regression $(basename "$input"): passes"
  else
    echo "$out"
    echo "== $name: regression $(basename "$input"): FAILS"
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1

echo "== $name: $runs runs from $corpus"
# New inputs go to the first directory (the build tree's), never into the tree's corpus.
exec "$bin" "${opts[@]}" -seed="${TILLSYNC_FUZZ_SEED:-1}" -runs="$runs" -max_len="$max_len" \
  -dict="$dict" "$work/new" "$corpus"
