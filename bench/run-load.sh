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

build=${1:-build/gcc}
[ $# -gt 0 ] && shift
server=$build/server/mmio-server
load=$build/bench/mmio-load
for f in "$server" "$load"; do
	[ -x "$f" ] || { echo "run-load: $f is missing (build first: cmake --build $build)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/mmio-load.XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/policy.yaml" <<POLICY
version: 1
server:
  listen: "ipc://$dir/mmio.sock"
  socket_mode: "0600"
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

"$server" -c "$dir/policy.yaml" --log-level warn 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/mmio.sock" ] && break; sleep 0.05; done
[ -S "$dir/mmio.sock" ] || { echo "run-load: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }

"$load" -s "ipc://$dir/mmio.sock" --server-pid "$pid" "$@"
