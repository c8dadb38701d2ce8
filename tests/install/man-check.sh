#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# man-check.sh PAGE: `man --warnings -l PAGE` renders it with no warning
# (nothing on stderr), and the text has its NAME section and no roff
# requests that leaked through as text.
set -euo pipefail
page=$1
command -v man >/dev/null || { echo "FAIL: man is not installed (scripts/deps.sh installs man-db)" >&2; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
rc=0
MANWIDTH=80 man --warnings -l "$page" >"$out" 2>"$err" || rc=$?
[ $rc -eq 0 ] || { echo "FAIL: man exited $rc on $page:"; cat "$err"; exit 1; }
if [ -s "$err" ]; then
	echo "FAIL: warnings rendering $page:"; cat "$err"; exit 1
fi
# man pipes through col/pager when not a terminal: plain text here.
grep -q '^NAME' "$out" || { echo "FAIL: no NAME section in the rendering of $page"; exit 1; }
if grep -nE '^\.[A-Za-z]{1,2}( |$)' "$out"; then
	echo "FAIL: roff requests printed as text in $page (above)"; exit 1
fi
echo "ok: $page renders without warnings ($(wc -l <"$out") lines)"
