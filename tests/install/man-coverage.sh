#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# man-coverage.sh SOURCE_DIR: libmmio(3) names every function of
# <mmio/client.h>, <mmio/client_inline.h> and <mmio/status.h> and every
# status; mmio-policy(5) names every key of the table in config/POLICY.md.
set -euo pipefail
src=$1
missing=0
rendered() { MANWIDTH=200 man -l "$1" 2>/dev/null; }

lib=$(rendered "$src/man/libmmio.3")
names=$( { cat "$src/client/include/mmio/client.h" "$src/client/include/mmio/client_inline.h" |
	grep -oE '^MMIO_API [^(]*\bmmio_[a-z0-9_]+\(' |
	grep -oE 'mmio_[a-z0-9_]+\($' | tr -d '('
	grep -oE '\bmmio_(strerror|status_name)\(' "$src/include/mmio/status.h" | tr -d '('
	grep -oE '^\s*MMIO_E?[A-Z]+ = ' "$src/include/mmio/status.h" | grep -oE 'MMIO_[A-Z]+'; } | sort -u)
[ "$(wc -l <<<"$names")" -ge 40 ] || { echo "FAIL: found only $(wc -l <<<"$names") names in the headers"; exit 1; }
for n in $names; do
	grep -qw -- "$n" <<<"$lib" || { echo "FAIL: libmmio(3) does not mention $n"; missing=1; }
done

pol=$(rendered "$src/man/mmio-policy.5")
keys=$(sed -n '/^## Keys/,/^## /p' "$src/config/POLICY.md" | grep '^| `' | cut -d'|' -f2 |
	grep -oE '`[^`]+`' | tr -d '`' | sed -E 's/^…//; s/^(regions\[\]|clients\[\]|server|grants\[\])\.//; s/^(grants\[\])\.//; s/^(registers\[\])\.//' | sort -u)
[ "$(wc -l <<<"$keys")" -ge 25 ] || { echo "FAIL: found only $(wc -l <<<"$keys") keys in POLICY.md"; exit 1; }
for k in $keys; do
	grep -qF -- "$k" <<<"$pol" || { echo "FAIL: mmio-policy(5) does not mention the key $k"; missing=1; }
done
[ $missing -eq 0 ] || exit 1
echo "ok: libmmio(3) names all $(wc -l <<<"$names") functions and statuses; mmio-policy(5) all $(wc -l <<<"$keys") keys"
