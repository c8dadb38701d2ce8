# SPDX-License-Identifier: MIT
#
# Shell library of the guest's scenarios (busybox sh), installed as
# /usr/share/mmio-guest/lib.sh. Source it, call check/as_driver, end with
# `finish`. /init prefixes every output line with "mmio-guest: ".

failures=0

# as_driver CMD [ARG...]: run CMD as uid/gid 1000 (user driver), its
# arguments passed as they are (never re-split or re-quoted). This busybox's
# setpriv cannot change uids and it has no chpst, so it is su: as root,
# busybox su asks no password. su also sets HOME/USER/LOGNAME and the
# supplementary groups from /etc/group; the rest of the environment (PATH,
# MMIO_SERVER) is kept.
as_driver() {
	as_user driver "$@"
}

# as_user USER CMD [ARG...]: the same for any user of /etc/passwd
# (driver 1000, stranger 1001: a uid the policy grants nothing).
as_user() {
	_user=$1
	shift
	# '--': busybox su would otherwise take CMD's options (id -u) as its own.
	# shellcheck disable=SC2016 # expanded by the user's shell
	su -s /bin/sh -c 'exec "$0" "$@"' -- "$_user" "$@"
}

# check DESCRIPTION CMD [ARG...]: run CMD, print its output and "ok:" or
# "FAIL:" with the description; count failures.
check() {
	_desc=$1
	shift
	if "$@"; then
		echo "ok: $_desc"
	else
		echo "FAIL: $_desc (status $?)"
		failures=$((failures + 1))
	fi
}

# fail MESSAGE: record a failure found by the scenario's own logic.
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_eq DESCRIPTION GOT WANT: compare two strings (case-insensitive, for
# hex numbers printed by different tools).
expect_eq() {
	_g=$(echo "$2" | tr 'A-F' 'a-f')
	_w=$(echo "$3" | tr 'A-F' 'a-f')
	if [ "$_g" = "$_w" ]; then
		echo "ok: $1 = $2"
	else
		fail "$1 = '$2', want '$3'"
	fi
}

# cmdline_args KEY: the value of KEY=VALUE on the kernel command line
# (run-guest.sh --append), semicolons turned into spaces: options for a
# program, e.g. mmio.bench_args=--sizes=64,1M;--round-ms=300. Empty if absent.
cmdline_args() {
	# shellcheck disable=SC2013 # the command line is one line of words
	for _arg in $(cat /proc/cmdline); do
		case $_arg in
		"$1"=*) echo "${_arg#"$1"=}" | tr ';' ' ' ;;
		esac
	done
}

# pci_bar_phys BDF BAR: the physical start address of a BAR (sysfs
# "resource" has one "start end flags" line per BAR, BAR N on line N+1).
pci_bar_phys() {
	sed -n "$(($2 + 1))p" "/sys/bus/pci/devices/$1/resource" | cut -d' ' -f1
}

# screendump NAME: have the host save the display (bochs-display) as
# artifact NAME (NAME.png: PNG, else PPM) and wait until it has; 0 if it
# did. The request is the console line "%screendump NAME"; run-guest.sh
# takes the picture through QMP and answers on the console's input.
screendump() {
	echo "%screendump $1"
	_ans=
	# shellcheck disable=SC3045 # busybox sh's read has -t
	read -r -t 60 _ans </dev/console || true
	case $_ans in
	"screendump $1 ok") return 0 ;;
	*) echo "screendump $1: the host answered '$_ans'"; return 1 ;;
	esac
}

# server_stopping: call before stopping mmio-server on purpose, so /init
# does not report it as a crash.
server_stopping() {
	: >/run/mmio/server-stopped
}

# finish: exit with the number of failures (0 = pass), capped for exit.
finish() {
	if [ "$failures" -eq 0 ]; then
		echo "all checks passed"
		exit 0
	fi
	echo "$failures check(s) failed"
	[ "$failures" -lt 100 ] || failures=99
	exit "$failures"
}
