/* SPDX-License-Identifier: MIT */
/*
 * Who a grant is for, and which grant gives an OPEN. All arithmetic is on
 * uint64_t and is written so that nothing can wrap: a range is inside
 * [start, end) when offset >= start, offset <= end and len <= end - offset.
 */
#include "internal.h"

#include <stdlib.h>

bool cfg_client_matches(const struct cfg_client *client, const struct cfg_peer *peer)
{
	static const unsigned group_keys[] = { CFG_MATCH_GID, CFG_MATCH_GROUP };

	if (client->match == 0)
		return false;
	if ((client->match & CFG_MATCH_UID) && peer->uid != client->uid)
		return false;
	for (size_t k = 0; k < 2; k++) {
		gid_t want = group_keys[k] == CFG_MATCH_GID ? client->gid : client->group;
		bool member;

		if (!(client->match & group_keys[k]))
			continue;
		member = peer->gid == want;
		for (size_t i = 0; !member && peer->groups != NULL && i < peer->group_count; i++)
			member = peer->groups[i] == want;
		if (!member)
			return false;
	}
	return true;
}

/* Is [offset, offset + len) inside @g's range? Overflow-safe. */
static bool range_inside(const struct cfg_grant *g, uint64_t offset, uint64_t len)
{
	uint64_t end = cfg_grant_end(g);

	return offset >= g->offset && offset <= end && len <= end - offset;
}

const struct cfg_grant *cfg_policy_next_grant(const cfg_policy *p, const struct cfg_peer *peer,
					      size_t region, const struct cfg_grant *prev)
{
	size_t i = prev == NULL ? 0 : (size_t)(prev - p->grants) + 1;

	if (region != CFG_ANY_REGION && region >= p->region_count)
		return NULL;
	for (; i < p->grant_count; i++) {
		const struct cfg_grant *g = &p->grants[i];

		if (region != CFG_ANY_REGION && g->region != &p->regions[region])
			continue;
		if (cfg_client_matches(g->client, peer))
			return g;
	}
	return NULL;
}

int cfg_policy_open_grant(const cfg_policy *p, const struct cfg_peer *peer, size_t region,
			  uint64_t offset, uint64_t len, unsigned need_ops,
			  const struct cfg_grant **grant)
{
	const struct cfg_grant *g;

	/* Not CFG_ANY_REGION either: an OPEN is of one region. */
	if (region >= p->region_count)
		return MMIO_ENOENT;
	g = cfg_policy_next_grant(p, peer, region, NULL);
	if (g == NULL)
		return MMIO_ENOENT;
	for (; g != NULL; g = cfg_policy_next_grant(p, peer, region, g)) {
		if (len != 0 && range_inside(g, offset, len) &&
		    mmio_rights_check(g->ops, g->access, g->widths, need_ops, 0, 0) == MMIO_OK) {
			*grant = g;
			return MMIO_OK;
		}
	}
	return MMIO_EACCES;
}
