#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Smoke test of the guest: the server answers root and uid 1000, and the
# emulated PCI devices are where run-guest.sh put them (edu at 00:04.0,
# ivshmem at 00:05.0, bochs-display at 00:06.0 and no standard VGA: -vga
# none, so that the display's ID 1234:1111 names one function). Runs with
# kernel-shim/guest/smoke-policy.yaml (one sim region, "scratch"), so that
# it tests the guest itself, not the pci backend (the devices scenario does).
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

echo "# as root: $(id)"
list=$(mmioctl list) || fail "mmioctl list (root) exits $?"
echo "$list"
check "root sees scratch" grep -q '^scratch ' <<EOT
$list
EOT
echo "# as driver: $(as_driver id)"
check "as_driver runs as uid 1000" test "$(as_driver id -u)" = 1000
check "as_driver keeps arguments" test "$(as_driver printf '%s|' 'a  b' -c)" = 'a  b|-c|'
list=$(as_driver mmioctl list) || fail "mmioctl list (uid 1000) exits $?"
echo "$list"
check "uid 1000 sees scratch" grep -q '^scratch ' <<EOT
$list
EOT
check "write32 scratch (uid 1000)" as_driver mmioctl write scratch 0x10 32 0xC0FFEE11
expect_eq "read32 scratch (root)" "$(mmioctl read scratch 0x10 32)" 0xC0FFEE11

# lspci-like: BDF vendor:device class.
echo "# PCI functions"
for d in /sys/bus/pci/devices/*; do
	v=$(cat "$d/vendor") dev=$(cat "$d/device") c=$(cat "$d/class")
	echo "${d##*/} ${v#0x}:${dev#0x} class ${c#0x}"
done
id_of() { echo "$(cut -c3- "/sys/bus/pci/devices/$1/vendor"):$(cut -c3- "/sys/bus/pci/devices/$1/device")"; }
expect_eq "edu at 0000:00:04.0" "$(id_of 0000:00:04.0 2>/dev/null)" 1234:11e8
expect_eq "ivshmem at 0000:00:05.0" "$(id_of 0000:00:05.0 2>/dev/null)" 1af4:1110
expect_eq "bochs-display at 0000:00:06.0" "$(id_of 0000:00:06.0 2>/dev/null)" 1234:1111
check "no standard VGA at 0000:00:02.0" test ! -e /sys/bus/pci/devices/0000:00:02.0
check "edu resource0 exists" test -e /sys/bus/pci/devices/0000:00:04.0/resource0
check "ivshmem resource2 exists" test -e /sys/bus/pci/devices/0000:00:05.0/resource2

finish
