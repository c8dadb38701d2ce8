#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build the QEMU guest's initramfs: busybox-static,
# the project's binaries from a build tree with every shared library they
# load, a policy, users root, driver (uid/gid 1000), stranger (1001),
# starter (1002) and reader (1003), the scenarios and /init. Output is a gzip'd newc cpio; the same inputs give the same bytes.
#
#   mkinitramfs.sh [--policy FILE] [--scenario FILE]... BUILD_DIR OUT.cpio.gz [EXTRA...]
#
# --policy FILE (or $MMIO_GUEST_POLICY) becomes /etc/mmio/policy.yaml;
# default config/examples/qemu-guest.yaml. The scenarios are
# kernel-shim/guest/scenarios/*.sh and each --scenario FILE (as
# /scenarios/NAME.sh, NAME its file name without .sh; it replaces a stock
# one of that name). Each EXTRA directory's contents
# (or EXTRA file) is copied into /opt/extra, with the libraries of the ELF
# programs in it. $MMIO_GUEST_KEEP=1 keeps the staging tree as OUT.d/.
# The mmio-window module of the build (kernel-shim/module) goes to
# /lib/modules/mmio/ when it was built. Needs: bash, coreutils, find, ldd,
# cpio, gzip, and busybox-static (kmod's modinfo for the uio modules).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

