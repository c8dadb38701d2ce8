#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# systemd-guest.sh BUILD_DIR WORK_DIR: the .deb's mmio-server.service under a
# real systemd. Boots a minimal Debian 12 root (systemd as PID 1) under QEMU
# with the edu device, installs this build's .deb in it with dpkg, and runs
# the checks of systemd-guest-checks.sh there; each reports
# "mmio-systemd: check NAME: ok|FAIL ...". Fails unless every expected check
# reported ok.
#
# The root comes from the Debian archive (mmdebstrap) once and is kept as a
# compressed cpio archive in $MMIO_SYSTEMD_CACHE (default
# /var/cache/mmio/systemd-root), named by a hash of its package list and of
# the steps that make it: a later run (any clone) reuses it. The run's own
# files (the .deb, the checks, their unit) are a second cpio archive
# appended to the first; the kernel unpacks both into its root file system.
#
# Needs root (dpkg, mmdebstrap, /boot/vmlinuz-* is 0600), mmdebstrap,
# qemu-system-x86, linux-image-amd64, cpio and zstd (scripts/deps.sh).
# Keeps the console log in WORK_DIR/console.log.
set -euo pipefail
export LC_ALL=C
build=$(cd "$1" && pwd) work=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
start=$SECONDS

[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap, dpkg in the guest's root, /boot/vmlinuz-*): uid is $(id -u)"
for tool in mmdebstrap qemu-system-x86_64 cpio zstd cpack; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps.sh installs it)"
done
# shellcheck disable=SC2012 # /boot/vmlinuz-VERSION names have no odd characters
kernel=${MMIO_GUEST_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] && [ -r "$kernel" ] || fail "no readable /boot/vmlinuz-* (apt-get install linux-image-amd64)"

rm -rf "$work"; mkdir -p "$work"; work=$(cd "$work" && pwd)

