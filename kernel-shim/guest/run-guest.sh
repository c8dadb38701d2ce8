#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Boot the QEMU guest with one scenario and report it. `run-guest.sh --help`
# prints the manual (the usage() text below); docs/GUEST.md has the rest.
set -euo pipefail
shopt -s lastpipe # the console reader's variables survive the pipeline
export LC_ALL=C   # EPOCHREALTIME with a '.'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

die() { echo "run-guest: $*" >&2; exit 1; }
# usage: the manual on stdout (--help, status 0); usage 2: a hint on stderr.
usage() {
	if [ "${1:-2}" != 0 ]; then
		echo "Usage: run-guest.sh [OPTION]... SCENARIO (run-guest.sh --help for more)" >&2
		exit 2
	fi
	cat <<'EOF'
Usage: run-guest.sh [OPTION]... SCENARIO

Boot a QEMU guest (TCG) with busybox, mmio-server started at boot and the
build's programs, run one scenario in it as root, print the scenario's
output and exit with its status.

SCENARIO is a name under kernel-shim/guest/scenarios/ (devices, bench, demo,
smoke, devmem-probe, windows), or the path of a scenario file of your own (any
file, a name ending in .sh: ./my-test.sh, /tmp/probe.sh). A file's name
without .sh becomes its scenario name, which must be [A-Za-z0-9_.-]+.

Options:
  --build DIR     the build tree to take the binaries from (default build/gcc)
  --out DIR       where the initramfs (SCENARIO.cpio.gz), the console log
                  (SCENARIO.log) and the artifacts (artifacts/SCENARIO/) go
                  (default BUILD/guest)
  --policy FILE   the policy the server starts with; default
                  $MMIO_GUEST_POLICY, else kernel-shim/guest/SCENARIO-policy.yaml
                  if it exists, else config/examples/qemu-guest.yaml
  --device SPEC   add `-device SPEC` to QEMU's command line (repeatable),
                  e.g. --device pci-testdev,addr=07.0
  --extra PATH    copy a directory's contents (or a file) to /opt/extra in the
                  guest, with the shared libraries of the programs in it
                  (repeatable)
  --append ARGS   add kernel parameters (a scenario reads /proc/cmdline)
  --timeout SEC   kill QEMU after SEC seconds (default 120; status 124)
  --smp N         N vCPUs, 1 to 8 (default 1); with more than one, mmio-server
                  gets the last vCPU and everything else the others
  --keep          keep the initramfs tree as OUT/SCENARIO.cpio.gz.d/
  -h, --help      print this and exit

The guest: QEMU `-machine pc -vga none -nographic`, 512 MiB, the newest
/boot/vmlinuz-* (or $MMIO_GUEST_KERNEL), devices edu at 0000:00:04.0,
ivshmem-plain (64 MiB) at 0000:00:05.0 and bochs-display at 0000:00:06.0,
then the --device ones. $MMIO_GUEST_QEMU names the QEMU binary (default
qemu-system-x86_64). Users: root, driver (uid/gid 1000, the one the stock
policy grants devices), stranger (1001, granted nothing), starter (1002)
and reader (1003), who share edu's factorial register. Needs root on
Debian (to read /boot/vmlinuz-*), qemu-system-x86, busybox-static,
linux-image-amd64 and cpio (scripts/deps.sh installs them).

A scenario is a busybox sh script run as root; its output lines appear
here prefixed "mmio-guest: ". It may source /usr/share/mmio-guest/lib.sh:
  check DESC CMD [ARG]...   run CMD, print "ok: DESC" or "FAIL: DESC", count failures
  fail MESSAGE              count a failure found by the scenario itself
  expect_eq DESC GOT WANT   compare two strings (hex case-insensitive)
  as_driver CMD [ARG]...    run CMD as uid 1000; as_user USER CMD... as USER
  pci_bar_phys BDF BAR      a BAR's physical address (for busybox devmem)
  cmdline_args KEY          KEY's value from --append KEY=A;B, as "A B"
  screendump NAME           save the display as artifact NAME (NAME.png: PNG,
                            else PPM); returns once the host has it
  server_stopping           say that stopping mmio-server is intended
  finish                    exit with the number of failures (0: passed)
A line "@NAME TEXT" the scenario prints is appended to OUT/artifacts/
SCENARIO/NAME on the host instead of being shown. $MMIO_SERVER names the
server's socket; the --extra files are under /opt/extra.

Exit status: the scenario's; 124 on timeout; 1 if no "mmio-guest: exit N"
line came (QEMU or the guest failed); 2 for bad usage.
EOF
	exit 0
}

