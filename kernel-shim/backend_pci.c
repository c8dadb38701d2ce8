/* SPDX-License-Identifier: MIT */
/*
 * pci: a memory BAR of a PCI function, mapped through sysfs:
 * /sys/bus/pci/devices/DDDD:BB:DD.F/resourceN (uncached) or resourceN_wc
 * (write-combining; the kernel offers it for prefetchable BARs only).
 *
 * The function is named by address, or found as the pci_index-th function
 * (in address order) with a vendor:device ID. Every way this can fail has
 * its own message, because the person reading it is setting up a machine:
 * no such function, a BAR that is absent, an I/O-port BAR, one too small
 * for the region, write-combining not offered, a kernel driver bound to the
 * function, kernel lockdown, missing privileges.
 *
 * The descriptor is kept for direct grants only when the region is the
 * whole BAR (from offset 0, whole pages): a resource file gives its whole
 * BAR to whoever holds it.
 */
#include "backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Flags of a line of the sysfs `resource` file (include/linux/ioport.h). */
#define IORESOURCE_IO	     0x00000100ul
#define IORESOURCE_MEM	     0x00000200ul
#define IORESOURCE_PREFETCH  0x00002000ul
#define PCI_STD_NUM_BARS     6
#define PCI_FUNCTION_NAMELEN 13 /* "DDDD:BB:DD.F" and the NUL */

static const char *sysfs(const struct shim_source *src)
{
	return src->sysfs_root ? src->sysfs_root : "/sys";
}

static bool pci_name_valid(const char *name)
{
	unsigned d, b, dev, f;
	char tail;

	return strlen(name) == PCI_FUNCTION_NAMELEN - 1 &&
	       sscanf(name, "%4x:%2x:%2x.%1u%c", &d, &b, &dev, &f, &tail) == 4;
}

/* Read a "0x1234" ID file of function @fn. */
static bool read_id(const char *root, const char *fn, const char *file, unsigned *out)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", root, fn, file);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) && sscanf(buf, "%x", out) == 1;
	fclose(f);
	return ok;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool id_matches(const struct shim_source *src, const char *fn)
{
	unsigned vendor, device;

	return read_id(sysfs(src), fn, "vendor", &vendor) &&
	       read_id(sysfs(src), fn, "device", &device) && vendor == src->vendor_id &&
	       device == src->device_id;
}

/* At most this many functions are listed in the error of an ambiguous pci_id. */
#define AMBIGUOUS_SHOWN 4

/* The error of a pci_id that @n functions @names have: their addresses, and
 * the keys that pick one; past AMBIGUOUS_SHOWN, how many more (the caller's
 * err buffer would cut the list anywhere). */
static void ambiguous(const struct shim_source *src, char *const *names, size_t n, char *err,
		      size_t errlen)
{
	size_t shown = n < AMBIGUOUS_SHOWN ? n : AMBIGUOUS_SHOWN;
	char list[AMBIGUOUS_SHOWN * (PCI_FUNCTION_NAMELEN + 2) + 32] = "";
	char picks[AMBIGUOUS_SHOWN * (PCI_FUNCTION_NAMELEN + 32) + 64] = "";
	size_t l = 0, p = 0;

	for (size_t i = 0; i < shown; i++) {
		l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", names[i]);
		p += (size_t)snprintf(picks + p, sizeof(picks) - p, "%spci_index: %zu for %s",
				      i ? ", " : "", i, names[i]);
	}
	if (shown < n) {
		snprintf(list + l, sizeof(list) - l, " and %zu more", n - shown);
		snprintf(picks + p, sizeof(picks) - p,
			 ", ... up to pci_index: %zu, in address order", n - 1);
	}
	shim_errorf(err, errlen,
		    "region %s: pci_id %04x:%04x matches %zu PCI functions (%s); name the one to "
		    "map with pci: \"%s\" instead of pci_id, or keep pci_id and add %s",
		    src->name, src->vendor_id, src->device_id, n, list, names[n - 1], picks);
}

