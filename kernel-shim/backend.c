/* SPDX-License-Identifier: MIT */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct shim_backend *const backends[] = {
	&shim_backend_sim,
	&shim_backend_pci,
	&shim_backend_devmem,
};

void shim_errorf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const struct shim_backend *shim_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	}
	return NULL;
}

/* "write-back" or "uncached, write-combining": what @mask allows, for messages. */
static void cache_mask_describe(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i <= MMIO_CACHE_MAX; i++) {
		if (!(mask & SHIM_CACHE_BIT(i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
				 mmio_cache_name(i));
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

int shim_device_open(const struct shim_source *src, struct shim_device *dev, char *err,
		     size_t errlen)
{
	const struct shim_backend *be;
	const char *name = src->name ? src->name : "(unnamed)";
	struct shim_source named;
	char allowed[96];
	int status;

	memset(dev, 0, sizeof(*dev));
	dev->fd = -1;
	be = src->backend ? shim_backend_find(src->backend) : NULL;
	if (!be) {
		shim_errorf(err, errlen, "region %s: no backend called \"%s\" in this build", name,
			    src->backend ? src->backend : "(none)");
		return MMIO_ENOENT;
	}
	if (!(be->cache_mask & SHIM_CACHE_BIT(src->cache))) {
		cache_mask_describe(be->cache_mask, allowed, sizeof(allowed));
		shim_errorf(
			err, errlen,
			"region %s: the %s backend cannot map with cache policy %s (it can: %s)",
			name, be->name, mmio_cache_name(src->cache), allowed);
		return MMIO_EINVAL;
	}
	/* Backends may rely on a name for their messages. */
	named = *src;
	named.name = name;
	status = be->open(&named, dev, err, errlen);
	if (status != MMIO_OK) {
		memset(dev, 0, sizeof(*dev));
		dev->fd = -1;
		return status;
	}
	dev->backend = be;
	dev->cache = src->cache;
	return MMIO_OK;
}

void shim_device_close(struct shim_device *dev)
{
	if (!dev || !dev->backend)
		return;
	dev->backend->close(dev);
	memset(dev, 0, sizeof(*dev));
	dev->fd = -1;
}
