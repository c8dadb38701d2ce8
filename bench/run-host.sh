#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run mmio-bench on this host: a private mmio-server on a sim policy (a
# 32 MiB simulated device granted to the calling uid, and two 4 KiB ones
# for read32 through a grant with 64 register rules against the same grant
# without them), then the bench.
# Usage: bench/run-host.sh [BUILD_DIR] [mmio-bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/private-server.sh

build=${1:-build/gcc}
[ $# -gt 0 ] && shift
bench=$build/bench/mmio-bench
[ -x "$bench" ] || { echo "run-host: $bench is missing (build first: cmake --build $build)" >&2; exit 1; }

# One register rule per offset read32 reads (0 to 252, 4 bytes apart).
rules=$(for i in $(seq 0 63); do printf '          - { offset: %d, access: r }\n' $((i * 4)); done)

private_server "$build" <<POLICY
regions:
  - name: bench
    sim: true
    size: 32MiB
  - name: plain
    sim: true
    size: 4KiB
  - name: ruled
    sim: true
    size: 4KiB
clients:
  - name: bench
    uid: $(id -u)
    grants:
      - region: bench
        access: rw
        ops: [once, bulk, fill, poll, map]
      - region: plain
        access: r
        ops: [once, poll]
        widths: [4]
      - region: ruled
        access: r
        ops: [once, poll]
        widths: [4]
        registers:
$rules
POLICY
"$bench" -s "$url" --rules-region ruled --rules-baseline plain "$@"
