#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The main job (README): install what is missing, build, and run the demo.
# For now the host demo of the access primitives on a simulated device; the
# QEMU guest (server at boot, edu driver, bench) replaces it when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build/gcc -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/gcc -j "$(nproc 2>/dev/null || echo 2)" --target mmio-shim-demo >/dev/null
exec build/gcc/kernel-shim/mmio-shim-demo
