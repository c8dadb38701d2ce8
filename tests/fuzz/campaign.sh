#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Longer fuzz campaigns than the test suite's bounded runs: each target in
# turn for SECONDS (default 600) with one worker per core, starting from the
# committed seeds plus what earlier campaigns found (kept in
# BUILD/fuzz-campaign/TARGET/, never in the source tree). Prints, per target,
# the executions, the coverage reached and the crashes (their inputs are
# left in BUILD/fuzz-campaign/TARGET/crashes/). Needs a sanitizer build with
# the fuzzers: cmake -S . -B build/asan -DCMAKE_C_COMPILER=clang -DMMIO_SANITIZE=ON
#
#   tests/fuzz/campaign.sh [--build DIR] [--seconds N] [TARGET...]
#
# TARGET: proto, policy, dispatch, registers (default: all four). Exit status 1 if any
# target crashed.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build/asan
seconds=600
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	-h|--help) sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "campaign: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proto policy dispatch registers)
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "campaign: --seconds wants a number" >&2; exit 2; }
jobs=$(nproc 2>/dev/null || echo 2)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"

status=0
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz_$t
	[ -x "$bin" ] || { echo "campaign: no $bin (build $build with MMIO_SANITIZE=ON and clang)" >&2; exit 1; }
	work=$build/fuzz-campaign/$t
	mkdir -p "$work/corpus" "$work/crashes"
	bin=$(realpath "$bin")
	seeds=$(realpath "tests/fuzz/corpus/$t")
	echo "=== $t: $seconds s, $jobs workers"
	(cd "$work" && "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
		-jobs="$jobs" -workers="$jobs" -artifact_prefix="$PWD/crashes/" corpus "$seeds" \
		>/dev/null 2>&1) || true
	execs=$(cat "$work"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: //p' |
		awk '{ s += $1 } END { print s + 0 }')
	cov=$(cat "$work"/fuzz-*.log 2>/dev/null | sed -n 's/.* cov: \([0-9]*\) .*/\1/p' | sort -n | tail -1)
	crashes=$(find "$work/crashes" -type f | wc -l)
	echo "$t: $execs executions, coverage $cov edges, $crashes crashes"
	rm -f "$work"/fuzz-*.log
	[ "$crashes" -eq 0 ] || status=1
done
exit $status