/* The function @src names, into @fn. */
static int function_find(const struct shim_source *src, char fn[PCI_FUNCTION_NAMELEN], char *err,
			 size_t errlen)
{
	char path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0, matches = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int status = MMIO_ENOENT;

	if (!src->by_id) {
		snprintf(fn, PCI_FUNCTION_NAMELEN, "%04x:%02x:%02x.%u", src->pci.domain,
			 src->pci.bus, src->pci.device, src->pci.function & 7u);
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", sysfs(src), fn);
		if (stat(path, &st) == 0)
			return MMIO_OK;
		shim_errorf(err, errlen, "region %s: no PCI function %s on this machine (%s: %s)",
			    src->name, fn, path, strerror(errno));
		return MMIO_ENOENT;
	}

	snprintf(path, sizeof(path), "%s/bus/pci/devices", sysfs(src));
	d = opendir(path);
	if (!d) {
		shim_errorf(err, errlen, "region %s: cannot list PCI functions in %s: %s",
			    src->name, path, strerror(errno));
		return MMIO_ENOENT;
	}
	/* Address order, so that pci_index means the same on every boot. */
	while ((e = readdir(d))) {
		if (!pci_name_valid(e->d_name))
			continue;
		if (n == cap) {
			size_t grown = cap ? 2 * cap : 32;
			char **p = realloc(names, grown * sizeof(*p));
			if (!p)
				goto out;
			names = p;
			cap = grown;
		}
		if (!(names[n] = strdup(e->d_name)))
			goto out;
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	/* Keep only the matches, in address order. */
	for (size_t i = 0; i < n; i++) {
		if (id_matches(src, names[i]))
			names[matches++] = names[i];
		else
			free(names[i]);
	}
	n = matches;
	if (matches > 1 && !src->pci_index_given) {
		ambiguous(src, names, matches, err, errlen);
		status = MMIO_EINVAL;
	} else if (src->pci_index < matches) {
		snprintf(fn, PCI_FUNCTION_NAMELEN, "%s", names[src->pci_index]);
		status = MMIO_OK;
	} else {
		shim_errorf(err, errlen,
			    "region %s: no PCI function %04x:%04x with index %u on this machine "
			    "(%zu found)",
			    src->name, src->vendor_id, src->device_id, src->pci_index, matches);
	}
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (status != MMIO_OK && err && errlen && !err[0])
		shim_errorf(err, errlen, "region %s: out of memory listing PCI functions",
			    src->name);
	return status;
}

/* Line @bar of the function's `resource` file: start, end, flags. */
static int bar_read(const struct shim_source *src, const char *fn, uint64_t *start, uint64_t *end,
		    unsigned long *flags, char *err, size_t errlen)
{
	char path[PATH_MAX], line[128];
	FILE *f;
	unsigned i = 0;
	bool found = false;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/resource", sysfs(src), fn);
	f = fopen(path, "re");
	if (!f) {
		shim_errorf(err, errlen, "region %s: cannot read %s: %s", src->name, path,
			    strerror(errno));
		return MMIO_ENOENT;
	}
	while (fgets(line, sizeof(line), f)) {
		if (i++ != src->bar)
			continue;
		found = sscanf(line, "%" SCNx64 " %" SCNx64 " %lx", start, end, flags) == 3;
		break;
	}
	fclose(f);
	if (!found || (*start == 0 && *end == 0) || *end < *start) {
		shim_errorf(err, errlen, "region %s: %s has no BAR %u", src->name, fn, src->bar);
		return MMIO_ENOENT;
	}
	if (*flags & IORESOURCE_IO) {
		shim_errorf(err, errlen,
			    "region %s: BAR %u of %s is an I/O-port BAR; only memory BARs can be "
			    "mapped",
			    src->name, src->bar, fn);
		return MMIO_EINVAL;
	}
	return MMIO_OK;
}

/* The kernel driver bound to @fn, into @drv; false if none. */
static bool driver_bound(const struct shim_source *src, const char *fn, char *drv, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", sysfs(src), fn);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	slash = strrchr(target, '/');
	slash = slash ? slash + 1 : target;
	n = (ssize_t)strlen(slash);
	if ((size_t)n >= len)
		n = (ssize_t)len - 1;
	memcpy(drv, slash, (size_t)n);
	drv[n] = '\0';
	return true;
}

void shim_lockdown_describe(const char *root, char *buf, size_t len)
{
	char path[PATH_MAX], line[128];
	FILE *f;
	char *open, *close;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/kernel/security/lockdown", root ? root : "/sys");
	f = fopen(path, "re");
	if (!f)
		return;
	/* "none [integrity] confidentiality": the bracketed word is in force. */
	if (fgets(line, sizeof(line), f) && (open = strchr(line, '[')) &&
	    (close = strchr(open, ']')) && strncmp(open + 1, "none", 4) != 0) {
		*close = '\0';
		snprintf(buf, len, "%s", open + 1);
	}
	fclose(f);
}

/* A message for a refused open or mmap of a resource file. */
static void access_refused(const struct shim_source *src, const char *path, int saved, char *err,
			   size_t errlen)
{
	char lockdown[32];

	shim_lockdown_describe(src->sysfs_root, lockdown, sizeof(lockdown));
	if (lockdown[0] && (saved == EPERM || saved == EACCES))
		shim_errorf(err, errlen,
			    "region %s: %s: %s: the kernel is in lockdown (%s), which forbids "
			    "userspace access to PCI BARs; boot without lockdown (e.g. Secure "
			    "Boot off, or lockdown=none where allowed) to use the pci backend",
			    src->name, path, strerror(saved), lockdown);
	else if (saved == EPERM || saved == EACCES)
		shim_errorf(err, errlen,
			    "region %s: %s: %s: mapping a BAR needs root (CAP_SYS_ADMIN and write "
			    "access to sysfs)",
			    src->name, path, strerror(saved));
	else
		shim_errorf(err, errlen, "region %s: %s: %s", src->name, path, strerror(saved));
}

/* The region's size in a BAR of @bar_size bytes: src->size, or the rest of the
 * BAR after src->offset; the region must fit in the BAR and in a mapping. */
static int region_size(const struct shim_source *src, const char *fn, uint64_t bar_size,
		       uint64_t *size, char *err, size_t errlen)
{
	*size = src->size ? src->size : (src->offset < bar_size ? bar_size - src->offset : 0);
	if (src->offset >= bar_size || *size == 0 || *size > bar_size - src->offset) {
		shim_errorf(err, errlen,
			    "region %s: BAR %u of %s is 0x%" PRIx64 " bytes, too small for "
			    "[0x%" PRIx64 ", +0x%" PRIx64 ")",
			    src->name, src->bar, fn, bar_size, src->offset,
			    src->size ? (uint64_t)src->size : bar_size);
		return MMIO_EINVAL;
	}
	if (*size > SIZE_MAX / 2) {
		shim_errorf(err, errlen, "region %s: 0x%" PRIx64 " bytes is too large to map",
			    src->name, *size);
		return MMIO_EINVAL;
	}
	return MMIO_OK;
}

/* Opens the BAR's resource file (resourceN_wc for write-combining) into *@fd;
 * its path goes to @path, for the messages of a later mmap. */
static int resource_open(const struct shim_source *src, const char *fn, unsigned long flags,
			 char path[PATH_MAX], int *fd, char *err, size_t errlen)
{
	int saved;

	snprintf(path, PATH_MAX, "%s/bus/pci/devices/%s/resource%u%s", sysfs(src), fn, src->bar,
		 src->cache == MMIO_CACHE_WRITE_COMBINING ? "_wc" : "");
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd >= 0)
		return MMIO_OK;
	saved = errno;
	if (saved == ENOENT && src->cache == MMIO_CACHE_WRITE_COMBINING) {
		shim_errorf(err, errlen,
			    "region %s: write-combining is not available for BAR %u of %s "
			    "(%s; the kernel offers it for prefetchable BARs only): use "
			    "cache: uncached",
			    src->name, src->bar, fn,
			    flags & IORESOURCE_PREFETCH ? "no resource_wc file"
							: "not prefetchable");
		return MMIO_EINVAL;
	}
	access_refused(src, path, saved, err, errlen);
	return saved == ENOENT ? MMIO_ENOENT : saved == EMFILE ? MMIO_ENOMEM : MMIO_EACCES;
}

