#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install what mmio needs from Debian 12, and nothing when it is all there.
# Idempotent: asks dpkg first; runs apt-get update/install only for what is
# missing. Uses sudo when not root.
set -euo pipefail

packages=(
	build-essential cmake pkg-config nasm binutils   # toolchain, objdump
	clang lld                                        # sanitizer + libFuzzer build; lld for a static-link test
	libnng-dev libcyaml-dev check                    # nng, libcyaml, Check
	man-db groff-base                                # man --warnings (man page tests)
	systemd file procps                              # systemd-analyze verify; file for cpack -G DEB; procps: the .deb depends on it
	qemu-system-x86 busybox-static linux-image-amd64 cpio # the QEMU guest (kernel-shim/guest/)
	mmdebstrap zstd                                  # the systemd guest's Debian root (tests/install/systemd-guest.sh)
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# The kernel-shim module is built against the kernel the guest boots: the
# newest /boot/vmlinuz-* (linux-image-amd64 above), not the running one
# (`uname -r`, often another kernel on a build host). Only known once the
# image is installed, so asked after the first round.
guest_headers() {
	local ver
	ver=$(for f in /boot/vmlinuz-*; do [ -e "$f" ] && echo "${f#/boot/vmlinuz-}"; done |
		sort -V | tail -n 1)
	[ -n "$ver" ] && echo "linux-headers-$ver"
}

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
updated=0
install_missing() {
	local missing=() p
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 1
	if [ ${#sudo[@]} -ne 0 ] && ! command -v sudo >/dev/null; then
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	[ $updated -eq 1 ] || "${sudo[@]}" apt-get update -qq
	updated=1
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

changed=0
install_missing "${packages[@]}" && changed=1
headers=$(guest_headers || true)
if [ -n "$headers" ]; then
	install_missing "$headers" && changed=1
else
	echo "deps: no /boot/vmlinuz-*: the kernel-shim module will not be built"
fi
if [ $changed -eq 0 ]; then
	echo "deps: all $((${#packages[@]} + 1)) packages present"
	exit 0
fi