build=$src/build/gcc
out=
timeout=120
keep=0
policy=${MMIO_GUEST_POLICY:-}
extras=()
devices=()
append=
smp=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--policy) [ $# -ge 2 ] || usage; policy=$2; shift 2 ;;
	--device) [[ $# -ge 2 && -n $2 ]] || usage; devices+=(-device "$2"); shift 2 ;;
	--extra) [ $# -ge 2 ] || usage; extras+=("$2"); shift 2 ;;
	--append) [ $# -ge 2 ] || usage; append=$2; shift 2 ;;
	--smp) [[ $# -ge 2 && $2 =~ ^[1-8]$ ]] || usage; smp=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || usage
# A name under scenarios/, or a file anywhere (a name with a '/' or ending
# in .sh); the guest runs it as /scenarios/NAME.sh either way.
if [[ $1 == */* || $1 == *.sh ]]; then
	scenario_file=$1
	[ -f "$scenario_file" ] || die "no scenario file $scenario_file"
	scenario=$(basename "$scenario_file" .sh)
else
	scenario=$1
	scenario_file=$here/scenarios/$scenario.sh
fi
case $scenario in
'' | *[!A-Za-z0-9_.-]* | .*) die "bad scenario name '$scenario' (wants [A-Za-z0-9_.-]+)" ;;
esac
[ -f "$scenario_file" ] || die "no scenario $scenario_file"
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
out=${out:-$build/guest}
mkdir -p "$out" || die "cannot create --out $out"
out=$(cd "$out" && pwd)
initrd=$out/$scenario.cpio.gz
log=$out/$scenario.log
# Files a scenario sends back ("mmio-guest: @NAME line" on the console).
artifacts=$out/artifacts/$scenario
rm -rf "$artifacts"
mkdir -p "$artifacts"

# mkinitramfs.sh installs the stock scenarios itself; a file of the user's
# is passed on (it replaces a stock one of the same name).
own_scenario=()
[ "$scenario_file" -ef "$here/scenarios/$scenario.sh" ] || own_scenario=(--scenario "$scenario_file")
MMIO_GUEST_KEEP=$keep "$here/mkinitramfs.sh" --policy "$policy" "${own_scenario[@]}" \
	"$build" "$initrd" "${extras[@]}"

cmdline="console=ttyS0 quiet panic=-1 mmio.scenario=$scenario${append:+ $append}"
# The host's side of two channels: QMP (QEMU's monitor protocol) on a pipe
# pair, for the screendumps a scenario asks for, and the guest's console
# input (QEMU's stdin is its serial port), for the answers. Opened read-write
# so that neither end blocks QEMU's open or ours.
chan=$(mktemp -d "$out/.chan.XXXXXX")
trap 'rm -rf "$chan"' EXIT
mkfifo "$chan/qmp.in" "$chan/qmp.out" "$chan/console"
exec {qmp_w}<>"$chan/qmp.in" {qmp_r}<>"$chan/qmp.out" {console_w}<>"$chan/console"
# -net none: no NIC (nothing needs one, and it saves its option ROM).
# -vga none: bochs-display has the standard VGA's PCI ID (1234:1111); with
# no VGA it is the only display, the one screendump saves.
# shellcheck disable=SC2054 # the commas are QEMU option syntax
qemu_cmd=(
	"$qemu" -machine pc -cpu max -m 512M -smp "$smp" -nographic -vga none -no-reboot -net none
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
	-chardev "pipe,id=qmp,path=$chan/qmp" -mon chardev=qmp,mode=control
	-device edu,addr=04.0
	-object memory-backend-memfd,id=shm,size=64M,share=on
	-device ivshmem-plain,memdev=shm,addr=05.0
	-device bochs-display,addr=06.0
	"${devices[@]}"
)
echo "run-guest: ${qemu_cmd[*]}"

usecs() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
secs() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

# qmp JSON: run one QMP command; 0 if it returned, 1 on an error or no
# answer within 30 s (the reply line is in $qmp_reply). The greeting and
# the capabilities handshake happen on the first call; events are skipped.
qmp_ready=0
qmp_reply=
qmp() {
	if [ "$qmp_ready" = 0 ]; then
		read -r -t 30 -u "$qmp_r" qmp_reply || return 1 # the greeting
		qmp_ready=1
		qmp '{"execute":"qmp_capabilities"}' || return 1
	fi
	printf '%s\n' "$1" >&"$qmp_w"
	while read -r -t 30 -u "$qmp_r" qmp_reply; do
		case $qmp_reply in
		'{"return"'*) return 0 ;;
		'{"error"'*) return 1 ;;
		esac
	done
	return 1
}

# screendump NAME: save the display as artifact NAME (PNG if it ends in
# .png, which needs QEMU 7.1 or later; else PPM, QEMU's default) and tell
# the guest's lib.sh screendump how it went.
screendump() {
	local name=$1 format='' result=ok
	[[ $name == *.png ]] && format=',"format":"png"'
	if ! qmp "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"$artifacts/$name\"$format}}"; then
		echo "run-guest: screendump $name failed: $qmp_reply" >&2
		result=failed
	fi
	printf 'screendump %s %s\n' "$name" "$result" >&"$console_w"
}

start=$(usecs)
first=
status=
: >"$log"
set +e
# timeout(1) kills QEMU (then SIGKILL 5 s later); the reader keeps the log.
timeout -k 5 "$timeout" "${qemu_cmd[@]}" <&"$console_w" {qmp_w}>&- {qmp_r}<&- 2>&1 |
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
			# "%screendump NAME": lib.sh's screendump asks for the display.
			if [[ $msg =~ ^mmio-guest:\ %screendump\ ([A-Za-z0-9_-][A-Za-z0-9._-]*)$ ]]; then
				screendump "${BASH_REMATCH[1]}"
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
