#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Direct windows: the mmio-window kernel module (kernel-shim/module) in the
# guest (CTest guest_windows, one boot). Booted with two pci-testdev
# functions besides the stock devices: 00:07.0, a spare that nobody maps
# (cache types are checked where no other reservation lies), and 00:08.0,
# which gets uio_pci_generic bound (a window on it must be refused).
# Sections, in this order because lockdown cannot be undone:
#  1. the module: /init loaded it, /dev/mmio-window is there, the kernel
#     is tainted O and E as documented;
#  2. module-level checks (mmio-window-test, as root): edu's ident through
#     a one-page window; no byte past the window's pages; MAP_PRIVATE and
#     writes to a read-only window refused; revoke faults the process and
#     a forked child; REVOKE idempotent and after the descriptor closed;
#     closing the control descriptor, a driver binding to the function and
#     its removal revoke; RAM, claimed ranges, a bound driver and malformed
#     or random requests refused; no read succeeds after a revoke that
#     raced faulting threads; exact cache types checked in
#     pat_memtype_list; uid 1000 and a root without CAP_SYS_RAWIO refused;
#     rmmod refused while a window exists; then the module's interrupts
#     (mmio-irq-test): edu's factorial interrupts counted exactly, the
#     descriptor readable for each; one holder per function; IRQ_REVOKE,
#     the control's close and a driver binding revoke and wake a reader;
#     a holder that never acknowledges gets one interrupt, not a storm;
#     the descriptor works passed to uid 1000; malformed requests refused;
#  3. server-level checks (mmio-window-revoke, as root with a uid 1000
#     child): one page of edu is direct and revocable for uid 1000; a reader
#     thread sees MMIO_EREVOKED then proxied success when a reload narrows
#     the grant, and MMIO_EREVOKED for good when it is removed; a forked
#     child loses the mapping too; the revocation latency is printed; then
#     edu's interrupt through the server;
#  4. lockdown: every window refused;
#  5. the server killed while a driver waits on an interrupt (MMIO_ECONN);
# and then the kernel log must hold no WARNING, BUG or Oops.
# Each mmio-window-test line is "ok:", "FAIL:" or "SKIP:" (a skip is not a
# pass); its exit status is its number of failures, added to ours.
# shellcheck source=SCRIPTDIR/../lib.sh
. /usr/share/mmio-guest/lib.sh

spare=0000:00:07.0
bound=0000:00:08.0

# wintest CHECK...: run module checks; their failures count as ours.
wintest() {
	mmio-window-test --spare $spare --bound $bound "$@"
	_rc=$?
	if [ $_rc -ne 0 ]; then
		echo "mmio-window-test $*: $_rc failure(s)"
		failures=$((failures + _rc))
	fi
}

# ---- 1. the module ----
if ! check "/dev/mmio-window exists (/init loaded mmio_window.ko)" test -c /dev/mmio-window; then
	fail "no mmio-window module: nothing else here can run"
	# ---- the kernel's view of all of the above ----
dmesg | grep -E 'mmio-window|taint|module verification' | sed 's/^/dmesg: /'
no_kernel_warning() {
	! dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace'
}
check "the kernel logged no WARNING, BUG or Oops" no_kernel_warning

finish
fi
# Taint bits 12 (O: out-of-tree) and 13 (E: unsigned module).
tainted=$(cat /proc/sys/kernel/tainted)
expect_eq "kernel taint O and E after loading the module" $((tainted & 12288)) 12288
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null ||
	echo "debugfs not mounted: the cache-type checks will be skipped"

# A kernel driver on $bound: uio_pci_generic, by driver_override so that no
# other function matches it.
bind_bound() {
	insmod /lib/modules/mmio/uio.ko &&
		insmod /lib/modules/mmio/uio_pci_generic.ko &&
		echo uio_pci_generic >/sys/bus/pci/devices/$bound/driver_override &&
		echo $bound >/sys/bus/pci/drivers_probe &&
		test -e /sys/bus/pci/devices/$bound/driver
}
check "uio_pci_generic bound to $bound" bind_bound

# ---- 2. module-level checks ----
wintest ident bounds private readonly revoke revoke-closed control-close \
	refusals attack race fuzz cache nonroot rmmod rebind remove helper

# irqtest CHECK...: the interrupt checks; their failures count as ours.
irqtest() {
	mmio-irq-test --spare $spare --bound $bound "$@"
	_rc=$?
	if [ $_rc -ne 0 ]; then
		echo "mmio-irq-test $*: $_rc failure(s)"
		failures=$((failures + _rc))
	fi
}
irqtest count refusals busy revoke control-close mask pass nonroot msi rebind

