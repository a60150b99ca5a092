#!/usr/bin/env bash
# The main job on a developer machine: builds tillsyncd for the host-dev board and runs it with a
# file-backed flash journal against a local HTTPS mock of the Glu API (tests/integration/demo.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash toolchain/install-deps.sh
cmake --preset host-dev >/dev/null
cmake --build --preset host-dev -j"$(nproc)" --target tillsyncd tillsyncctl
exec python3 tests/integration/demo.py --daemon build/host-dev/firmware/tillsyncd \
  --ctl build/host-dev/firmware/tillsyncctl "$@"
