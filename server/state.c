/* SPDX-License-Identifier: MIT */
/*
 * Policy generations: an immutable policy plus the mapped devices of its
 * regions. Requests hold a reference to the generation they started under,
 * so a reload never pulls a policy or a mapping out from under one.
 */
#include "log.h"
#include "server.h"

#include <mmio/config_shim.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The server-wide state (server.h). */
struct srv srv = {
	.gen_lock = PTHREAD_MUTEX_INITIALIZER,
	.handles_lock = PTHREAD_MUTEX_INITIALIZER,
};

void srv_limits_apply(const struct cfg_server *cs)
{
	srv.max_sessions = cs->max_sessions;
	srv.max_handles = cs->max_handles;
	srv.max_poll_us = cs->max_poll_us;
	srv.max_requests = cs->max_requests;
	srv.max_buffers = cs->max_buffers;
	srv.max_buffer_bytes = cs->max_buffer_bytes;
	srv.max_sessions_per_uid = cs->max_sessions_per_uid;
	srv.ungranted_sessions = cs->ungranted_sessions;
	srv.max_requests_per_uid = cs->max_requests_per_uid;
	srv.max_requests_total = cs->max_requests_total;
	srv.ungranted_requests = cs->ungranted_requests;
	srv.max_polls_per_uid = cs->max_polls_per_uid;
	srv.max_polls_total = cs->max_polls_total;
}

static atomic_ulong generation_ids;

/* The line that says what a region resolved to: its function, BAR and
 * physical range where it has them. */
static void device_log(const struct cfg_region *r, const char *source, const struct shim_device *d)
{
	if (d->phys)
		srv_info("region %s: mapped %s at %s, phys [0x%" PRIx64 ", 0x%" PRIx64
			 ") (%zu bytes)",
			 r->name, source, d->where, d->phys, d->phys + d->size, d->size);
	else
		srv_info("region %s: mapped %s%s%s (%zu bytes)", r->name, source,
			 d->where[0] ? " at " : "", d->where, d->size);
}

void srv_device_place(const struct srv_device *d, uint64_t off, uint64_t *phys,
		      char where[PROTO_WHERE_MAX + 1])
{
	*phys = d->dev.phys ? d->dev.phys + off : 0;
	snprintf(where, PROTO_WHERE_MAX + 1, "%s", d->dev.where);
}

