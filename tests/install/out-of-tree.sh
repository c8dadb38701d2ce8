#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# out-of-tree.sh BUILD_DIR SOURCE_DIR WORK_DIR LIBDIR
#
# `cmake --install` into a scratch prefix installs everything (issue 9), and
# a driver outside the tree (examples/out-of-tree/driver.c, which is the
# README's "Writing a driver" program) builds against that install six
# ways — pkg-config (shared), pkg-config --static (libmmio.a; also with
# Clang, lld and --gc-sections), CMake find_package(mmio), and in Intel
# syntax with GCC and with Clang — and each binary reads, on a direct
# region from a real installed mmio-server on a sim policy, the value the
# installed mmioctl wrote. The same driver, and the bochs-display example,
# also build against the build tree itself (BUILD_DIR/libmmio-uninstalled.pc),
# which no libmmio.pc there claims to be the install. Needs clang and lld
# (scripts/deps.sh).
set -euo pipefail
build=$1 src=$2 work=$3 libdir=$4
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"; mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
	{ cat "$work/install.log"; fail "cmake --install"; }

# --- What the install holds.
for f in sbin/mmio-server bin/mmioctl bin/mmio-policy bin/mmio-bench; do
	[ -x "$prefix/$f" ] || fail "$prefix/$f is not installed (or not executable)"
done
for f in "$libdir/libmmio.so" "$libdir/libmmio.so.0" "$libdir/libmmio.a" \
	include/mmio/client.h include/mmio/client_inline.h include/mmio/status.h \
	include/mmio/rights.h "$libdir/pkgconfig/libmmio.pc" \
	"$libdir/cmake/mmio/mmio-config.cmake" "$libdir/cmake/mmio/mmio-config-version.cmake" \
	"$libdir/cmake/mmio/mmio-client-targets.cmake" etc/mmio/policy.yaml \
	lib/systemd/system/mmio-server.service share/man/man8/mmio-server.8 \
	share/man/man5/mmio-policy.5 share/man/man1/mmioctl.1 share/man/man3/libmmio.3; do
	[ -f "$prefix/$f" ] || fail "$prefix/$f is not installed"
done
cmp -s "$src/config/examples/host-demo.yaml" "$prefix/etc/mmio/policy.yaml" ||
	fail "etc/mmio/policy.yaml is not config/examples/host-demo.yaml"
# libmmio.so exports the API and nothing of its bundled parts.
# (Output captured first, never piped into grep -q: with pipefail, the
# writer's SIGPIPE after grep's early exit would fail the check at random.)
exports=$(nm -D --defined-only "$prefix/$libdir/libmmio.so")
grep -qw mmio_read32 <<<"$exports" ||
	fail "libmmio.so does not export mmio_read32"
if grep -qw 'proto_[a-z_]*' <<<"$exports"; then
	fail "libmmio.so exports proto_* symbols"
fi

# An admin's policy survives a second install.
echo "# edited by the admin" >>"$prefix/etc/mmio/policy.yaml"
cmake --install "$build" --prefix "$prefix" >"$work/install2.log" ||
	{ cat "$work/install2.log"; fail "second cmake --install"; }
grep -q '^# edited by the admin$' "$prefix/etc/mmio/policy.yaml" ||
	fail "a second install overwrote etc/mmio/policy.yaml"

# --- pkg-config sees this prefix, and Libs.private names nng.
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
[ "$(pkg-config --variable=prefix libmmio)" = "$prefix" ] ||
	fail "libmmio.pc has prefix=$(pkg-config --variable=prefix libmmio), not $prefix"
grep -qw -- -lnng <<<"$(pkg-config --static --libs libmmio)" ||
	fail "pkg-config --static --libs libmmio lacks -lnng"

# --- The README's example is the driver built here.
readme_code=$(awk '/^## Writing a driver/{s=1} s&&/^```c$/{c=1;next} c&&/^```$/{exit} c' "$src/README.md")
[ -n "$readme_code" ] || fail "no C example under README's 'Writing a driver'"
[ "$readme_code" = "$(tail -n +2 "$src/examples/out-of-tree/driver.c")" ] ||
	fail "README's 'Writing a driver' example differs from examples/out-of-tree/driver.c (minus its SPDX line)"

