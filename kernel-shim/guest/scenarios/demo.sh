#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The main job's guest part (scripts/demo.sh): the server started at boot
# on real emulated devices, the edu driver as an ordinary user, proxied and
# then direct, the bochs-display driver drawing a test pattern (the host
# saves the screen as display.png), and mmio-bench (bench.sh) with its
# table, JSON and plot.
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

echo "\$ mmioctl list        # as uid 1000: what the policy grants the driver"
as_driver mmioctl list
for mode in --proxied --direct; do
	echo "\$ mmio-edu-driver $mode        # client/examples/edu/edu-driver.c, as uid 1000"
	check "edu driver $mode" as_driver mmio-edu-driver $mode
done
echo "\$ mmio-bochs-driver --direct    # client/examples/bochs/bochs-driver.c, as uid 1000"
check "bochs-display driver" as_driver mmio-bochs-driver --direct
check "the host saved the screen as display.png" screendump display.png
echo "\$ mmioctl read edu 0x0 32    # as uid 1001, who has no grant"
as_user stranger mmioctl read edu 0x0 32 || true
echo "\$ mmio-bench --region shm --once-region edu    # as uid 1000"
# bench.sh ends the scenario (finish), counting the checks above too.
. /scenarios/bench.sh