# --- The root, from the cache or from the archive ---------------------------
suite=bookworm
mirror=${MMIO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# systemd and what mmio's .deb depends on; passwd for useradd.
packages=systemd,libnng1,libcyaml1,libyaml-0-2,procps,passwd
cache=${MMIO_SYSTEMD_CACHE:-/var/cache/mmio/systemd-root}

# What is done to the root after mmdebstrap; part of the cache key.
customize() {
	local root=$1
	# The kernel starts /init from the initramfs: systemd, with the archive
	# unpacked as the real root (no /etc/initrd-release: not an initrd).
	ln -sf /lib/systemd/systemd "$root/init"
	echo mmio-guest >"$root/etc/hostname"
	: >"$root/etc/machine-id"
	# The drivers: uid 1000 (the example policy's demo-driver) and a
	# member of `users` (its viewers), both without a password.
	chroot "$root" useradd -M -u 1000 -s /bin/sh driver
	chroot "$root" useradd -M -u 1001 -G users -s /bin/sh viewer
	# Nothing that waits for hardware or a login: the checks' unit runs and
	# powers the guest off.
	for unit in getty.target systemd-timesyncd.service serial-getty@ttyS0.service \
		systemd-networkd.service systemd-resolved.service apt-daily.timer \
		apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$root/etc/systemd/system/$unit"
	done
}
key=$(printf '%s\n' "$suite" "$mirror" "$packages" "$(declare -f customize)" | sha256sum | cut -c1-16)
base=$cache/$key.cpio.zst

if [ -f "$base" ]; then
	echo "root: cached $base"
else
	mkdir -p "$cache"
	exec 8>"$cache/.lock"
	flock -w 600 8 || fail "another run held $cache/.lock for 600 s"
	if [ ! -f "$base" ]; then
		t=$SECONDS
		tmp=$cache/tmp.$$
		rm -rf "$tmp"
		trap 'rm -rf "$tmp" "$tmp.cpio"' EXIT
		mmdebstrap --variant=essential --mode=root --format=directory \
			--aptopt='APT::Install-Recommends "false"' \
			--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
			--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
			--include="$packages" "$suite" "$tmp" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
			{ tail -40 "$work/mmdebstrap.log" >&2; fail "mmdebstrap $suite from $mirror"; }
		customize "$tmp"
		(cd "$tmp" && find . -mindepth 1 | cpio -o -H newc --quiet | zstd -q -T2 -10) >"$tmp.cpio"
		mv "$tmp.cpio" "$base"
		rm -rf "$tmp"
		trap - EXIT
		# Roots of other package lists are not used again.
		find "$cache" -maxdepth 1 -name '*.cpio.zst' ! -name "$key.cpio.zst" -delete
		echo "root: built $base in $((SECONDS - t)) s ($(du -h "$base" | cut -f1))"
	fi
	exec 8>&-
fi

# --- This run's files: the .deb and the checks ----------------------------
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/deb") >"$work/cpack.log" 2>&1 ||
	{ cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$work"/deb/mmio_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no (or several) mmio_*.deb"
over=$work/overlay
mkdir -p "$over/opt/mmio-test" "$over/etc/systemd/system/multi-user.target.wants"
cp "${debs[0]}" "$over/opt/mmio-test/mmio.deb"
cp "$here/systemd-guest-checks.sh" "$over/opt/mmio-test/checks.sh"
chmod 0755 "$over/opt/mmio-test/checks.sh"
cat >"$over/etc/systemd/system/mmio-test.service" <<'UNIT'
[Unit]
Description=mmio: the checks of tests/install/systemd-guest.sh
After=multi-user.target

[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStart=/opt/mmio-test/checks.sh
ExecStopPost=/bin/systemctl poweroff --force --force
UNIT
ln -sf ../mmio-test.service "$over/etc/systemd/system/multi-user.target.wants/mmio-test.service"
# Only the new files: the directories above them keep the root's metadata.
(cd "$over" && find opt etc/systemd/system/mmio-test.service \
	etc/systemd/system/multi-user.target.wants/mmio-test.service |
	cpio -o -H newc --quiet -R 0:0 | zstd -q -1) >"$work/overlay.cpio.zst"
cat "$base" "$work/overlay.cpio.zst" >"$work/initrd"

# --- Boot ----------------------------------------------------------------
timeout=${MMIO_SYSTEMD_TIMEOUT:-300}
log=$work/console.log
boot=$SECONDS
set +e
timeout -k 5 "$timeout" qemu-system-x86_64 -machine pc -cpu max -m 1536M -smp 1 \
	-nographic -no-reboot -net none \
	-kernel "$kernel" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet panic=-1 systemd.show_status=0 rd.udev.log_level=3" \
	-device edu,addr=04.0 </dev/null 2>&1 | tr -d '\r' >"$log"
qemu_rc=${PIPESTATUS[0]}
set -e
rm -f "$work/initrd"
echo "guest: QEMU exited $qemu_rc after $((SECONDS - boot)) s"

sed -n 's/^.*mmio-systemd: //p' "$log"
expected=(install ready notified driver-proxied driver-direct group-driver pci-region
	reload-applies reload-broken-fails socket-mode socket-group stop-clean
	invalid-no-restart security purge)
bad=0
for c in "${expected[@]}"; do
	if grep -q "mmio-systemd: check $c: ok" "$log"; then
		continue
	elif grep -q "mmio-systemd: check $c: FAIL" "$log"; then
		echo "FAILED: $c" >&2
	else
		echo "FAILED: $c did not report (console: $log)" >&2
	fi
	bad=$((bad + 1))
done
[ "$qemu_rc" -ne 124 ] && [ "$qemu_rc" -ne 137 ] || { tail -30 "$log" >&2; fail "timeout after $timeout s"; }
grep -q 'mmio-systemd: done' "$log" || { tail -30 "$log" >&2; bad=$((bad + 1)); echo "FAILED: the checks did not finish" >&2; }
echo "systemd-guest: $((${#expected[@]} - bad)) of ${#expected[@]} checks ok in $((SECONDS - start)) s (boot and checks $((SECONDS - boot)) s; console $log)"
[ $bad -eq 0 ]