/* What a region maps; two regions with the same name and source share a device. */
static void region_source(const struct cfg_region *r, char *buf, size_t len)
{
	switch (r->source) {
	case CFG_SOURCE_SIM:
		snprintf(buf, len, "sim size=%" PRIu64 " cache=%s", r->size,
			 mmio_cache_name(r->cache));
		break;
	case CFG_SOURCE_PCI:
		snprintf(buf, len,
			 "pci %04x:%02x:%02x.%u bar=%u offset=%" PRIu64 " size=%" PRIu64
			 " cache=%s",
			 r->pci.domain, r->pci.bus, r->pci.device, r->pci.function, r->bar,
			 r->offset, r->size, mmio_cache_name(r->cache));
		break;
	case CFG_SOURCE_PCI_ID:
		snprintf(buf, len,
			 "pci_id %04x:%04x index=%u bar=%u offset=%" PRIu64 " size=%" PRIu64
			 " cache=%s",
			 r->vendor_id, r->device_id, r->pci_index, r->bar, r->offset, r->size,
			 mmio_cache_name(r->cache));
		break;
	case CFG_SOURCE_PHYS:
		snprintf(buf, len, "phys 0x%" PRIx64 " size=%" PRIu64 " cache=%s", r->phys, r->size,
			 mmio_cache_name(r->cache));
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
}

static int device_open(const struct cfg_region *r, const char *source, struct srv_device **out,
		       char *err, size_t errlen)
{
	struct srv_device *d = calloc(1, sizeof(*d));
	struct shim_source src = cfg_region_shim_source(r);
	int status;

	/* Fault injection from outside (the test suites shrink the memfd). */
	src.resizable = r->source == CFG_SOURCE_SIM && getenv("MMIO_SIM_RESIZABLE") &&
			strcmp(getenv("MMIO_SIM_RESIZABLE"), "1") == 0;

	if (!d) {
		snprintf(err, errlen, "region %s: out of memory", r->name);
		return MMIO_ENOMEM;
	}
	status = shim_device_open(&src, &d->dev, err, errlen);
	if (status != MMIO_OK) {
		free(d);
		return status;
	}
	if (src.resizable)
		srv_warn("region %s: sim memory left resizable (MMIO_SIM_RESIZABLE=1): a client "
			 "with a read-write direct grant can resize it",
			 r->name);
	atomic_init(&d->refs, 1);
	snprintf(d->name, sizeof(d->name), "%s", r->name);
	snprintf(d->source, sizeof(d->source), "%s", source);
	shim_window_init(&d->win, d->dev.base, d->dev.size, 0);
	srv_device_window_spec(d, r);
	*out = d;
	return MMIO_OK;
}

/* Collects the first message of cfg_policy_resolve_size() into a buffer. */
struct resolve_report {
	char *err;
	size_t errlen;
	bool seen;
};

static void resolve_report(void *ctx, const struct cfg_diag *diag)
{
	struct resolve_report *rr = ctx;

	if (rr->seen)
		return;
	rr->seen = true;
	if (diag->line)
		snprintf(rr->err, rr->errlen, "%s:%u:%u: %s", diag->file, diag->line, diag->column,
			 diag->message);
	else
		snprintf(rr->err, rr->errlen, "%s: %s", diag->file, diag->message);
}

/*
 * A PCI region written without `size` reaches to the end of its BAR: now
 * that the backend has found the BAR, tell the policy, which checks its
 * grants against the real size.
 */
static int size_resolve(cfg_policy *policy, size_t i, const struct cfg_region *r,
			const struct srv_device *d, char *err, size_t errlen)
{
	struct resolve_report rr = { err, errlen, false };

	if ((r->source != CFG_SOURCE_PCI && r->source != CFG_SOURCE_PCI_ID) || r->size != 0)
		return MMIO_OK;
	if (cfg_policy_resolve_size(policy, i, d->dev.source_size, resolve_report, &rr) == MMIO_OK)
		return MMIO_OK;
	if (!rr.seen)
		snprintf(err, errlen, "region %s: its grants do not fit its BAR", r->name);
	return MMIO_EINVAL;
}

void srv_device_unref(struct srv_device *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		shim_device_close(&d->dev);
		free(d);
	}
}

static struct srv_device *device_reuse(const struct srv_generation *prev, const char *name,
				       const char *source)
{
	for (size_t i = 0; prev && i < prev->ndevices; i++) {
		struct srv_device *d = prev->devices[i];
		if (strcmp(d->name, name) == 0 && strcmp(d->source, source) == 0) {
			atomic_fetch_add(&d->refs, 1);
			return d;
		}
	}
	return NULL;
}

int srv_generation_build(cfg_policy *policy, const struct srv_generation *prev,
			 struct srv_generation **out, char *err, size_t errlen)
{
	size_t n = cfg_policy_region_count(policy);
	struct srv_generation *g = calloc(1, sizeof(*g));
	int status = MMIO_ENOMEM;

	if (!g || !(g->devices = calloc(n ? n : 1, sizeof(g->devices[0])))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_region *r = cfg_policy_region(policy, i);
		char source[160];

		region_source(r, source, sizeof(source));
		g->devices[i] = device_reuse(prev, r->name, source);
		if (!g->devices[i]) {
			status = device_open(r, source, &g->devices[i], err, errlen);
			if (status != MMIO_OK)
				goto fail;
			device_log(r, source, &g->devices[i]->dev);
		}
		g->ndevices = i + 1;
		status = size_resolve(policy, i, r, g->devices[i], err, errlen);
		if (status != MMIO_OK)
			goto fail;
	}
	atomic_init(&g->refs, 1);
	g->id = atomic_fetch_add(&generation_ids, 1) + 1;
	g->policy = policy;
	*out = g;
	return MMIO_OK;

fail:
	if (g) {
		for (size_t i = 0; i < g->ndevices; i++)
			srv_device_unref(g->devices[i]);
		free(g->devices);
		free(g);
	}
	return status;
}

void srv_generation_ref(struct srv_generation *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void srv_generation_unref(struct srv_generation *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (size_t i = 0; i < g->ndevices; i++)
		srv_device_unref(g->devices[i]);
	free(g->devices);
	cfg_policy_free(g->policy);
	free(g);
}

struct srv_generation *srv_current(void)
{
	struct srv_generation *g;

	pthread_mutex_lock(&srv.gen_lock);
	g = srv.gen;
	srv_generation_ref(g);
	pthread_mutex_unlock(&srv.gen_lock);
	return g;
}
