# SPDX-License-Identifier: MIT
#
# Sourced by the bench runners (run-host.sh, run-load.sh): a private
# mmio-server for one run.
#
#   private_server BUILD_DIR <<POLICY
#   ...regions and clients...
#   POLICY
#
# The policy body comes on stdin, without `version` and `server` (this adds
# them: listening in a scratch directory, socket mode 0600). Sets $url
# (ipc://...) and $server_pid, removes everything on exit, and fails with
# the server's log if it does not start.
private_server() {
	local build=$1 server=$1/server/mmio-server
	[ -x "$server" ] || { echo "${0##*/}: $server is missing (build first: cmake --build $build)" >&2; exit 1; }
	private_dir=$(mktemp -d /tmp/mmio-bench.XXXXXX)
	trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$private_dir"' EXIT
	{
		printf 'version: 1\nserver:\n  listen: "ipc://%s/mmio.sock"\n  socket_mode: "0600"\n' "$private_dir"
		printf '  max_message: 1MiB\n'
		cat
	} >"$private_dir/policy.yaml"
	"$server" -c "$private_dir/policy.yaml" --log-level warn 2>"$private_dir/server.log" &
	server_pid=$!
	for _ in $(seq 100); do [ -S "$private_dir/mmio.sock" ] && break; sleep 0.05; done
	if [ ! -S "$private_dir/mmio.sock" ]; then
		echo "${0##*/}: the server did not start:" >&2
		cat "$private_dir/server.log" >&2
		exit 1
	fi
	url=ipc://$private_dir/mmio.sock
}
