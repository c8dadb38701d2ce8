/* SPDX-License-Identifier: MIT */
/* The policy object: accessors and release. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void cfg_policy_free(cfg_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->string_count; i++)
		free(p->strings[i]);
	free(p->strings);
	free(p->regions);
	free(p->clients);
	free(p->grants);
	free(p->registers);
	free(p->register_names);
	free(p);
}

const char *cfg_policy_file(const cfg_policy *p)
{
	return p->file;
}

const struct cfg_server *cfg_policy_server(const cfg_policy *p)
{
	return &p->server;
}

size_t cfg_policy_region_count(const cfg_policy *p)
{
	return p->region_count;
}

const struct cfg_region *cfg_policy_region(const cfg_policy *p, size_t i)
{
	return i < p->region_count ? &p->regions[i] : NULL;
}

int cfg_policy_region_find(const cfg_policy *p, const char *name, size_t *index)
{
	for (size_t i = 0; i < p->region_count; i++) {
		if (p->regions[i].name != NULL && strcmp(p->regions[i].name, name) == 0) {
			*index = i;
			return MMIO_OK;
		}
	}
	return MMIO_ENOENT;
}

size_t cfg_policy_client_count(const cfg_policy *p)
{
	return p->client_count;
}

const struct cfg_client *cfg_policy_client(const cfg_policy *p, size_t i)
{
	return i < p->client_count ? &p->clients[i] : NULL;
}

uint64_t cfg_region_base(const struct cfg_region *r)
{
	switch (r->source) {
	case CFG_SOURCE_PHYS:
		return r->phys;
	case CFG_SOURCE_PCI:
	case CFG_SOURCE_PCI_ID:
		return r->offset;
	case CFG_SOURCE_SIM:
		break;
	}
	return 0;
}

uint64_t cfg_grant_end(const struct cfg_grant *g)
{
	if (g->size == 0)
		return UINT64_MAX;
	return g->offset + g->size;
}
