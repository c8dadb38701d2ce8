#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The main job (README): install what is missing, build, and show mmio at
# work:
#   1. the access primitives on a simulated device (exact fault counts);
#   2. on this host, mmio-server on a policy of simulated devices, mmioctl
#      and the example driver;
#   3. in a QEMU guest (TCG) with real emulated devices: the server started
#      at boot, the edu driver as an ordinary user (proxied, then direct),
#      the bochs-display driver drawing a test pattern (QEMU's screenshot
#      saved as display.png), and mmio-bench on edu and ivshmem with its
#      table, JSON and SVG plot (all under build/gcc/guest/artifacts/demo/).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
echo "=== building"
cmake -S . -B build/gcc -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/gcc -j "$(nproc 2>/dev/null || echo 2)" --target mmio-shim-demo \
	mmio-server mmioctl mmio-sim-driver mmio-edu-driver mmio-bochs-driver mmio-bench mmio-policy >/dev/null
bin=build/gcc

echo
echo "=== 1. kernel-shim: the access primitives on a simulated device"
"$bin/kernel-shim/mmio-shim-demo"

dir=$(mktemp -d /tmp/mmio-demo.XXXXXX)
chmod 755 "$dir"
server=
# Errors here must not change the demo's exit status (set -e applies in traps).
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
# The host example policy, listening in the scratch directory, granted to
# the uid that runs the demo.
sed -e "s|ipc:///run/mmio/mmio.sock|ipc://$dir/mmio.sock|" \
	-e "s|uid: 1000|uid: $(id -u)|" config/examples/host-demo.yaml >"$dir/policy.yaml"

echo
echo "=== 2. mmio-server on config/examples/host-demo.yaml (uid $(id -u) as the driver)"
"$bin/server/mmio-server" -c "$dir/policy.yaml" 2>"$dir/server.log" &
server=$!
for _ in $(seq 100); do [ -S "$dir/mmio.sock" ] && break; sleep 0.05; done
export MMIO_SERVER="ipc://$dir/mmio.sock"
echo "\$ mmioctl list"
"$bin/client/mmioctl" list
echo "\$ mmioctl write scratch 0x40 32 0x010000ED && mmioctl read scratch 0x40"
"$bin/client/mmioctl" write scratch 0x40 32 0x010000ED
"$bin/client/mmioctl" read scratch 0x40
echo "\$ mmioctl read keys 0x3 32      # misaligned: refused, nothing touched"
"$bin/client/mmioctl" read keys 0x3 32 || true
echo "\$ mmio-sim-driver             # client/examples/sim-driver.c"
"$bin/client/mmio-sim-driver" "$MMIO_SERVER" scratch
echo "--- the server log:"
sed 's/^/    /' "$dir/server.log"

kill "$server"
wait "$server" 2>/dev/null || true
server=

echo
echo "=== 3. the QEMU guest: edu, ivshmem-plain and bochs-display, the server at boot,"
echo "    the edu and bochs-display drivers and mmio-bench as uid 1000 (TCG: about 90 s)"
kernel-shim/guest/run-guest.sh --build "$bin" --timeout 600 demo
art=$bin/guest/artifacts/demo
echo
echo "The bench's figures: $art/bench.json; its plot: $art/bench.svg"
echo "What the bochs-display driver drew (QEMU's screenshot): $art/display.png"
