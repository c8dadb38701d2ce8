#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# README's "Your first driver" works as written: its commands, run from the
# source tree (with BUILD for build/gcc and a scratch directory for
# /tmp/first), build examples/first-driver/edu-id.c against the build tree
# and run it in the QEMU guest as uid 1000, where it reads edu.
#
#   first-driver.sh SRC BUILD
set -euo pipefail
src=$1
build=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

cmds=$(awk '/^## Your first driver/{s=1;next} s&&/^## /{exit} s&&/^    /{sub(/^    /,""); print}' \
	"$src/README.md")
[ "$(wc -l <<<"$cmds")" -eq 2 ] || fail "README's 'Your first driver' should show two commands: $cmds"
work=$(mktemp -d /tmp/mmio-first.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmds=${cmds//build\/gcc/$build}
cmds=${cmds//\/tmp\/first/$work/first}
cmds=${cmds//run-guest.sh /run-guest.sh --build $build }
cd "$src"
out=$(bash -euo pipefail -c "$cmds" 2>&1) || { echo "$out"; fail "README's commands failed"; }
echo "$out" | grep '^mmio-guest: ' | tail -4
grep -q 'mmio-guest: edu id 0x010000ed, alive yes' <<<"$out" ||
	fail "the first driver did not read edu (see above)"
echo "ok: README's first driver reads edu in the guest"