# Interrupts through the server: the policy grants edu-driver (uid 1000)
# op irq on edu; mmio-server hands the module's descriptor over.
irq_out=/tmp/irq.out
irq_err=/tmp/irq.err
# irq_holder COUNT: uid 1000 holds edu's interrupt in the background until
# COUNT interrupts came (its pid in $holder).
irq_holder() {
	as_driver mmioctl irq edu "$1" >$irq_out 2>$irq_err &
	holder=$!
	sleep 1
}
edu_factorial_irq() {
	as_driver mmioctl write edu 0x20 0x80 && as_driver mmioctl write edu 8 5 && sleep 1
}
edu_reset() {
	as_driver mmioctl write edu 0x20 0 && as_driver mmioctl write edu 0x64 0xffffffff
}
edu_driver_irq() {
	_out=$(as_driver mmio-edu-driver --irq 2>&1)
	echo "$_out" | grep -E 'interrupt|FAIL'
	echo "$_out" | grep -q "ok    16 factorials by interrupt, 16 right, 16 interrupts ($1)"
}
stranger_refused() {
	as_user stranger mmioctl irq edu
	[ $? -eq 1 ]
}
# edu has an MSI capability: with the policy's default (irq: auto) the
# server hands out its MSI vector, and says so.
check "mmio-edu-driver --irq as uid 1000: 16 factorials, 16 MSI interrupts" edu_driver_irq MSI
msi_logged() {
	grep "irq: interrupt of edu (MSI, Linux interrupt [0-9]*) to uid 1000" /run/mmio/server.log
}
check "the server logged that it handed out edu's MSI" msi_logged
check "a uid granted nothing cannot hold edu's interrupt" stranger_refused
irq_holder 1
expect_eq "a second holder of edu's interrupt: MMIO_EBUSY" \
	"$(as_driver mmioctl irq edu 2>&1 | grep -o MMIO_EBUSY)" MMIO_EBUSY
busy_logged() {
	grep "refused the interrupt of edu: uid 1000 pid [0-9]* holds it" /run/mmio/server.log
}
check "the server logged who holds it (a rate-limited warning)" busy_logged
check "the held interrupt is edu's MSI vector (/proc/interrupts)" \
	sh -c 'grep mmio-irq /proc/interrupts | grep -q MSI'
edu_factorial_irq
wait $holder
expect_eq "the holder woke for one factorial's interrupt (exit 0, count 1)" \
	"$?:$(cat $irq_out)" "0:1"
edu_reset
# From here on the INTx line, as the region's irq: intx asks (for a device
# whose MSI is broken): the masking checks need a level-triggered line.
sed -i '/pci_id: "1234:11e8"/a\    irq: intx' /etc/mmio/policy.yaml
kill -HUP "$(pidof mmio-server)"
sleep 2
check "with irq: intx, mmio-edu-driver --irq: 16 factorials, 16 INTx interrupts" \
	edu_driver_irq INTx
intx_logged() {
	grep "irq: interrupt of edu (INTx, Linux interrupt [0-9]*) to uid 1000" /run/mmio/server.log
}
check "the server logged that it handed out edu's INTx line" intx_logged
# A driver that never acknowledges: each of its UNMASKs counts the still
# asserted interrupt once, the line itself fires once, and the server
# serves edu meanwhile.
irq_line_count() {
	awk -v n="$1:" '$1 == n { print $2 }' /proc/interrupts
}
edu_ident() {
	as_driver mmioctl read edu 0 32 | grep -qi "0x010000ED"
}
unacknowledged() {
	irq_holder 3
	_line=$(awk '/mmio-irq/ { sub(":", "", $1); print $1 }' /proc/interrupts)
	_before=$(irq_line_count "$_line")
	as_driver mmioctl write edu 0x20 0x80 && as_driver mmioctl write edu 8 5
	sleep 1
	wait $holder
	_rc=$?
	_after=$(irq_line_count "$_line")
	_counts=$(tr '\n' ' ' <$irq_out)
	echo "holder exit $_rc, totals: $_counts; line $_line: $_before -> $_after"
	[ $_rc -eq 0 ] && [ "$_counts" = "1 2 3 " ] && [ $((_after - _before)) -eq 1 ]
}
check "a driver that never acknowledges: 3 counts from 1 interrupt of the line, no storm" \
	unacknowledged
