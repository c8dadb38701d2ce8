#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# systemd-unit.sh BUILD_DIR WORK_DIR LIBDIR: install into a scratch prefix; the
# installed mmio-server.service names that install's server and policy, has
# the settings the server's contract needs (notify, /run/mmio, reload by
# SIGHUP, the hardening), and `systemd-analyze verify` accepts it without a
# single message (a deliberately broken copy must draw one, so the check is
# known to bite here); and the installed server works with CAP_CHOWN alone,
# as the unit runs it for the sim backend, doors included.
set -euo pipefail
build=$1 work=$2 libdir=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null ||
	fail "systemd-analyze is missing (scripts/deps.sh installs the systemd package)"

rm -rf "$work"; mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
	{ cat "$work/install.log"; fail "cmake --install"; }
unit=$prefix/lib/systemd/system/mmio-server.service
[ -f "$unit" ] || fail "$unit not installed"

want=(
	"Type=notify"
	"ExecStart=$prefix/sbin/mmio-server -c $prefix/etc/mmio/policy.yaml"
	"ExecReload=$prefix/sbin/mmio-server --check-config -c $prefix/etc/mmio/policy.yaml"
	'ExecReload=/bin/kill -HUP $MAINPID'
	"RestartPreventExitStatus=78"
	"SystemCallFilter=@system-service"
	"MemoryDenyWriteExecute=yes"
	"RuntimeDirectory=mmio"
	"NoNewPrivileges=yes"
	"ProtectSystem=strict"
	"RestrictAddressFamilies=AF_UNIX"
	"CapabilityBoundingSet=CAP_CHOWN"
	"DeviceAllow=/dev/mem rw"
)
for line in "${want[@]}"; do
	grep -qxF -- "$line" "$unit" || fail "$unit lacks the line '$line'"
done
if grep -qE '^PrivateDevices=' "$unit"; then fail "$unit sets PrivateDevices= (hides /dev/mem)"; fi

# The unit's own command line, as a check: the installed server reads the
# installed policy.
"$prefix/sbin/mmio-server" --check-config -c "$prefix/etc/mmio/policy.yaml" ||
	fail "the installed server rejects the installed policy"

# verify looks up Documentation= with man(1): point it at this install.
verify() { MANPATH=$prefix/share/man: systemd-analyze verify "$1" 2>&1; }
out=$(verify "$unit") || fail "systemd-analyze verify exited non-zero: $out"
[ -z "$out" ] || fail "systemd-analyze verify has messages for $unit:
$out"

# The exposure score systemd gives the unit, offline (systemd_guest asks
# the running systemd too): at most 2.0.
sec=$(systemd-analyze security --offline=yes "$unit" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$sec")
[ -n "$score" ] || fail "systemd-analyze security gave no score: $sec"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
	fail "systemd-analyze security: exposure $score > 2.0: $(grep '✗' <<<"$sec")"

sed 's/^Type=notify$/Type=notifyy/' "$unit" >"$work/broken.service"
out=$(verify "$work/broken.service") || true
[ -n "$out" ] || fail "systemd-analyze verify said nothing about a broken unit: the check cannot fail"

# The unit grants CAP_CHOWN alone (CapabilityBoundingSet=CAP_CHOWN,
# NoNewPrivileges=): the installed server serves a sim region under exactly
# that, through the client's own door, mode 0660.
sock=$work/mmio.sock
cat >"$work/policy.yaml" <<POLICY
version: 1
server:
  listen: "ipc://$sock"
regions:
  - name: scratch
    sim: true
    size: 4KiB
clients:
  - name: me
    uid: $(id -u)
    grants:
      - region: scratch
        access: rw
        ops: [once]
POLICY
export LD_LIBRARY_PATH=$prefix/$libdir
setpriv --no-new-privs --bounding-set=-all,+chown --inh-caps=-all \
	"$prefix/sbin/mmio-server" -c "$work/policy.yaml" --log-level warn 2>"$work/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$work/server.log" >&2; fail "mmio-server did not start with CAP_CHOWN alone"; }
caps=$(awk '/^Cap(Eff|Prm|Bnd):/{printf "%s%s", sep, $2; sep=" "}' "/proc/$pid/status")
[ "$caps" = "0000000000000001 0000000000000001 0000000000000001" ] ||
	fail "the server has other capabilities than CAP_CHOWN (CapPrm CapEff CapBnd: $caps)"
door=$sock.d/u$(id -u)
for _ in $(seq 100); do [ -S "$door" ] && break; sleep 0.05; done
[ -S "$door" ] || { cat "$work/server.log" >&2; fail "no door $door under CAP_CHOWN alone"; }
[ "$(stat -c %a "$door")" = 660 ] || fail "door $door has mode $(stat -c %a "$door"), not 660"
"$prefix/bin/mmioctl" -s "ipc://$sock" write scratch 8 32 0xc0ffee11 || fail "mmioctl write with CAP_CHOWN alone"
got=$("$prefix/bin/mmioctl" -s "ipc://$sock" read scratch 8 32) || fail "mmioctl read with CAP_CHOWN alone"
[ "$got" = 0xC0FFEE11 ] || fail "read back '$got', expected 0xC0FFEE11"
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; trap - EXIT
[ $rc -eq 0 ] || { cat "$work/server.log" >&2; fail "mmio-server exited $rc on SIGTERM"; }

echo "ok: $unit verifies, exposure $score; ExecStart=$prefix/sbin/mmio-server; sim served with CAP_CHOWN alone, through a door"
