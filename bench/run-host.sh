#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run mmio-bench on this host: a private mmio-server on a sim policy (a
# 32 MiB simulated device granted to the calling uid), then the bench.
# Usage: bench/run-host.sh [BUILD_DIR] [mmio-bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/private-server.sh

build=${1:-build/gcc}
[ $# -gt 0 ] && shift
bench=$build/bench/mmio-bench
[ -x "$bench" ] || { echo "run-host: $bench is missing (build first: cmake --build $build)" >&2; exit 1; }

private_server "$build" <<POLICY
regions:
  - name: bench
    sim: true
    size: 32MiB
clients:
  - name: bench
    uid: $(id -u)
    grants:
      - region: bench
        access: rw
        ops: [once, bulk, fill, poll, map]
POLICY
"$bench" -s "$url" "$@"