die() { echo "mkinitramfs: $*" >&2; exit 1; }
usage() { sed -n '/^#   mkinitramfs/,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

policy=${MMIO_GUEST_POLICY:-$src/config/examples/qemu-guest.yaml}
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	--policy) [ $# -ge 2 ] || usage; policy=$2; shift 2 ;;
	--policy=*) policy=${1#*=}; shift ;;
	--scenario) [ $# -ge 2 ] || usage; scenarios+=("$2"); shift 2 ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
build=$1 out=$2
shift 2

[ -d "$build" ] || die "no build directory $build"
build=$(cd "$build" && pwd)
[ -f "$policy" ] || die "no policy file $policy"
command -v cpio >/dev/null || die "cpio is missing (apt-get install cpio)"
busybox=${MMIO_GUEST_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "no $busybox (apt-get install busybox-static)"
# A dynamic busybox would need its libc in the image too; insist on the static one.
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked (apt-get install busybox-static)"
fi

# Files get a fixed mtime so the archive depends only on the inputs.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export LC_ALL=C

out_dir=$(cd "$(dirname "$out")" 2>/dev/null && pwd) || die "no directory for $out"
out=$out_dir/$(basename "$out")
stage=$(mktemp -d "$out_dir/.initramfs.XXXXXX")
cleanup() { rm -rf "$stage" "$out.tmp"; }
trap cleanup EXIT
root=$stage/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib,etc/mmio,proc,sys,dev,run,tmp,root,home/driver,scenarios,opt/extra,usr/share/mmio-guest}
chmod 1777 "$root/tmp"

# busybox and every applet as a symlink: links cost ~100 bytes each and
# scenarios may use any applet without touching this list.
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list | while read -r applet; do
	[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done

# Copy an ELF file's shared libraries (and the loader) at the paths the
# host's loader resolves them to, so DT_RUNPATHs (e.g. libmmio in the build
# tree) resolve the same way in the guest.
elf_libs() {
	local f=$1 out lib
	# ldd exits 1 for static programs: nothing to copy.
	out=$(ldd "$f" 2>&1) || return 0
	if grep -q 'not found' <<<"$out"; then
		die "$f: missing libraries:"$'\n'"$(grep 'not found' <<<"$out")"
	fi
	# "name => /path (addr)" and "/path (addr)" (the loader); skip the vDSO.
	# shellcheck disable=SC2013 # one path per line, no spaces
	for lib in $(sed -n -e 's/.*=> \(\/[^ ]*\) (.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' <<<"$out"); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
		chmod 0755 "$root$lib"
		# A library outside the system directories (libmmio in the build
		# tree) also goes where the loader looks by default: the guest
		# mounts tmpfs on /tmp and /run, which would hide a build tree
		# there from the binaries' RUNPATH.
		case $lib in
		/lib/* | /lib64/* | /usr/lib/*) ;;
		*) cp -L "$lib" "$root/usr/lib/$(basename "$lib")" ;;
		esac
	done
}
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = '177ELF' ]; }

# Project binaries: where CMake puts them, else anywhere two levels down
# (not deeper: tests/install/ holds installed copies).
find_bin() {
	local name=$1 rel=$2 f
	if [ -x "$build/$rel" ] && [ -f "$build/$rel" ]; then
		echo "$build/$rel"
		return 0
	fi
	f=$(find "$build" -mindepth 2 -maxdepth 2 -type f -name "$name" -perm -u+x 2>/dev/null | sort | head -n 1)
	[ -n "$f" ] && echo "$f"
}
installed=()
add_bin() { # name relpath destdir required
	local f
	f=$(find_bin "$1" "$2") || true
	if [ -z "$f" ]; then
		[ "$4" = required ] && die "no $1 in $build (build the project first)"
		return 0
	fi
	install -m 0755 "$f" "$root/$3/$1"
	elf_libs "$f"
	installed+=("$1")
}
add_bin mmio-server server/mmio-server usr/sbin required
add_bin mmioctl client/mmioctl usr/bin optional
add_bin mmio-bench bench/mmio-bench usr/bin optional
add_bin mmio-policy config/mmio-policy usr/bin optional
add_bin mmio-sim-driver client/mmio-sim-driver usr/bin optional
add_bin mmio-edu-driver client/mmio-edu-driver usr/bin optional
add_bin mmio-bochs-driver client/mmio-bochs-driver usr/bin optional
add_bin mmio-shim-demo kernel-shim/mmio-shim-demo usr/bin optional
add_bin mmio-window-revoke tests/mmio-window-revoke usr/bin optional
add_bin mmio-window-bench bench/mmio-window-bench usr/bin optional
add_bin mmio-window-test kernel-shim/mmio-window-test usr/bin optional
add_bin mmio-irq-test kernel-shim/mmio-irq-test usr/bin optional

# The mmio-window module (kernel-shim/module), which /init loads before the
# server, and uio + uio_pci_generic of the kernel it was built for: the
# windows scenario binds that driver to a function to see a window refused.
ko=$build/kernel-shim/module/kbuild/mmio_window.ko
if [ -f "$ko" ]; then
	mkdir -p "$root/lib/modules/mmio"
	install -m 0644 "$ko" "$root/lib/modules/mmio/mmio_window.ko"
	installed+=(mmio_window.ko)
	kver=$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1) || kver=
	for m in uio uio_pci_generic; do
		f=/lib/modules/$kver/kernel/drivers/uio/$m.ko
		[ -n "$kver" ] && [ -f "$f" ] && install -m 0644 "$f" "$root/lib/modules/mmio/$m.ko"
	done
fi

# Users: su (busybox) as root asks no password; the others' are locked.
# driver (1000) is the one the guest policy grants devices to; stranger
# (1001) has no grant, for the tests that must be refused; starter (1002)
# and reader (1003) share edu's factorial register under register rules.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
driver:x:1000:1000:driver:/home/driver:/bin/sh
stranger:x:1001:1001:stranger:/tmp:/bin/sh
starter:x:1002:1002:starter:/tmp:/bin/sh
reader:x:1003:1003:reader:/tmp:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
driver:x:1000:
stranger:x:1001:
starter:x:1002:
reader:x:1003:
EOF
cat >"$root/etc/shadow" <<'EOF'
root:*:0:0:99999:7:::
driver:!:0:0:99999:7:::
stranger:!:0:0:99999:7:::
starter:!:0:0:99999:7:::
reader:!:0:0:99999:7:::
EOF
chmod 0600 "$root/etc/shadow"
echo /bin/sh >"$root/etc/shells"
echo mmio-guest >"$root/etc/hostname"

install -m 0644 "$policy" "$root/etc/mmio/policy.yaml"
install -m 0755 "$here/init" "$root/init"
install -m 0644 "$here/lib.sh" "$root/usr/share/mmio-guest/lib.sh"
for s in "$here"/scenarios/*.sh; do
	[ -e "$s" ] && install -m 0755 "$s" "$root/scenarios/"
done
for s in "${scenarios[@]}"; do
	[ -f "$s" ] || die "no scenario file $s"
	install -m 0755 "$s" "$root/scenarios/$(basename "$s" .sh).sh"
done

for x in "$@"; do
	if [ -d "$x" ]; then
		cp -a "$x/." "$root/opt/extra/"
	elif [ -f "$x" ]; then
		cp -a "$x" "$root/opt/extra/"
	else
		die "no extra directory or file $x"
	fi
done
# Test programs need their libraries too.
while IFS= read -r -d '' f; do
	is_elf "$f" && elf_libs "$f"
done < <(find "$root/opt/extra" -type f -perm -u+x -print0 | sort -z)

# What went in, for the log of whoever boots it.
{
	echo "policy $(basename "$policy")"
	echo "programs ${installed[*]}"
} >"$root/etc/mmio/guest-manifest"

# Deterministic archive: sorted names, fixed mtimes, owner root, no
# inode/device numbers (--reproducible), no name or time in the gzip header.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -mindepth 1 -print0 | sed -z 's|^\./||' | sort -z |
	cpio --quiet -o -H newc -0 -R 0:0 --reproducible) | gzip -n -6 >"$out.tmp"
mv -f "$out.tmp" "$out"

if [ "${MMIO_GUEST_KEEP:-0}" = 1 ]; then
	rm -rf "$out.d"
	mv "$root" "$out.d"
fi
echo "mkinitramfs: $out ($(($(stat -c %s "$out") / 1024)) KiB; ${installed[*]}; policy $(basename "$policy"))"
