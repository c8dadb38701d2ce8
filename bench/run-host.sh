#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run mmio-bench on this host: a private mmio-server on a sim policy (a
# 32 MiB simulated device granted to the calling uid), then the bench.
# Usage: bench/run-host.sh [BUILD_DIR] [mmio-bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/gcc}
[ $# -gt 0 ] && shift
server=$build/server/mmio-server
bench=$build/bench/mmio-bench
for f in "$server" "$bench"; do
	[ -x "$f" ] || { echo "run-host: $f is missing (build first: cmake --build $build)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/mmio-bench.XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/policy.yaml" <<POLICY
version: 1
server:
  listen: "ipc://$dir/mmio.sock"
  socket_mode: "0600"
  max_message: 1MiB
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

"$server" -c "$dir/policy.yaml" --log-level warn 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/mmio.sock" ] && break; sleep 0.05; done
[ -S "$dir/mmio.sock" ] || { echo "run-host: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }

"$bench" -s "ipc://$dir/mmio.sock" "$@"