# --- Six builds against the install: pkg-config (shared; static), CMake,
# static with Clang, lld and --gc-sections, and in Intel syntax with each
# compiler. Each gets the example's sources only: a driver someone built in
# the source tree must not pass for one built here.
example_copy() {
	mkdir -p "$1"
	cp "$src/examples/out-of-tree/Makefile" "$src/examples/out-of-tree/driver.c" "$1/"
}
example_copy "$work/pc"
example_copy "$work/pc-static"
make -s -C "$work/pc" CFLAGS="-O2 -Wall -Wextra -Werror" >"$work/pc.log" 2>&1 ||
	{ cat "$work/pc.log"; fail "make (pkg-config) failed"; }
make -s -C "$work/pc-static" STATIC=1 CFLAGS="-O2 -Wall -Wextra -Werror" >"$work/pc-static.log" 2>&1 ||
	{ cat "$work/pc-static.log"; fail "make STATIC=1 (pkg-config --static) failed"; }
unset PKG_CONFIG_PATH
cmake -S "$src/examples/out-of-tree" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$work/cmake.log" 2>&1 &&
	cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log"; fail "the find_package(mmio) build failed"; }
grep -qx "mmio_DIR:PATH=$prefix/$libdir/cmake/mmio" "$work/cmake/CMakeCache.txt" ||
	fail "find_package(mmio) did not find the scratch install: $(grep mmio_DIR "$work/cmake/CMakeCache.txt")"

# Static, with Clang, lld and --gc-sections. lld does not count the
# handler's __start_mmio_extable as a reference to a table, and once
# dropped the library's own fault entries silently: the binary's table must
# be exactly the library's entries and the driver's inline ones.
lld_cflags="-O2 -Wall -Wextra -Werror -ffunction-sections -fdata-sections"
example_copy "$work/pc-lld"
PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig make -s -C "$work/pc-lld" STATIC=1 CC=clang \
	CFLAGS="$lld_cflags" LDFLAGS="-fuse-ld=lld -Wl,--gc-sections" >"$work/pc-lld.log" 2>&1 ||
	{ cat "$work/pc-lld.log"; fail "make STATIC=1 with clang, lld and --gc-sections failed"; }
# shellcheck disable=SC2046,SC2086 # flags are lists
clang $lld_cflags $(PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig pkg-config --cflags libmmio) \
	-c "$work/pc-lld/driver.c" -o "$work/pc-lld/driver.o" ||
	fail "clang -c driver.c failed"
