#!/usr/bin/env bash
# The plugin boundary (README, Backends): outside firmware/backends/<kind>/ nothing in firmware/
# names a backend but the registry line, and no backend includes a header of another layer than
# the plugin interface (backends/) and base/. The link graph already refuses such an include at
# build time; this says which rule a change broke, in words.
# usage: backend_boundary.sh SOURCE_DIR
set -euo pipefail
cd "$1/firmware"
kinds=$(sed -n 's/^set(TILLSYNC_BACKEND_KINDS \(.*\))$/\1/p' backends/CMakeLists.txt)
[ -n "$kinds" ] || { echo "no TILLSYNC_BACKEND_KINDS line in firmware/backends/CMakeLists.txt"; exit 1; }
# What a backend may include: the headers of backends/ (the plugin interface) and of base/.
allowed=$(cd backends && ls *.h; cd ../base && ls *.h)
failed=0
for kind in $kinds; do
  [ -d "backends/$kind" ] || { echo "backend $kind: no folder firmware/backends/$kind"; failed=1; }
  hits=$(grep -rniw "$kind" . --exclude-dir="$kind" | grep -v '^./backends/CMakeLists.txt:.*TILLSYNC_BACKEND_KINDS' || true)
  if [ -n "$hits" ]; then
    echo "backend $kind named outside its folder:"; echo "$hits"; failed=1
  fi
  bad=$(grep -rn '#include "' "backends/$kind" | grep -vF "$(sed 's/.*/"&"/' <<<"$allowed")" || true)
  if [ -n "$bad" ]; then
    echo "backend $kind includes beyond the plugin interface:"; echo "$bad"; failed=1
  fi
done
[ "$failed" = 0 ] && echo "backends: $kinds; each named only in its folder and the registry"
exit "$failed"
