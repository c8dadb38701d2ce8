/* SPDX-License-Identifier: MIT */
/*
 * devmem: a fixed physical window (an MMIO range with no PCI function
 * behind it: an SoC block, a platform device), mapped from /dev/mem with
 * O_SYNC, which makes the kernel map it uncached: the one cache policy this
 * backend can promise.
 *
 * Before mapping, the window is checked against /proc/iomem: RAM is never a
 * device, and a range a kernel driver has requested belongs to that driver.
 * The descriptor is never kept for direct grants: it is /dev/mem, all of
 * physical memory.
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define IOMEM_DEPTH_MAX 8

/* Does [a0, a1] overlap [b0, b1] (inclusive ends)? */
static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

static bool pci_function_name(const char *name)
{
	unsigned d, b, dev, f;
	char tail;

	return sscanf(name, "%4x:%2x:%2x.%1u%c", &d, &b, &dev, &f, &tail) == 4;
}

/*
 * Check [@first, @last] against @iomem (a /proc/iomem listing; nesting by
 * two spaces per level). Writes the reason into @err and returns an error
 * if the range is RAM or claimed by a driver; MMIO_OK otherwise, also when
 * the listing cannot be read or shows no addresses (not root).
 */
static int iomem_check(const struct shim_source *src, const char *iomem, uint64_t first,
		       uint64_t last, char *err, size_t errlen)
{
	char line[256], parents[IOMEM_DEPTH_MAX][64] = { { 0 } };
	FILE *f = fopen(iomem, "re");
	int status = MMIO_OK;

	if (!f)
		return MMIO_OK;
	while (status == MMIO_OK && fgets(line, sizeof(line), f)) {
		uint64_t s, e;
		unsigned depth = 0;
		char name[64];
		int used = 0;

		while (line[depth * 2] == ' ' && line[depth * 2 + 1] == ' ')
			depth++;
		if (depth >= IOMEM_DEPTH_MAX ||
		    sscanf(line, " %" SCNx64 "-%" SCNx64 " : %63[^\n]%n", &s, &e, name, &used) < 3)
			continue;
		snprintf(parents[depth], sizeof(parents[depth]), "%s", name);
		if ((s == 0 && e == 0) || !overlaps(s, e, first, last))
			continue;
		if (strcmp(name, "System RAM") == 0) {
			shim_errorf(err, errlen,
				    "region %s: phys [0x%" PRIx64 ", 0x%" PRIx64
				    "] overlaps System "
				    "RAM [0x%" PRIx64 ", 0x%" PRIx64 "]: a devmem region must be "
				    "device memory",
				    src->name, first, last, s, e);
			status = MMIO_EINVAL;
		} else if (depth > 0 && pci_function_name(parents[depth - 1])) {
			/* A child of a PCI function's BAR: a driver's request. */
			shim_errorf(
				err, errlen,
				"region %s: phys [0x%" PRIx64 ", 0x%" PRIx64 "] is claimed by "
				"the kernel driver \"%s\" (on %s, /proc/iomem); unbind it first",
				src->name, first, last, name, parents[depth - 1]);
			status = MMIO_EBUSY;
		}
	}
	fclose(f);
	return status;
}

static int devmem_open(const struct shim_source *src, struct shim_device *dev, char *err,
		       size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t aligned, delta;
	char lockdown[32];
	size_t map_len;
	void *map;
	int fd, saved, status;

	if (src->size == 0 || src->size > SIZE_MAX / 2 || src->phys > UINT64_MAX - src->size) {
		shim_errorf(err, errlen, "region %s: a devmem region needs a size that fits",
			    src->name);
		return MMIO_EINVAL;
	}
	status = iomem_check(src, "/proc/iomem", src->phys, src->phys + src->size - 1, err, errlen);
	if (status != MMIO_OK)
		return status;
	shim_lockdown_describe(NULL, lockdown, sizeof(lockdown));
	fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		if (lockdown[0])
			shim_errorf(
				err, errlen,
				"region %s: /dev/mem: %s: the kernel is in lockdown (%s), which "
				"forbids /dev/mem",
				src->name, strerror(saved), lockdown);
		else
			shim_errorf(err, errlen,
				    "region %s: /dev/mem: %s: a devmem region needs root with "
				    "CAP_SYS_RAWIO",
				    src->name, strerror(saved));
		return saved == ENOENT ? MMIO_ENOENT : MMIO_EACCES;
	}
	aligned = src->phys & ~(uint64_t)(page - 1);
	delta = src->phys - aligned;
	map_len = (size_t)((delta + src->size + (uint64_t)page - 1) & ~(uint64_t)(page - 1));
	map = shim_mmap_placed(map_len, PROT_READ | PROT_WRITE, fd, aligned, 0);
	saved = errno;
	close(fd);
	if (map == MAP_FAILED) {
		if (lockdown[0])
			shim_errorf(err, errlen,
				    "region %s: mmap of /dev/mem at 0x%" PRIx64 ": %s: the kernel "
				    "is in lockdown (%s)",
				    src->name, src->phys, strerror(saved), lockdown);
		else if (saved == EPERM)
			shim_errorf(err, errlen,
				    "region %s: mmap of /dev/mem at 0x%" PRIx64 ": %s: the kernel "
				    "(CONFIG_STRICT_DEVMEM / CONFIG_IO_STRICT_DEVMEM) refuses this "
				    "range; boot with iomem=relaxed if it is really a device",
				    src->name, src->phys, strerror(saved));
		else
			shim_errorf(err, errlen, "region %s: mmap of /dev/mem at 0x%" PRIx64 ": %s",
				    src->name, src->phys, strerror(saved));
		return saved == ENOMEM ? MMIO_ENOMEM : MMIO_EACCES;
	}
	dev->map = map;
	dev->map_len = map_len;
	dev->base = (uint8_t *)map + delta;
	dev->size = src->size;
	dev->source_size = src->size;
	dev->fd = -1;
	snprintf(dev->where, sizeof(dev->where), "phys 0x%" PRIx64, src->phys);
	dev->phys = src->phys;
	return MMIO_OK;
}

static void devmem_close(struct shim_device *dev)
{
	if (dev->map)
		munmap(dev->map, dev->map_len);
}

const struct shim_backend shim_backend_devmem = {
	.name = "devmem",
	.cache_mask = SHIM_CACHE_BIT(MMIO_CACHE_UNCACHED),
	.open = devmem_open,
	.close = devmem_close,
};
