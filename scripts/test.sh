#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test command (README): install what is missing, then build and run
# every test three times —
#   build/gcc   gcc, -Werror, the normal build, and the QEMU guest test
#               (edu and ivshmem as uid 1000, /dev/mem as the oracle)
#   build/asan  clang, AddressSanitizer + UndefinedBehaviorSanitizer, and the
#               libFuzzer targets with their bounded runs
#   build/tsan  clang, ThreadSanitizer: the suites where threads and
#               processes meet (server, e2e, direct, campaign, caps); any report fails them. (The
#               client suite's fake server shares its settings with the test
#               through nng, which TSan cannot see synchronise: not run.)
# Exits non-zero if any build or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0

run_build() {
	local name=$1; shift
	echo "=== build/$name: configure + build"
	cmake -S . -B "build/$name" -DMMIO_WERROR=ON "$@" >"build-$name.log" 2>&1 ||
		{ cat "build-$name.log"; return 1; }
	cmake --build "build/$name" -j "$jobs" >>"build-$name.log" 2>&1 ||
		{ tail -60 "build-$name.log"; return 1; }
	rm -f "build-$name.log"
	echo "=== build/$name: tests"
	local rc=0
	(cd "build/$name" && ctest --output-on-failure -j "$jobs" ${CTEST_FILTER:+-R "$CTEST_FILTER"}) || rc=$?
	# The Check summary of each suite, the fuzzers' execution counts, and
	# the systemd guest's checks and time.
	grep -hE '^(Running suite|[0-9]+%: Checks:|stat::number_of_executed_units|systemd-guest:)' \
		"build/$name/Testing/Temporary/LastTest.log" | grep -vE '^Test: .*Time' || true
	return $rc
}

mkdir -p build
run_build gcc -DCMAKE_C_COMPILER=gcc || status=1
# The guest boots once, with the gcc build's binaries: sanitizer builds
# inside a TCG guest would only be slower, not test more of the guest.
run_build asan -DCMAKE_C_COMPILER=clang -DMMIO_SANITIZE=ON -DMMIO_GUEST_TESTS=OFF || status=1
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" CTEST_FILTER='^(server|e2e|direct|campaign|caps)$' \
	run_build tsan -DCMAKE_C_COMPILER=clang -DMMIO_TSAN=ON -DMMIO_FUZZ=OFF -DMMIO_GUEST_TESTS=OFF || status=1

if [ $status -eq 0 ]; then
	echo "=== all builds and tests passed"
else
	echo "=== FAILED (see above)"
fi
exit $status
