/* SPDX-License-Identifier: MIT */
/*
 * sim: simulated device memory, a memfd mapped shared. Ordinary RAM, so the
 * only cache policy it honours is write-back. The memfd is a descriptor
 * that can be handed to a client for a direct grant, so its size is sealed:
 * a client holding it read-write could otherwise ftruncate the device away
 * under everyone (SIGBUS, data lost) or grow it without bound. A device
 * opened resizable is not sealed: shrinking its memfd under the mapping
 * makes accesses past the new end raise a real SIGBUS (fault injection for
 * tests and demos).
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int sim_errno_status(int err)
{
	return err == ENOMEM || err == EMFILE || err == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
}

static int sim_open(const struct shim_source *src, struct shim_device *dev, char *err,
		    size_t errlen)
{
	const char *name = src->name;
	int fd, saved;
	void *base;

	if (src->size == 0) {
		shim_errorf(err, errlen, "region %s: a sim device needs a size greater than 0",
			    name);
		return MMIO_EINVAL;
	}
	/*
	 * The descriptor may be handed to clients (direct grants): sealed
	 * (below) with F_SEAL_SEAL last, so that none can add a seal against
	 * the others (F_SEAL_FUTURE_WRITE would stop every later writable
	 * mapping), and mode 0600, so that a read-only descriptor cannot be
	 * reopened read-write through /proc by anyone but the server's own uid
	 * (a memfd starts at 0777). Without MFD_ALLOW_SEALING, a resizable
	 * memfd starts with F_SEAL_SEAL alone.
	 */
	fd = memfd_create(name, MFD_CLOEXEC | (src->resizable ? 0 : MFD_ALLOW_SEALING));
	if (fd < 0) {
		saved = errno;
		shim_errorf(err, errlen, "region %s: memfd_create: %s", name, strerror(saved));
		return sim_errno_status(saved);
	}
	if (fchmod(fd, 0600) != 0) {
		saved = errno;
		shim_errorf(err, errlen, "region %s: fchmod of its memfd: %s", name,
			    strerror(saved));
		goto fail_fd;
	}
	if (ftruncate(fd, (off_t)src->size) != 0) {
		saved = errno;
		shim_errorf(err, errlen, "region %s: cannot size sim memory to %zu bytes: %s", name,
			    src->size, strerror(saved));
		goto fail_fd;
	}
	if (!src->resizable &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		saved = errno;
		shim_errorf(err, errlen, "region %s: cannot seal its memfd: %s", name,
			    strerror(saved));
		goto fail_fd;
	}
	base = shim_mmap_placed(src->size, PROT_READ | PROT_WRITE, fd, 0, 0);
	if (base == MAP_FAILED) {
		saved = errno;
		shim_errorf(err, errlen, "region %s: mmap of %zu bytes: %s", name, src->size,
			    strerror(saved));
		goto fail_fd;
	}
	dev->base = base;
	dev->size = src->size;
	dev->source_size = src->size;
	dev->map = base;
	dev->map_len = src->size;
	dev->fd = fd;
	dev->fd_offset = 0;
	return MMIO_OK;

fail_fd:
	close(fd);
	return sim_errno_status(saved);
}

static void sim_close(struct shim_device *dev)
{
	if (dev->base)
		munmap(dev->base, dev->size);
	if (dev->fd >= 0)
		close(dev->fd);
}

const struct shim_backend shim_backend_sim = {
	.name = "sim",
	.cache_mask = SHIM_CACHE_BIT(MMIO_CACHE_WRITE_BACK),
	.open = sim_open,
	.close = sim_close,
};

int shim_sim_resize(struct shim_device *dev, size_t new_size)
{
	if (!dev || dev->backend != &shim_backend_sim || new_size > dev->size)
		return MMIO_EINVAL;
	if (ftruncate(dev->fd, (off_t)new_size) != 0)
		return MMIO_EINTERNAL;
	return MMIO_OK;
}
