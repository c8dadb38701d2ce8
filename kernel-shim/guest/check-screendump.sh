#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
#   check-screendump.sh SCREEN.ppm SAMPLES
#
# Compare a screendump QEMU saved (binary PPM, "P6\nW H\n255\n" then RGB
# bytes, as screendump writes it) with the pixels a driver says it drew:
# SAMPLES has lines "X Y RRGGBB" (mmio-bochs-driver's "sample" lines,
# collected by the devices scenario). Every sample must match exactly, and
# there must be at least 5. Exit 0 if they do, 1 with each mismatch if not.
set -euo pipefail
[ $# -eq 2 ] || { sed -n 's/^#   //p' "$0" >&2; exit 2; }
ppm=$1 samples=$2
fail() { echo "check-screendump: FAIL: $*" >&2; exit 1; }
[ -s "$ppm" ] || fail "no screendump $ppm"
[ -s "$samples" ] || fail "no samples $samples"

{ read -r magic; read -r w h; read -r max; } <"$ppm"
if [ "$magic" != P6 ] || [ "$max" != 255 ] || ! [[ $w =~ ^[0-9]+$ && $h =~ ^[0-9]+$ ]]; then
	fail "$ppm is not a binary 8-bit PPM (header '$magic $w $h $max')"
fi
header=$(( ${#magic} + ${#w} + ${#h} + ${#max} + 4 ))
[ "$(stat -c %s "$ppm")" -eq $((header + w * h * 3)) ] ||
	fail "$ppm: $(stat -c %s "$ppm") bytes, not a ${w}x$h picture"

n=0 bad=0
while read -r x y want; do
	[[ $x =~ ^[0-9]+$ && $y =~ ^[0-9]+$ && $want =~ ^[0-9a-fA-F]{6}$ ]] ||
		fail "bad sample line '$x $y $want'"
	if [ "$x" -ge "$w" ] || [ "$y" -ge "$h" ]; then
		fail "sample ($x, $y) is outside the ${w}x$h screen"
	fi
	got=$(od -An -tx1 -j $((header + (y * w + x) * 3)) -N 3 "$ppm" | tr -d ' \n')
	n=$((n + 1))
	if [ "$got" != "${want,,}" ]; then
		echo "check-screendump: pixel ($x, $y) is $got, the driver drew $want" >&2
		bad=$((bad + 1))
	fi
done <"$samples"
[ "$n" -ge 5 ] || fail "only $n samples in $samples"
[ "$bad" -eq 0 ] || fail "$bad of $n pixels differ from what the driver drew ($ppm)"
echo "ok: $n pixels of $ppm (${w}x$h) are what the driver drew"
