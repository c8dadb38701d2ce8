#!/bin/sh
# SPDX-License-Identifier: MIT
#
# mmio-bench on real emulated devices, as uid 1000 (driver): once-ops on
# edu's registers, bulk copies on ivshmem's 64 MiB BAR, proxied and direct,
# with baselines measured in the same run. The table goes to the console;
# the JSON and the SVG plot come back to the host as artifacts
# (run-guest.sh writes them to BUILD/guest/artifacts/).
# The kernel command line's mmio.bench_args=... adds options, semicolons
# for spaces, e.g. mmio.bench_args=--sizes=64,1M;--round-ms=300.
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

extra=$(cmdline_args mmio.bench_args)

cd /tmp || exit 1
# shellcheck disable=SC2086 # extra is a list of options
check "mmio-bench as uid 1000" as_driver mmio-bench --region shm --once-region edu --irq edu \
	--json /tmp/bench.json --svg /tmp/bench.svg \
	--title "mmio-bench under QEMU (TCG): ivshmem-plain BAR2, vCPUs: $(nproc --all)" $extra
# A window against the sysfs mapping of the same BAR, in one run (root:
# it makes its own windows): edu's read32, ivshmem's copies.
if [ -c /dev/mmio-window ]; then
	check "mmio-window-bench" mmio-window-bench 0000:00:04.0 0 0000:00:05.0 2
else
	echo "no /dev/mmio-window: mmio-window-bench not run"
fi
for f in bench.json bench.svg; do
	[ -s "/tmp/$f" ] || { fail "no /tmp/$f"; continue; }
	sed "s/^/@$f /" "/tmp/$f"
done
finish
