/* SPDX-License-Identifier: MIT */
/*
 * The check before every operation. All arithmetic is on uint64_t, which
 * holds any size_t, and is written so that nothing can wrap: a range is
 * inside [start, end) when offset >= start, offset <= end and
 * len <= end - offset.
 */
#include "internal.h"

#include <stdlib.h>

const char *cfg_op_name(enum cfg_op op)
{
	switch (op) {
	case CFG_OP_LIST:
		return "list";
	case CFG_OP_OPEN:
		return "open";
	case CFG_OP_READ_ONCE:
		return "read_once";
	case CFG_OP_WRITE_ONCE:
		return "write_once";
	case CFG_OP_READ:
		return "read";
	case CFG_OP_WRITE:
		return "write";
	case CFG_OP_FILL:
		return "fill";
	case CFG_OP_POLL:
		return "poll";
	case CFG_OP_MAP:
		return "map";
	}
	return "?";
}

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

static bool width_valid(unsigned width)
{
	return width == 1 || width == 2 || width == 4 || width == 8;
}

/* Is [offset, offset + len) inside @g's range? Overflow-safe. */
static bool range_inside(const struct cfg_grant *g, uint64_t offset, uint64_t len)
{
	uint64_t end = cfg_grant_end(g);

	return offset >= g->offset && offset <= end && len <= end - offset;
}

/* What @op needs from a grant: op class and access bits. */
static void op_needs(enum cfg_op op, unsigned *ops, unsigned *access)
{
	*ops = 0;
	*access = 0;
	switch (op) {
	case CFG_OP_LIST:
	case CFG_OP_OPEN:
		break;
	case CFG_OP_READ_ONCE:
		*ops = MMIO_OPS_ONCE;
		*access = MMIO_ACCESS_READ;
		break;
	case CFG_OP_WRITE_ONCE:
		*ops = MMIO_OPS_ONCE;
		*access = MMIO_ACCESS_WRITE;
		break;
	case CFG_OP_READ:
		*ops = MMIO_OPS_BULK;
		*access = MMIO_ACCESS_READ;
		break;
	case CFG_OP_WRITE:
		*ops = MMIO_OPS_BULK;
		*access = MMIO_ACCESS_WRITE;
		break;
	case CFG_OP_FILL:
		*ops = MMIO_OPS_FILL;
		*access = MMIO_ACCESS_WRITE;
		break;
	case CFG_OP_POLL:
		*ops = MMIO_OPS_POLL;
		*access = MMIO_ACCESS_READ;
		break;
	case CFG_OP_MAP:
		*ops = MMIO_OPS_MAP;
		*access = MMIO_ACCESS_READ;
		break;
	}
}

static bool is_width_op(enum cfg_op op)
{
	return op == CFG_OP_READ_ONCE || op == CFG_OP_WRITE_ONCE || op == CFG_OP_POLL;
}

static bool is_bulk_op(enum cfg_op op)
{
	return op == CFG_OP_READ || op == CFG_OP_WRITE || op == CFG_OP_FILL;
}

/* MMIO_EINVAL for requests malformed whatever the policy says. */
static int request_check(enum cfg_op op, unsigned width)
{
	if ((unsigned)op > CFG_OP_MAP)
		return MMIO_EINVAL;
	if (is_width_op(op) && !width_valid(width))
		return MMIO_EINVAL;
	if (is_bulk_op(op) && width != 0 && !width_valid(width))
		return MMIO_EINVAL;
	return MMIO_OK;
}

/* Does @g give @op (class, access, width), whatever the range? */
static bool grant_permits(const struct cfg_grant *g, enum cfg_op op, unsigned width)
{
	unsigned ops, access;

	op_needs(op, &ops, &access);
	if ((g->ops & ops) != ops || (g->access & access) != access)
		return false;
	if (is_width_op(op))
		return (g->widths & width) != 0;
	if (is_bulk_op(op))
		return width == 0 ? g->widths == MMIO_WIDTHS_ALL : (g->widths & width) != 0;
	return true;
}

/* The range part of the check, once @g permits @op. */
static int grant_range_check(const struct cfg_grant *g, enum cfg_op op, uint64_t offset,
			     uint64_t len, unsigned width)
{
	if (is_width_op(op))
		len = width;
	if (op == CFG_OP_OPEN)
		return len != 0 && range_inside(g, offset, len) ? MMIO_OK : MMIO_EACCES;
	if (!range_inside(g, offset, len))
		return MMIO_EINVAL;
	if (op == CFG_OP_MAP) {
		uint64_t start = cfg_region_base(g->region) + offset;

		if (len == 0 || start % CFG_PAGE_SIZE != 0 || len % CFG_PAGE_SIZE != 0)
			return MMIO_EINVAL;
	}
	return MMIO_OK;
}

int cfg_grant_check(const struct cfg_grant *g, enum cfg_op op, size_t offset, size_t len,
		    unsigned width)
{
	int rc = request_check(op, width);

	if (rc != MMIO_OK)
		return rc;
	if (op == CFG_OP_LIST)
		return MMIO_OK;
	if (!grant_permits(g, op, width))
		return MMIO_EACCES;
	return grant_range_check(g, op, offset, len, width);
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

int cfg_policy_authorize(const cfg_policy *p, const struct cfg_peer *peer, size_t region,
			 enum cfg_op op, size_t offset, size_t len, unsigned width,
			 const struct cfg_grant **grant)
{
	const struct cfg_grant *first = NULL;
	bool permitted = false;
	int rc;

	if (region >= p->region_count)
		return MMIO_ENOENT;
	first = cfg_policy_next_grant(p, peer, region, NULL);
	if (first == NULL)
		return MMIO_ENOENT;
	if (op == CFG_OP_LIST) {
		if (grant != NULL)
			*grant = first;
		return MMIO_OK;
	}
	rc = request_check(op, width);
	if (rc != MMIO_OK)
		return rc;

	for (const struct cfg_grant *g = first; g != NULL;
	     g = cfg_policy_next_grant(p, peer, region, g)) {
		if (!grant_permits(g, op, width))
			continue;
		permitted = true;
		if (grant_range_check(g, op, offset, len, width) == MMIO_OK) {
			if (grant != NULL)
				*grant = g;
			return MMIO_OK;
		}
	}
	if (op == CFG_OP_OPEN || !permitted)
		return MMIO_EACCES;
	return MMIO_EINVAL;
}
