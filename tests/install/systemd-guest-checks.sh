#!/bin/bash
# SPDX-License-Identifier: MIT
# Inside the guest of systemd-guest.sh, as root under systemd (PID 1): the
# checks of mmio-server.service from the .deb. Each prints
# "mmio-systemd: check NAME: ok" or "... FAIL: why"; then "mmio-systemd: done".
set -u
say() { echo "mmio-systemd: $*"; }
ok() { say "check $1: ok${2:+ ($2)}"; }
bad() { say "check $1: FAIL: $2"; }
show() { systemctl show -p "$1" --value mmio-server; }
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
policy=/etc/mmio/policy.yaml
sock=/run/mmio/mmio.sock
# Wait up to 10 s for a command to succeed.
until_ok() { local i; for i in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
# access_is MODE:GROUP: the public socket and the descriptor channel have it.
access_is() { [ "$(stat -c %a:%G $sock)" = "$1" ] && [ "$(stat -c %a:%G $sock.fd)" = "$1" ]; }
# read_as USER WANT ARGS...: mmioctl ARGS as USER until it prints WANT (10 s); its output in $r.
read_as() {
	local u=$1 want=$2 i; shift 2
	for i in $(seq 50); do
		r=$(as "$u" mmioctl "$@" 2>&1) && [ "$r" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

say "systemd $(systemctl --version | head -1 | cut -d' ' -f2) is PID 1: $(cat /proc/1/comm)"
before=$(mktemp)
find / -xdev \( -path /proc -o -path /sys -o -path /opt/mmio-test -o -path /tmp -o -path /var/log/journal \
	-o -path /var/cache -o -path /var/lib/dpkg -o -path /run -o -path /var/log \) -prune -o -print 2>/dev/null | sort >"$before"

# --- install: dpkg -i, under a running systemd.
if out=$(DEBIAN_FRONTEND=noninteractive dpkg -i /opt/mmio-test/mmio.deb 2>&1); then
	ok install
else
	bad install "dpkg -i: $out"
fi
shipped=$(mktemp); cp "$policy" "$shipped"

# --- enable/start reaches READY=1.
t0=$(date +%s.%N)
if systemctl enable --now mmio-server >/dev/null 2>&1 &&
	[ "$(systemctl is-active mmio-server)" = active ]; then
	ok ready "active in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
else
	bad ready "systemctl enable --now: $(systemctl status mmio-server 2>&1 | tail -5)"
fi
# Type=notify: systemd calls the start done only on READY=1, which the
# server sends once the socket listens; the socket is there at once, the
# main PID is the server, and the journal has its "listening" line first.
pid=$(show MainPID)
if [ "$(show Type)" = notify ] && [ "$(show SubState)" = running ] && [ -S "$sock" ] &&
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mmio-server ] &&
	journalctl -u mmio-server -o cat | grep -q 'listening on'; then
	ok notified "Type=notify, MainPID $pid, socket at start"
	ls -la /run/mmio /run/mmio/mmio.sock.d | sed 's/^/mmio-systemd: ls: /'
else
	bad notified "Type=$(show Type) SubState=$(show SubState) MainPID=$pid socket $(ls -l $sock 2>&1)"
fi

# --- The shipped example policy, unchanged, for its own users.
w=$(as driver mmioctl write scratch 0 32 0x5eed1234 2>&1) &&
	r=$(as driver mmioctl read scratch 0 32 2>&1) && [ "$r" = 0x5EED1234 ] &&
	ok driver-proxied "uid 1000 wrote and read scratch: $r" ||
	bad driver-proxied "write: ${w:-} read: ${r:-}"
r=$(as driver mmioctl -d read scratch 0 32 2>&1) && [ "$r" = 0x5EED1234 ] &&
	w=$(as driver mmioctl -d write regs 0 32 0xabcd0001 2>&1) &&
	r2=$(as driver mmioctl read regs 0 32 2>&1) && [ "$r2" = 0xABCD0001 ] &&
	ok driver-direct "uid 1000 mapped scratch and regs: $r $r2" ||
	bad driver-direct "read scratch: ${r:-} write regs: ${w:-} read regs: ${r2:-}"
r=$(as viewer mmioctl -d dump framebuffer 0 16 2>&1) && [[ $r == "00000000  00 00 "* ]] &&
	r2=$(as viewer mmioctl dump framebuffer 0 16 2>&1) && [[ $r2 == "00000000  00 00 "* ]] &&
	ok group-driver "a member of users read framebuffer, mapped and copied" ||
	bad group-driver "${r:-} ${r2:-}"
# The viewer has no grant on scratch.
if as viewer mmioctl read scratch 0 32 >/dev/null 2>&1; then
	bad group-driver "the viewer read scratch, which it has no grant for"
fi

# --- pci regions work under the unit's sandbox (edu, 1234:11e8: ID 0x010000ed).
cat >"$policy" <<'EOF'
version: 1
server:
  listen: "ipc:///run/mmio/mmio.sock"
  socket_mode: "0666"
regions:
  - name: edu
    pci_id: "1234:11e8"
    bar: 0
    cache: uncached
  - name: scratch
    sim: true
    size: 64KiB
clients:
  - name: demo-driver
    uid: 1000
    grants:
      - region: edu
        access: rw
        ops: [once, poll, map]
        widths: [4]
      - region: scratch
        access: rw
        ops: [once, map]
EOF
r= r2=
if ! systemctl reload mmio-server; then
	bad pci-region "systemctl reload exited non-zero"
elif read_as driver 0x010000ED read edu 0 32 && r2=$(as driver mmioctl -d read edu 0 32 2>&1) &&
	[ "$r2" = 0x010000ED ]; then
	ok pci-region "edu ID read proxied and mapped: $r"
else
	bad pci-region "read edu: $r / direct: $r2"
fi
# The edit above replaced scratch (64 KiB, once+map) and dropped regs: the
# reload applied it, under the same process.
if [ "$(show MainPID)" = "$pid" ] && ! as driver mmioctl read regs 0 32 >/dev/null 2>&1; then
	ok reload-applies "regs ungranted, edu granted, same MainPID $pid"
else
	bad reload-applies "MainPID $(show MainPID) (was $pid); regs still served?"
fi

# --- A broken policy: `systemctl reload` fails, the old one stays.
good=$(mktemp); cp "$policy" "$good"
printf 'version: 1\nregions: [\n' >"$policy"
if systemctl reload mmio-server 2>/dev/null; then
	bad reload-broken-fails "systemctl reload exited 0 on a broken policy"
elif [ "$(systemctl is-active mmio-server)" = active ] && [ "$(show MainPID)" = "$pid" ] &&
	read_as driver 0x010000ED read edu 0 32; then
	ok reload-broken-fails "reload exited non-zero; the old policy still serves edu"
else
	bad reload-broken-fails "state $(systemctl is-active mmio-server), read edu: ${r:-}"
fi
cp "$good" "$policy"
systemctl reload mmio-server 2>/dev/null

# --- socket_mode and socket_group apply on reload, to the socket and the channel.
sed -i 's/socket_mode: "0666"/socket_mode: "0600"/' "$policy"
systemctl reload mmio-server 2>/dev/null
if until_ok access_is 600:root && read_as driver 0x010000ED read edu 0 32; then
	ok socket-mode "0666 -> 0600 applied to $sock and $sock.fd; uid 1000 still served through its door"
else
	bad socket-mode "$(stat -c %a:%G $sock $sock.fd | tr '\n' ' '); read edu: $r"
fi
sed -i 's/^  socket_mode: "0600"/  socket_mode: "0660"\n  socket_group: users/' "$policy"
systemctl reload mmio-server 2>/dev/null
if until_ok access_is 660:users; then
	ok socket-group "group users, mode 0660 applied"
else
	bad socket-group "$(stat -c %a:%G $sock $sock.fd | tr '\n' ' '); $(journalctl -u mmio-server -o cat | tail -2)"
fi
cp "$shipped" "$policy"

# --- systemd-analyze security.
sec=$(systemd-analyze security --no-pager mmio-server 2>&1)
score=$(sed -n 's/.*Overall exposure level for mmio-server.service: \([0-9.]*\).*/\1/p' <<<"$sec")
echo "$sec" | grep '✗' | sed 's/^/mmio-systemd: security: /'
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
	ok security "exposure $score"
else
	bad security "exposure '${score}' > 2.0"
fi

# --- Stop is clean.
systemctl stop mmio-server
if [ "$(show ActiveState)" = inactive ] && [ "$(show Result)" = success ] &&
	[ "$(show ExecMainStatus)" = 0 ] && [ ! -e $sock ]; then
	ok stop-clean "inactive, Result=success, exit 0, socket gone"
else
	bad stop-clean "$(show ActiveState) Result=$(show Result) status $(show ExecMainStatus); $(ls /run/mmio 2>&1)"
fi

# --- An invalid policy at start: it fails, and is not restarted.
printf 'version: 1\nregions: [\n' >"$policy"
systemctl start mmio-server 2>/dev/null && say "start on a broken policy exited 0"
sleep 3
if [ "$(show ActiveState)" = failed ] && [ "$(show NRestarts)" = 0 ] && [ "$(show ExecMainStatus)" = 78 ]; then
	ok invalid-no-restart "failed, exit 78, NRestarts 0"
else
	bad invalid-no-restart "$(show ActiveState), exit $(show ExecMainStatus), NRestarts $(show NRestarts)"
fi
cp "$shipped" "$policy"
systemctl reset-failed mmio-server 2>/dev/null

# --- dpkg --purge (the unit enabled and running) leaves nothing behind.
systemctl start mmio-server
out=$(dpkg --purge mmio 2>&1) || bad purge "dpkg --purge: $out"
after=$(mktemp)
find / -xdev \( -path /proc -o -path /sys -o -path /opt/mmio-test -o -path /tmp -o -path /var/log/journal \
	-o -path /var/cache -o -path /var/lib/dpkg -o -path /run -o -path /var/log \) -prune -o -print 2>/dev/null | sort >"$after"
left=$(comm -13 "$before" "$after" | tr '\n' ' ')
if [ -z "$left" ] && [ ! -e /run/mmio ] && [ "$(systemctl is-enabled mmio-server 2>&1)" != enabled ] &&
	! pgrep -x mmio-server >/dev/null; then
	ok purge "nothing left, server stopped"
else
	bad purge "left: $left $(ls -d /run/mmio 2>/dev/null) $(pgrep -a mmio-server)"
fi
journalctl -b -u mmio-server -o short-monotonic --no-pager | sed 's/^/mmio-systemd: journal: /'
say done
