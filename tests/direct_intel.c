/* SPDX-License-Identifier: MIT */
/* Built with -masm=intel: see direct_intel.h. */
#include "direct_intel.h"

int intel_read32(mmio_region *r, size_t off, uint32_t *v)
{
	return mmio_read32(r, off, v);
}

int intel_write32(mmio_region *r, size_t off, uint32_t v)
{
	return mmio_write32(r, off, v);
}

int intel_read_bytes(mmio_region *r, size_t off, void *buf, size_t len, size_t *done)
{
	return mmio_read(r, off, buf, len, done);
}

int intel_write_bytes(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	return mmio_write(r, off, buf, len, done);
}