/* The function, BAR and physical range @src names, without mapping it. */
static int pci_locate(const struct shim_source *src, char fn[PCI_FUNCTION_NAMELEN], uint64_t *start,
		      uint64_t *bar_size, uint64_t *size, unsigned long *flags, char *err,
		      size_t errlen)
{
	uint64_t end;
	int status;

	if (src->bar >= PCI_STD_NUM_BARS) {
		shim_errorf(err, errlen, "region %s: BAR %u does not exist (0 to 5)", src->name,
			    src->bar);
		return MMIO_EINVAL;
	}
	status = function_find(src, fn, err, errlen);
	if (status == MMIO_OK)
		status = bar_read(src, fn, start, &end, flags, err, errlen);
	if (status != MMIO_OK)
		return status;
	*bar_size = end - *start + 1;
	return region_size(src, fn, *bar_size, size, err, errlen);
}

int shim_pci_resolve(const struct shim_source *src, struct shim_resolved *out, char *err,
		     size_t errlen)
{
	char fn[PCI_FUNCTION_NAMELEN];
	uint64_t start, bar_size, size;
	unsigned long flags;
	int status = pci_locate(src, fn, &start, &bar_size, &size, &flags, err, errlen);

	memset(out, 0, sizeof(*out));
	if (status != MMIO_OK)
		return status;
	snprintf(out->where, sizeof(out->where), "%s BAR%u", fn, src->bar);
	out->phys = start + src->offset;
	out->size = size;
	return MMIO_OK;
}

