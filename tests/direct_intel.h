/* SPDX-License-Identifier: MIT */
/*
 * The header's inline once-ops and copies compiled in Intel syntax
 * (direct_intel.c is built with -masm=intel), for check_direct to run
 * beside the default syntax's: an operand order wrong in one of the two
 * templates assembles fine and would only show at run time.
 */
#ifndef MMIO_TESTS_DIRECT_INTEL_H
#define MMIO_TESTS_DIRECT_INTEL_H

#include <mmio/client.h>

int intel_read32(mmio_region *r, size_t off, uint32_t *v);
int intel_write32(mmio_region *r, size_t off, uint32_t v);
/* Copies of a length known only at run time: a single step, a pair, then
 * groups of four, as the length has them. */
int intel_read_bytes(mmio_region *r, size_t off, void *buf, size_t len, size_t *done);
int intel_write_bytes(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done);

#endif