check "the server serves edu while it still asserts its interrupt" edu_ident
edu_reset
# A driver that hangs (SIGSTOP) holding the interrupt: the line fires, is
# masked and stays so; the server counts it and names it in the log.
unack_stat() {
	as_driver mmioctl stats | awk '$1 == "irqs_unacknowledged" { print $2 }'
}
unack_before=$(unack_stat)
irq_holder 1
kill -STOP "$(pidof mmioctl)"
as_driver mmioctl write edu 0x20 0x80 && as_driver mmioctl write edu 8 5
sleep 7
unack_logged() {
	grep "irq: uid 1000 pid [0-9]* has not acknowledged edu's interrupt for [0-9]* s; the line stays masked" \
		/run/mmio/server.log
}
expect_eq "a hung driver's masked interrupt: STATS irqs_unacknowledged + 1" \
	"$(unack_stat)" $((unack_before + 1))
check "the server logged the unacknowledged interrupt (uid, pid, region)" unack_logged
check "and serves edu meanwhile" edu_ident
kill -CONT "$(pidof mmioctl)"
wait $holder
expect_eq "the resumed holder got its one interrupt (exit 0, count 1)" "$?:$(cat $irq_out)" "0:1"
edu_reset
irq_holder 5
# $holder is the shell running su: the holder itself is mmioctl.
kill -9 "$(pidof mmioctl)"
wait $holder 2>/dev/null
check "a holder killed by SIGKILL released edu's interrupt: the next driver gets all 16" \
	edu_driver_irq INTx
irq_holder 1
sed -i 's/ops: \[once, poll, map, irq\]/ops: [once, poll, map]/' /etc/mmio/policy.yaml
kill -HUP "$(pidof mmio-server)"
sleep 2
wait $holder
rc=$?
cat $irq_err
expect_eq "a reload that withdraws irq wakes the waiter with MMIO_EREVOKED (exit 1)" \
	"$rc:$(grep -o MMIO_EREVOKED $irq_err | head -n 1)" "1:MMIO_EREVOKED"
reload_logged() {
	grep "reload: revoked the interrupt of edu from uid 1000" /run/mmio/server.log
}
check "the server logged the reload's revocation" reload_logged
sed -i 's/ops: \[once, poll, map\]/ops: [once, poll, map, irq]/' /etc/mmio/policy.yaml
kill -HUP "$(pidof mmio-server)"
sleep 2
check "and the server still serves edu to uid 1000" edu_ident

# ---- 3. server-level checks ----
# mmio-window-revoke rewrites the policy (edu for uid 1000: rw, r, none)
# and reloads; the policy of the boot is put back afterwards.
check "mmio-server hands out kernel-shim windows" grep -q "kernel-shim windows" /run/mmio/server.log
cp /etc/mmio/policy.yaml /tmp/policy.boot
server_pid=$(pidof mmio-server)
mmio-window-revoke --policy /etc/mmio/policy.yaml --listen ipc:///run/mmio/mmio.sock \
	--server-pid "$server_pid"
_rc=$?
[ $_rc -eq 0 ] || fail "mmio-window-revoke exits $_rc"
grep -E "withdrew the direct window|revoked handle|windows" /run/mmio/server.log | sed 's/^/server: /'
cp /tmp/policy.boot /etc/mmio/policy.yaml
kill -HUP "$server_pid"
# Lockdown next refuses every reload: this one must be done before.
sleep 2

# ---- 4. lockdown (it cannot be lifted: only 5 comes after) ----
if echo integrity >/sys/kernel/security/lockdown 2>/dev/null; then
	wintest lockdown
else
	fail "could not set lockdown to integrity (/sys/kernel/security/lockdown)"
fi

# ---- 5. the server's death (last: it does not come back) ----
# Under lockdown the interrupt is still granted (it reaches no memory); the
# server's death closes its control descriptor, the module revokes the
# interrupt, and libmmio tells the waiter that the connection is gone.
irq_holder 1
held_under_lockdown() {
	[ ! -s $irq_err ] && grep mmio-irq /proc/interrupts
}
check "under lockdown uid 1000 still holds edu's interrupt (mmio-irq on its line)" \
	held_under_lockdown
server_stopping
kill -9 "$(pidof mmio-server)"
wait $holder
rc=$?
expect_eq "the server's death wakes the waiter with MMIO_ECONN (exit 1)" \
	"$rc:$(grep -o MMIO_ECONN $irq_err | head -n 1)" "1:MMIO_ECONN"

# ---- the kernel's view of all of the above ----
dmesg | grep -E 'mmio-window|taint|module verification' | sed 's/^/dmesg: /'
no_kernel_warning() {
	! dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace'
}
check "the kernel logged no WARNING, BUG or Oops" no_kernel_warning

finish
