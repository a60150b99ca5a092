#!/usr/bin/env bash
# The whole test suite, three times: native (host-dev), native under ASan+UBSan, and cross-built
# for armhf (qemu-virt-armhf board) with every test under qemu-arm; then the fuzz preset: the
# whole tree built by clang with -Werror, the unit tests under ASan+UBSan, and each libFuzzer
# harness for a short fixed number of runs (tests/fuzz). Installs what it needs.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash toolchain/install-deps.sh sqlite3 libsqlite3-dev || exit 1
bash toolchain/make-sysroot.sh || exit 1

status=0
summary=""
for preset in host-dev sanitize armhf fuzz; do
  echo "=== $preset: configure and build"
  rm -f "build/$preset/target-summary.txt"
  if cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset" -j"$jobs"; then
    echo "=== $preset: ctest"
    out=$(ctest --preset "$preset" -j"$jobs" 2>&1); rc=$?
    echo "$out"
    summary+="$preset: $(echo "$out" | grep -E 'tests passed|tests failed' | tail -1)"$'\n'
    if [ -f "build/$preset/target-summary.txt" ]; then  # the booted terminal's figures
      echo "=== $preset: the terminal under QEMU"
      cat "build/$preset/target-summary.txt"
      summary+="$(sed "s/^/  /" "build/$preset/target-summary.txt")"$'\n'
    fi
  else
    rc=1
    summary+="$preset: BUILD FAILED"$'\n'
  fi
  [ "$rc" = 0 ] || status=1
done
echo "=== summary"
printf '%s' "$summary"
exit $status
