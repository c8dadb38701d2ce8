#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The guest tests of real devices (CTest guest_devices), all as uid 1000
# (driver) against the stock guest policy, with /dev/mem (busybox devmem,
# root) as the independent oracle:
#  1. edu: mmio-edu-driver proxied and direct (ID, liveness, factorials by
#     poll and by batch); devmem sees the ID it reports and the liveness
#     value it leaves;
#  2. ivshmem: a 1 MiB pattern written proxied and read back direct, and
#     another written direct and read back proxied, byte-exact; devmem reads
#     the same 32-bit words at the BAR's physical address;
#  3. a uid without a grant (stranger, 1001) is refused, and mapping fails;
#  4. register rules: starter (1002) may only start factorials (write edu
#     0x08), reader (1003) may only read the result (read 0x08); each is
#     refused the other's access, and devmem sees a refused write never
#     reach the device.
#  5. bochs-display: mmio-bochs-driver sets a mode and draws its pattern,
#     proxied and then direct (mirrored); after each the host saves the
#     screen (display-MODE.ppm) and the pixels the driver says it drew
#     (display-MODE.samples), which the CTest guest_display compares
#     (kernel-shim/guest/check-screendump.sh). mmio.bochs_args=OPT;OPT on
#     the kernel command line adds driver options (--no-draw).
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

edu=0000:00:04.0
shm=0000:00:05.0
edu_bar0=$(pci_bar_phys $edu 0)
shm_bar2=$(pci_bar_phys $shm 2)
echo "edu BAR0 at $edu_bar0, ivshmem BAR2 at $shm_bar2"

# ---- 1. edu ----
for mode in --proxied --direct; do
	check "mmio-edu-driver $mode as uid 1000" as_driver mmio-edu-driver $mode
done
expect_eq "devmem edu ID" "$(devmem $((edu_bar0)) 32)" 0x010000ED
check "mmioctl -d write edu liveness" as_driver mmioctl -d write edu 0x4 32 0x0F0F1234
expect_eq "devmem edu liveness after the direct write" "$(devmem $((edu_bar0 + 4)) 32)" 0xF0F0EDCB
check "mmioctl write edu liveness (proxied)" as_driver mmioctl write edu 0x4 32 0x00C0FFEE
expect_eq "devmem edu liveness after the proxied write" "$(devmem $((edu_bar0 + 4)) 32)" 0xFF3F0011

# ---- 2. ivshmem bulk round trips ----
size=1048576
dd if=/dev/urandom of=/tmp/pat-a bs=4096 count=256 2>/dev/null
dd if=/dev/urandom of=/tmp/pat-b bs=4096 count=256 2>/dev/null
chmod 0644 /tmp/pat-a /tmp/pat-b

# word OFFSET FILE: the 32-bit little-endian word at OFFSET of FILE, as 0xXXXXXXXX.
word() {
	printf '0x%08X\n' "0x$(od -An -tx4 -j "$1" -N 4 "$2" | tr -d ' ')"
}

roundtrip() { # DESCRIPTION WRITE-FLAGS READ-FLAGS OFFSET FILE
	rm -f /tmp/back
	# shellcheck disable=SC2086 # the flags are one word or none
	if as_driver mmioctl $2 load shm "$4" "$5" &&
		as_driver mmioctl $3 save shm "$4" $size /tmp/back &&
		cmp "$5" /tmp/back; then
		echo "ok: $1: $size bytes at $4 byte-exact"
	else
		fail "$1: round trip at $4 differs or failed"
	fi
	for o in 0 4 0x1000 0x7FFFC 0xFFFFC; do
		expect_eq "devmem ivshmem BAR2+$4+$o" "$(devmem $((shm_bar2 + $4 + o)) 32)" \
			"$(word $((o)) "$5")"
	done
}
roundtrip "written proxied, read direct" "" -d 0x10000 /tmp/pat-a
roundtrip "written direct, read proxied" -d "" 0x200000 /tmp/pat-b

# ---- 3. a uid without a grant ----
out=$(as_user stranger mmioctl read edu 0x0 32 2>&1)
rc=$?
echo "stranger: $out"
# The server closes a stranger's connections at the handshake; libmmio
# says why, at once.
if [ $rc -eq 1 ] && echo "$out" | grep -q "MMIO_EACCES" &&
	echo "$out" | grep -q "uid 1001 at once: the server's policy grants this account nothing"; then
	echo "ok: uid 1001 is refused at the door (MMIO_EACCES, exit 1, the reason named)"
else
	fail "uid 1001 got exit $rc for edu: $out"
fi
out=$(as_user stranger mmioctl -d save shm 0 16 - 2>&1)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q MMIO_EACCES; then
	echo "ok: uid 1001 is refused a mapping of shm"
else
	fail "uid 1001 got exit $rc for a mapping of shm: $out"
fi
if as_user stranger mmio-edu-driver >/dev/null 2>&1; then
	fail "mmio-edu-driver ran for uid 1001"
else
	echo "ok: mmio-edu-driver fails for uid 1001"
fi
# ---- 4. two uids, complementary register rules on edu ----
# refused DESCRIPTION USER CMD...: CMD as USER must fail with MMIO_EACCES.
refused() {
	_d=$1
	shift
	_out=$(as_user "$@" 2>&1)
	_rc=$?
	if [ $_rc -eq 1 ] && echo "$_out" | grep -q MMIO_EACCES; then
		echo "ok: $_d is refused (MMIO_EACCES)"
	else
		fail "$_d: exit $_rc: $_out"
	fi
}
check "starter starts 5! (write edu 0x08)" as_user starter mmioctl write edu 0x8 32 5
# edu computes in a thread of its own: wait for the result (bounded).
i=0
while got=$(as_user reader mmioctl read edu 0x8 32 2>&1) &&
	[ "$(echo "$got" | tr A-F a-f)" != 0x00000078 ] && [ $i -lt 50 ]; do
	i=$((i + 1))
	sleep 0.1
done
expect_eq "reader reads 5! (read edu 0x08)" "$got" 0x00000078
refused "starter reading the result" starter mmioctl read edu 0x8 32
refused "reader starting a factorial" reader mmioctl write edu 0x8 32 3
refused "starter writing liveness (0x04)" starter mmioctl write edu 0x4 32 1
refused "reader reading the ID (0x00)" reader mmioctl read edu 0x0 32
refused "reader reading status (0x20)" reader mmioctl read edu 0x20 32
refused "starter mapping edu" starter mmioctl -d read edu 0x8 32
expect_eq "devmem edu factorial after the refused write" "$(devmem $((edu_bar0 + 8)) 32)" 0x00000078
# ---- 5. bochs-display: a picture for the host to check ----
bochs_args=$(cmdline_args mmio.bochs_args)
for run in "proxied --proxied" "direct --direct --mirror"; do
	name=display-${run%% *}
	# shellcheck disable=SC2086 # the options are a list of words
	as_driver mmio-bochs-driver ${run#* } $bochs_args >/tmp/bochs.out 2>&1
	rc=$?
	grep -v '^sample ' /tmp/bochs.out
	if [ $rc -eq 0 ]; then
		echo "ok: mmio-bochs-driver ${run#* }"
	else
		fail "mmio-bochs-driver ${run#* } exited $rc"
	fi
	sed -n "s/^sample /@$name.samples /p" /tmp/bochs.out
	check "screendump $name.ppm" screendump "$name.ppm"
done

echo "server: $(mmioctl stats | tr '\n' ' ')"

finish
