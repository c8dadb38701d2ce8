#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Prove the independent oracle of the guest tests: /dev/mem (busybox devmem)
# reaches the emulated devices' BARs. Prints the BAR physical addresses,
# reads edu's ID register (0x010000ED), checks edu's liveness register
# (reads back the complement of what was written) and a store/load on
# ivshmem's shared memory. DESIGN.md §4: /dev/mem is subject to
# STRICT_DEVMEM; the Debian kernel has IO_STRICT_DEVMEM, which refuses only
# ranges a driver has claimed, and edu/ivshmem have no driver here.
. /usr/share/mmio-guest/lib.sh

edu=0000:00:04.0
shm=0000:00:05.0
edu_bar0=$(pci_bar_phys $edu 0)
shm_bar2=$(pci_bar_phys $shm 2)
echo "edu $edu BAR0 $edu_bar0 ($(sed -n 1p /sys/bus/pci/devices/$edu/resource))"
echo "ivshmem $shm BAR2 $shm_bar2 ($(sed -n 3p /sys/bus/pci/devices/$shm/resource))"
echo "cmdline: $(cat /proc/cmdline)"
echo "lockdown: $(cat /sys/kernel/security/lockdown 2>/dev/null || echo 'n/a (securityfs not mounted)')"
grep -i -e 'edu\|ivshmem\|0000:00:0[45]' /proc/iomem | sed 's/^/iomem: /'

if [ -z "$edu_bar0" ] || [ $((edu_bar0)) -eq 0 ]; then
	fail "edu BAR0 is not assigned"
	finish
fi

expect_eq "devmem edu ID (BAR0+0x0)" "$(devmem $((edu_bar0)) 32)" 0x010000ED

# Liveness check register (0x04): reads back ~value.
devmem $((edu_bar0 + 4)) 32 0x12345678
expect_eq "devmem edu liveness (~0x12345678)" "$(devmem $((edu_bar0 + 4)) 32)" 0xEDCBA987

# ivshmem BAR2 is RAM: what is stored is what is loaded.
if [ -n "$shm_bar2" ] && [ $((shm_bar2)) -ne 0 ]; then
	devmem $((shm_bar2 + 0x100)) 32 0xA5A55A5A
	expect_eq "devmem ivshmem BAR2+0x100 store/load" "$(devmem $((shm_bar2 + 0x100)) 32)" 0xA5A55A5A
else
	fail "ivshmem BAR2 is not assigned"
fi

# Once the server has a pci backend and an "edu" region, the same register
# through mmio must agree with the oracle (informational until then).
if mmioctl list 2>/dev/null | grep -q '^edu '; then
	expect_eq "mmioctl read edu 0 (root)" "$(mmioctl read edu 0 32)" 0x010000ED
else
	echo "note: no edu region served (policy $(sed -n 's/^policy //p' /etc/mmio/guest-manifest)); oracle only"
fi

finish
