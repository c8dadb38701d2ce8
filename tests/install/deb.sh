#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deb.sh BUILD_DIR WORK_DIR: build the .deb with CPack, check its control
# data, `dpkg -i` it, run the installed programs, then `dpkg -r` and
# `dpkg --purge` it and check that nothing of it is left. Needs root, and a
# system without mmio installed (it refuses, rather than disturb one).
set -euo pipefail
build=$1 work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "the .deb test installs a package: run it as root (uid is $(id -u))"
# One at a time on this machine (several build trees may run their suites at
# once; they all install the same package).
exec 9>/run/lock/mmio-deb-test.lock
flock -w 90 9 || fail "another mmio .deb test held /run/lock/mmio-deb-test.lock for 90 s"
status=$(dpkg-query -W -f='${Status}' mmio 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = "unknown ok not-installed" ] ||
	fail "package mmio is already on this system ($status): refusing to replace it"
[ ! -e /etc/mmio ] || fail "/etc/mmio exists but package mmio is not installed: refusing to touch it"

rm -rf "$work"; mkdir -p "$work"
start=$SECONDS
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work") >"$work/cpack.log" 2>&1 ||
	{ cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
debs=("$work"/mmio_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no (or several) mmio_*.deb: $(ls "$work")"
deb=${debs[0]}
echo "built $(basename "$deb") in $((SECONDS - start)) s"

# --- Control data.
[ "$(dpkg-deb -f "$deb" Package)" = mmio ] || fail "Package is '$(dpkg-deb -f "$deb" Package)'"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libnng1 libcyaml1 libc6; do
	grep -qE "(^|, )$dep( |,|$)" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
grep -qx /etc/mmio/policy.yaml <<<"$(dpkg-deb -I "$deb" conffiles)" || fail "/etc/mmio/policy.yaml is not a conffile"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
for f in /usr/sbin/mmio-server /usr/bin/mmioctl /usr/bin/mmio-policy /usr/bin/mmio-bench \
	/usr/include/mmio/client.h /usr/include/mmio/client_inline.h /usr/include/mmio/status.h \
	/usr/include/mmio/rights.h /etc/mmio/policy.yaml \
	/usr/lib/systemd/system/mmio-server.service /usr/share/man/man8/mmio-server.8; do
	grep -qxF "$f" "$work/contents" || fail "the package lacks $f"
done
# Regular files of the package: none may be on the system before.
grep -v '/$' "$work/contents" >"$work/files"
while read -r f; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f exists before the install (from elsewhere): refusing"
done <"$work/files"

# --- Install; from here on, whatever happens, purge on the way out.
trap 'dpkg --purge mmio >/dev/null 2>&1 || true' EXIT
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 ||
	{ cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
[ "$(dpkg-query -W -f='${Status}' mmio)" = "install ok installed" ] || fail "mmio is not installed after dpkg -i"
[ "$(command -v mmio-server)" = /usr/sbin/mmio-server ] || fail "mmio-server is '$(command -v mmio-server)'"
mmio-server --check-config -c /etc/mmio/policy.yaml || fail "mmio-server --check-config -c /etc/mmio/policy.yaml"
grep -q '^Usage: mmioctl' <<<"$(mmioctl --help)" || fail "mmioctl --help"
mmio-policy check /etc/mmio/policy.yaml >/dev/null || fail "mmio-policy check /etc/mmio/policy.yaml"
[ "$(pkg-config --variable=prefix libmmio)" = /usr ] || fail "the installed libmmio.pc has prefix=$(pkg-config --variable=prefix libmmio)"
grep -qxF 'ExecStart=/usr/sbin/mmio-server -c /etc/mmio/policy.yaml' /usr/lib/systemd/system/mmio-server.service ||
	fail "the packaged unit does not start /usr/sbin/mmio-server -c /etc/mmio/policy.yaml"
man -w mmio-server >/dev/null 2>&1 || fail "man cannot find mmio-server(8) after the install"

# --- Remove: the conffile stays; purge: nothing stays.
dpkg -r mmio >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
[ "$(dpkg-query -W -f='${Status}' mmio)" = "deinstall ok config-files" ] || fail "mmio is not in config-files state after dpkg -r"
[ ! -e /usr/sbin/mmio-server ] || fail "/usr/sbin/mmio-server is still there after dpkg -r"
[ -f /etc/mmio/policy.yaml ] || fail "dpkg -r removed the conffile /etc/mmio/policy.yaml"
dpkg --purge mmio >"$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log"; fail "dpkg --purge failed"; }
trap - EXIT
status=$(dpkg-query -W -f='${Status}' mmio 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = "unknown ok not-installed" ] || fail "mmio is '$status' after dpkg --purge"
while read -r f; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is left after dpkg --purge"
done <"$work/files"
[ ! -e /etc/mmio ] || fail "/etc/mmio is left after dpkg --purge"
echo "ok: $(basename "$deb") (Depends: $depends) installs, runs and purges cleanly in $((SECONDS - start)) s"
