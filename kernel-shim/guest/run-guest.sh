#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Boot the QEMU guest with one scenario and report it.
#
#   run-guest.sh [--build DIR] [--timeout SEC] [--keep] [--policy FILE]
#                [--extra DIR]... [--append ARGS] [--smp N] SCENARIO
#
# Builds DIR/guest/SCENARIO.cpio.gz (mkinitramfs.sh) from the build tree DIR
# (default build/gcc), boots the newest /boot/vmlinuz-* (or $MMIO_GUEST_KERNEL)
# with edu at 0000:00:04.0 and ivshmem-plain (64 MiB) at 0000:00:05.0, saves
# the console to DIR/guest/SCENARIO.log, echoes the "mmio-guest:" lines and
# exits with the scenario's status. Lines "@NAME TEXT" a scenario prints are
# collected into DIR/guest/artifacts/SCENARIO/NAME instead. Timeout (default 120 s) or no
# "mmio-guest: exit N" line is a failure (status 124 / 1).
#
# Policy: --policy FILE, else $MMIO_GUEST_POLICY, else
# kernel-shim/guest/SCENARIO-policy.yaml if it exists, else
# config/examples/qemu-guest.yaml. --extra DIR goes to /opt/extra (repeat for
# more); --append adds kernel parameters; --keep keeps the initramfs tree in
# DIR/guest/SCENARIO.cpio.gz.d/. --smp N boots N vCPUs (default 1); with
# more than one, /init gives mmio-server the last vCPU and the scenario the
# others. Needs qemu-system-x86, busybox-static,
# linux-image-amd64, cpio; reading /boot/vmlinuz-* needs root on Debian.
set -euo pipefail
shopt -s lastpipe # the console reader's variables survive the pipeline
export LC_ALL=C   # EPOCHREALTIME with a '.'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

die() { echo "run-guest: $*" >&2; exit 1; }
usage() { sed -n '/^#   run-guest/,/^# linux-image/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

build=$src/build/gcc
timeout=120
keep=0
policy=${MMIO_GUEST_POLICY:-}
extras=()
append=
smp=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--policy) [ $# -ge 2 ] || usage; policy=$2; shift 2 ;;
	--extra) [ $# -ge 2 ] || usage; extras+=("$2"); shift 2 ;;
	--append) [ $# -ge 2 ] || usage; append=$2; shift 2 ;;
	--smp) [[ $# -ge 2 && $2 =~ ^[1-8]$ ]] || usage; smp=$2; shift 2 ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || usage
scenario=$1
case $scenario in
'' | *[!A-Za-z0-9_.-]* | .*) die "bad scenario name '$scenario'" ;;
esac
[ -f "$here/scenarios/$scenario.sh" ] || die "no scenario $here/scenarios/$scenario.sh"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout wants whole seconds, not '$timeout'"
if [ -z "$policy" ]; then
	policy=$src/config/examples/qemu-guest.yaml
	[ -f "$here/$scenario-policy.yaml" ] && policy=$here/$scenario-policy.yaml
fi

qemu=${MMIO_GUEST_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || die "no $qemu (apt-get install qemu-system-x86)"
# shellcheck disable=SC2012 # /boot/vmlinuz-VERSION names have no odd characters
kernel=${MMIO_GUEST_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] || die "no /boot/vmlinuz-* (apt-get install linux-image-amd64) and no \$MMIO_GUEST_KERNEL"
[ -r "$kernel" ] || die "cannot read $kernel (Debian installs it mode 0600: run as root)"

[ -d "$build" ] || die "no build directory $build"
build=$(cd "$build" && pwd)
mkdir -p "$build/guest"
initrd=$build/guest/$scenario.cpio.gz
log=$build/guest/$scenario.log
# Files a scenario sends back ("mmio-guest: @NAME line" on the console).
artifacts=$build/guest/artifacts/$scenario
rm -rf "$artifacts"
mkdir -p "$artifacts"

MMIO_GUEST_KEEP=$keep "$here/mkinitramfs.sh" --policy "$policy" "$build" "$initrd" "${extras[@]}"

cmdline="console=ttyS0 quiet panic=-1 mmio.scenario=$scenario${append:+ $append}"
# -net none: no NIC (nothing needs one, and it saves its option ROM).
# shellcheck disable=SC2054 # the commas are QEMU option syntax
qemu_cmd=(
	"$qemu" -machine pc -cpu max -m 512M -smp "$smp" -nographic -no-reboot -net none
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
	-device edu,addr=04.0
	-object memory-backend-memfd,id=shm,size=64M,share=on
	-device ivshmem-plain,memdev=shm,addr=05.0
)
echo "run-guest: ${qemu_cmd[*]}"

usecs() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
secs() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

start=$(usecs)
first=
status=
: >"$log"
set +e
# timeout(1) kills QEMU (then SIGKILL 5 s later); the reader keeps the log.
timeout -k 5 "$timeout" "${qemu_cmd[@]}" </dev/null 2>&1 |
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line//$'\r'/}
		printf '%s\n' "$line" >>"$log"
		case $line in
		*'mmio-guest: '*)
			[ -n "$first" ] || first=$(usecs)
			msg=mmio-guest:\ ${line#*mmio-guest: }
			# "@NAME TEXT": a line of artifact NAME, for the host.
			if [[ $msg =~ ^mmio-guest:\ @([A-Za-z0-9._-]+)\ (.*)$ ]]; then
				printf '%s\n' "${BASH_REMATCH[2]}" >>"$artifacts/${BASH_REMATCH[1]}"
				continue
			fi
			echo "$msg"
			if [[ $msg =~ ^mmio-guest:\ exit\ ([0-9]+)$ ]]; then
				status=${BASH_REMATCH[1]}
			fi
			;;
		esac
	done
qemu_rc=${PIPESTATUS[0]}
set -e
end=$(usecs)

times="total $(secs $((end - start))) s"
[ -z "$first" ] || times="boot $(secs $((first - start))) s, $times"

if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	echo "run-guest: TIMEOUT: $scenario did not finish in $timeout s (QEMU killed); last 30 console lines:" >&2
	tail -n 30 "$log" >&2
	echo "run-guest: $scenario: timeout ($times; log $log)" >&2
	exit 124
fi
if [ -z "$status" ]; then
	echo "run-guest: no 'mmio-guest: exit N' line (QEMU status $qemu_rc); last 30 console lines:" >&2
	tail -n 30 "$log" >&2
	echo "run-guest: $scenario: FAILED ($times; log $log)" >&2
	exit 1
fi
if [ "$status" -eq 0 ]; then
	echo "run-guest: $scenario: passed ($times; log $log)"
else
	echo "run-guest: $scenario: FAILED with status $status ($times; log $log)" >&2
fi
exit "$status"
