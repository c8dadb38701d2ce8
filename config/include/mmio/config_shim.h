/* SPDX-License-Identifier: MIT */
/*
 * A policy region as kernel-shim's source: what mmio-server opens and what
 * mmio-policy explain resolves are the same description of the device.
 * For the parts that link both config and kernel-shim.
 */
#ifndef MMIO_CONFIG_SHIM_H
#define MMIO_CONFIG_SHIM_H

#include <mmio/config.h>
#include <mmio/shim.h>

#include <stdlib.h>

/*
 * The kernel-shim source of region @r. sysfs_root is $MMIO_SYSFS_ROOT when
 * it is set and not empty (the test suites point it at a tree of their
 * own), else NULL ("/sys"); resizable is left false.
 */
static inline struct shim_source cfg_region_shim_source(const struct cfg_region *r)
{
	const char *root = getenv("MMIO_SYSFS_ROOT");
	struct shim_source src = {
		.backend = cfg_source_backend(r->source),
		.name = r->name,
		.size = (size_t)r->size,
		.cache = r->cache,
		.by_id = r->source == CFG_SOURCE_PCI_ID,
		.pci = { r->pci.domain, r->pci.bus, r->pci.device, r->pci.function },
		.vendor_id = r->vendor_id,
		.device_id = r->device_id,
		.pci_index = r->pci_index,
		.pci_index_given = r->pci_index_given,
		.bar = r->bar,
		.offset = r->offset,
		.phys = r->phys,
		.sysfs_root = root && root[0] ? root : NULL,
	};

	return src;
}

#endif
