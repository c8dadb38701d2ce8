#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Prove the independent oracle of the guest tests: /dev/mem (busybox devmem)
# reaches the emulated devices' BARs. Prints the BAR physical addresses,
# reads edu's ID register (0x010000ED), checks edu's liveness register
# (reads back the complement of what was written) and a store/load on
# ivshmem's shared memory. /dev/mem is subject to
# STRICT_DEVMEM; the Debian kernel has IO_STRICT_DEVMEM, which refuses only
# ranges a driver has claimed, and edu/ivshmem have no driver here, so no
# iomem=relaxed is needed.
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

edu=0000:00:04.0
shm=0000:00:05.0
edu_bar0=$(pci_bar_phys $edu 0)
shm_bar2=$(pci_bar_phys $shm 2)
echo "edu $edu BAR0 $edu_bar0 ($(sed -n 1p /sys/bus/pci/devices/$edu/resource))"
echo "ivshmem $shm BAR2 $shm_bar2 ($(sed -n 3p /sys/bus/pci/devices/$shm/resource))"
echo "cmdline: $(cat /proc/cmdline)"
echo "lockdown: $(cat /sys/kernel/security/lockdown 2>/dev/null || echo 'n/a')"
grep -e '0000:00:0[45]' /proc/iomem | sed 's/^ */iomem: /'

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

# The same registers through mmio-server (config/examples/qemu-guest.yaml
# grants edu to uid 1000) must agree with the oracle. Skipped when the
# policy has no edu region (e.g. --policy smoke-policy.yaml).
if as_driver mmioctl list 2>/dev/null | grep -q '^edu '; then
	expect_eq "mmioctl read edu 0x0 (uid 1000)" "$(as_driver mmioctl read edu 0x0 32)" 0x010000ED
	check "mmioctl write edu 0x4 (uid 1000)" as_driver mmioctl write edu 0x4 32 0x0000FFFF
	expect_eq "devmem edu liveness after mmioctl write" "$(devmem $((edu_bar0 + 4)) 32)" 0xFFFF0000
else
	echo "note: no edu region for uid 1000 (policy $(sed -n 's/^policy //p' /etc/mmio/guest-manifest)); oracle only"
fi

finish