# section_size FILE [MEMBER]: mmio_extable's size in bytes (in an archive,
# the MEMBER's), 0 if there is none. After the name: type, address, offset, size.
section_size() {
	local hex
	hex=$(readelf -SW "$1" | awk -v m="${2:-}" '/^File: / { f = substr($0, 7) }
		{ for (i = 1; i < NF; i++) if ($i == "mmio_extable" && (m == "" || index(f, m))) { print $(i + 4); exit } }')
	echo $((16#${hex:-0}))
}
lib_table=$(section_size "$prefix/$libdir/libmmio.a" "(access.asm.o)")
drv_table=$(section_size "$work/pc-lld/driver.o")
bin_table=$(section_size "$work/pc-lld/driver")
[ "$lib_table" -gt 0 ] || fail "libmmio.a has no mmio_extable in access.asm.o"
[ "$bin_table" -eq $((lib_table + drv_table)) ] ||
	fail "the lld --gc-sections driver's mmio_extable is $bin_table bytes, not the library's $lib_table + the driver's $drv_table"
echo "ok: lld --gc-sections keeps the fault table ($bin_table bytes: the library's $lib_table, the driver's $drv_table)"

# The header's inline once-ops in Intel syntax, with both compilers (each
# asm has both dialects; Clang once read a label "1b" there as a number).
for cc in gcc clang; do
	example_copy "$work/pc-intel-$cc"
	PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig make -s -C "$work/pc-intel-$cc" CC=$cc \
		CFLAGS="-O2 -Wall -Wextra -Werror -masm=intel" >"$work/pc-intel-$cc.log" 2>&1 ||
		{ cat "$work/pc-intel-$cc.log"; fail "make with $cc -masm=intel failed"; }
done

# Each dynamic binary loads the installed libmmio.so.0; the static ones none.
deps=$(LD_LIBRARY_PATH=$prefix/$libdir ldd "$work/pc/driver")
grep -qF "libmmio.so.0 => $prefix/$libdir/libmmio.so.0" <<<"$deps" ||
	fail "the pkg-config driver does not load $prefix/$libdir/libmmio.so.0"
deps=$(ldd "$work/cmake/driver")
grep -qF "libmmio.so.0 => $prefix/$libdir/libmmio.so.0" <<<"$deps" ||
	fail "the CMake driver does not load $prefix/$libdir/libmmio.so.0 (RPATH)"
for variant in pc-static pc-lld; do
	deps=$(ldd "$work/$variant/driver" 2>&1 || true)
	if grep -q libmmio <<<"$deps"; then fail "the $variant driver loads libmmio.so"; fi
done

# --- The build tree, not installed: libmmio-uninstalled.pc names its
# headers and library (and nothing of the install or of /usr), pkg-config
# prefers it for "libmmio", and the build tree holds no libmmio.pc that
# would claim the install's paths for it.
stray=$(find "$build" -name libmmio.pc -not -path "$work/*")
[ -z "$stray" ] || fail "the build tree holds a libmmio.pc: $stray ($(grep '^prefix=' "$stray"))"
unflags=$(PKG_CONFIG_PATH=$build pkg-config --cflags --libs libmmio-uninstalled) ||
	fail "PKG_CONFIG_PATH=$build pkg-config libmmio-uninstalled failed"
for want in "-I$src/client/include" "-I$src/include" "-L$build/client" -lmmio; do
	grep -qF -- "$want" <<<"$unflags" || fail "libmmio-uninstalled.pc lacks $want: $unflags"
done
if grep -qE -- "(-I|-L)(/usr|$prefix)" <<<"$unflags"; then
	fail "libmmio-uninstalled.pc names an installed path: $unflags"
fi
example_copy "$work/uninstalled"
PKG_CONFIG_PATH=$build make -s -C "$work/uninstalled" CFLAGS="-O2 -Wall -Wextra -Werror" \
	>"$work/uninstalled.log" 2>&1 ||
	{ cat "$work/uninstalled.log"; fail "make against the build tree failed"; }
deps=$(env -u LD_LIBRARY_PATH ldd "$work/uninstalled/driver")
grep -qF "libmmio.so.0 => $build/client/libmmio.so.0" <<<"$deps" ||
	fail "the build-tree driver does not load $build/client/libmmio.so.0: $deps"
# shellcheck disable=SC2086 # flags are a list
cc -O2 -Wall -Wextra -Werror "$src/client/examples/bochs/bochs-driver.c" $unflags \
	-o "$work/uninstalled/bochs-driver" || fail "bochs-driver.c does not build against the build tree"
"$work/uninstalled/bochs-driver" --help | grep -q '^Usage: mmio-bochs-driver' ||
	fail "the build-tree bochs-driver does not run"
echo "ok: the driver and bochs-driver.c build against the build tree (libmmio-uninstalled.pc)"

# --- A real installed server on a sim policy, private to this test.
sock=$work/mmio.sock
cat >"$work/policy.yaml" <<POLICY
version: 1
server:
  listen: "ipc://$sock"
  socket_mode: "0600"
regions:
  - name: scratch
    sim: true
    size: 4KiB
clients:
  - name: driver
    uid: $(id -u)
    grants:
      - region: scratch
        access: rw
        ops: [once, map]
POLICY
export LD_LIBRARY_PATH=$prefix/$libdir
"$prefix/bin/mmio-policy" check "$work/policy.yaml" >/dev/null || fail "mmio-policy check rejects the test policy"
"$prefix/sbin/mmio-server" -c "$work/policy.yaml" --log-level warn 2>"$work/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$work/server.log" >&2; fail "the installed mmio-server did not start"; }
export MMIO_SERVER=ipc://$sock

for variant in pc pc-static pc-lld pc-intel-gcc pc-intel-clang cmake uninstalled; do
	value=$(( (RANDOM << 16 | RANDOM) ^ 0x5a000000 ))
	"$prefix/bin/mmioctl" write scratch 0 32 "$value" || fail "mmioctl write"
	# Direct: the grant has map, so the read is the header's inline load
	# (or, built with an old compiler, the library's), not a message.
	want=$(printf 'device id 0x%08x (direct)' "$value")
	# The build-tree driver with the build tree's library (its RUNPATH).
	ld_path=$LD_LIBRARY_PATH
	[ "$variant" != uninstalled ] || ld_path=
	got=$(LD_LIBRARY_PATH=$ld_path "$work/$variant/driver") ||
		fail "the $variant driver exited non-zero (output: $got)"
	[ "$got" = "$want" ] || fail "the $variant driver printed '$got', expected '$want'"
	echo "ok: $variant driver: $got"
done

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
trap - EXIT
[ $rc -eq 0 ] || { cat "$work/server.log" >&2; fail "mmio-server exited $rc on SIGTERM"; }
[ ! -e "$sock" ] || fail "mmio-server left its socket behind"
echo "ok: installed to $prefix; pkg-config, static (GNU ld and lld), Intel-syntax and find_package(mmio) drivers work"