static int pci_open(const struct shim_source *src, struct shim_device *dev, char *err,
		    size_t errlen)
{
	char fn[PCI_FUNCTION_NAMELEN], path[PATH_MAX], drv[64];
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start, bar_size, size, aligned, delta;
	unsigned long flags;
	size_t map_len;
	void *map;
	int fd, status, saved;

	status = pci_locate(src, fn, &start, &bar_size, &size, &flags, err, errlen);
	if (status != MMIO_OK)
		return status;
	/* Two masters of one device is a bug waiting to happen. */
	if (driver_bound(src, fn, drv, sizeof(drv))) {
		shim_errorf(err, errlen,
			    "region %s: %s is claimed by the kernel driver %s; unbind it first "
			    "(echo %s > /sys/bus/pci/drivers/%s/unbind)",
			    src->name, fn, drv, fn, drv);
		return MMIO_EBUSY;
	}
	status = resource_open(src, fn, flags, path, &fd, err, errlen);
	if (status != MMIO_OK)
		return status;

	/* mmap wants a page-aligned offset: map from the page that holds byte 0. */
	aligned = src->offset & ~(uint64_t)(page - 1);
	delta = src->offset - aligned;
	map_len = (size_t)((delta + size + (uint64_t)page - 1) & ~(uint64_t)(page - 1));
	map = shim_mmap_placed(map_len, PROT_READ | PROT_WRITE, fd, aligned, 0);
	if (map == MAP_FAILED) {
		saved = errno;
		access_refused(src, path, saved, err, errlen);
		close(fd);
		return saved == ENOMEM ? MMIO_ENOMEM : MMIO_EACCES;
	}
	dev->map = map;
	dev->map_len = map_len;
	dev->base = (uint8_t *)map + delta;
	dev->size = (size_t)size;
	dev->source_size = bar_size;
	snprintf(dev->where, sizeof(dev->where), "%s BAR%u", fn, src->bar);
	dev->phys = start + src->offset;
	if (src->offset == 0 && size == bar_size && size % (uint64_t)page == 0) {
		dev->fd = fd;
		dev->fd_offset = 0;
	} else {
		close(fd);
		dev->fd = -1;
	}
	return MMIO_OK;
}

static void pci_close(struct shim_device *dev)
{
	if (dev->map)
		munmap(dev->map, dev->map_len);
	if (dev->fd >= 0)
		close(dev->fd);
}

const struct shim_backend shim_backend_pci = {
	.name = "pci",
	.cache_mask =
		SHIM_CACHE_BIT(MMIO_CACHE_UNCACHED) | SHIM_CACHE_BIT(MMIO_CACHE_WRITE_COMBINING),
	.open = pci_open,
	.close = pci_close,
};
