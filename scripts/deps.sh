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

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
