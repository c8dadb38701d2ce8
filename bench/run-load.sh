#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The load test on this host: a private mmio-server with a 16 x 8 KiB
# private region and a 4 KiB shared one, granted to the calling uid, then
# mmio-load (default 16 workers x 50,000 operations, every result against a
# model), with the server's memory before and after.
# Usage: bench/run-load.sh [BUILD_DIR] [mmio-load options...]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/private-server.sh

build=${1:-build/gcc}
[ $# -gt 0 ] && shift
load=$build/bench/mmio-load
[ -x "$load" ] || { echo "run-load: $load is missing (build first: cmake --build $build)" >&2; exit 1; }

private_server "$build" <<POLICY
regions:
  - { name: private, sim: true, size: 512KiB }
  - { name: shared, sim: true, size: 4KiB }
clients:
  - name: load
    uid: $(id -u)
    grants:
      - { region: private, access: rw, ops: [once, bulk, fill, poll] }
      - { region: shared, access: rw, ops: [once] }
POLICY
"$load" -s "$url" --server-pid "$server_pid" "$@"
