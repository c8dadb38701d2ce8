/* SPDX-License-Identifier: MIT */
/*
 * Phase 3 for the clients: section (build.h): each client's name and
 * identity, and its grants: (region, range, access, ops, widths); then the
 * overlaps between exclusive grants of different clients.
 */
#include "build.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The op class bit the policy calls @name (mmio_ops_name()); 0 if none. */
static unsigned op_bit(const char *name)
{
	for (unsigned bit = 1; bit & MMIO_OPS_ALL; bit <<= 1)
		if (strcmp(name, mmio_ops_name(bit)) == 0)
			return bit;
	return 0;
}

/* The node of the ops entry @bit, for messages about that op. */
static const struct cfg_node *op_node(const struct cfg_raw_grant *rg, const struct cfg_node *ops,
				      unsigned bit)
{
	for (unsigned k = 0; k < rg->ops_count; k++)
		if (op_bit(rg->ops[k]) == bit)
			return cfg_tree_item(ops, k);
	return ops;
}

static bool build_ops(struct cfg_builder *b, const struct cfg_raw_grant *rg,
		      const struct cfg_node *ops, struct cfg_grant *g)
{
	bool ok = true;

	if (rg->ops_count == 0) {
		ERR_AT(b, ops,
		       "ops is empty: list at least one of once, bulk, fill, poll, map, irq");
		return false;
	}
	for (unsigned k = 0; k < rg->ops_count; k++) {
		const struct cfg_node *n = cfg_tree_item(ops, k);
		struct cfg_quoted q;
		unsigned bit = op_bit(rg->ops[k]);

		if (bit == 0) {
			ERR_AT(b, n, "unknown op '%s' (ops are once, bulk, fill, poll, map, irq)",
			       cfg_quote(&q, rg->ops[k]));
			ok = false;
		} else if (g->ops & bit) {
			ERR_AT(b, n, "op '%s' is listed twice", mmio_ops_name(bit));
			ok = false;
		} else {
			g->ops |= bit;
		}
	}
	return ok;
}

bool cfg_parse_widths(struct cfg_builder *b, const struct cfg_node *widths, char **texts,
		      unsigned count, unsigned *bits)
{
	bool ok = true;

	*bits = 0;
	if (texts == NULL && widths == NULL) {
		*bits = MMIO_WIDTHS_ALL;
		return true;
	}
	if (count == 0) {
		ERR_AT(b, widths,
		       "widths is empty: list some of 1, 2, 4, 8 (or leave it out "
		       "for all)");
		return false;
	}
	for (unsigned k = 0; k < count; k++) {
		const struct cfg_node *n = cfg_tree_item(widths, k);
		struct cfg_quoted q;
		uint64_t w;

		if (!cfg_parse_number(b, n, "width", texts[k], 0, &w)) {
			ok = false;
		} else if (w > 8 || !mmio_width_valid((unsigned)w)) {
			ERR_AT(b, n, "width %s is not an access width (1, 2, 4 or 8 bytes)",
			       cfg_quote(&q, texts[k]));
			ok = false;
		} else if (*bits & w) {
			ERR_AT(b, n, "width %llu is listed twice", (unsigned long long)w);
			ok = false;
		} else {
			*bits |= (unsigned)w;
		}
	}
	return ok;
}

/*
 * The rules that tie a grant to its region: inside it, and page alignment
 * for map. Called at load and again by cfg_policy_resolve_size() once a
 * whole-BAR region's size is known (then without tree nodes: the grant's own
 * position is used). Whatever needs an unknown size waits for it.
 */
bool cfg_check_grant_range(struct cfg_sink *sink, const struct cfg_grant *g,
			   const struct cfg_node *range_node, const struct cfg_node *map_node)
{
	const struct cfg_region *r = g->region;
	unsigned line = range_node ? range_node->line : g->line;
	unsigned column = range_node ? range_node->column : g->column;
	struct cfg_quoted q;
	uint64_t base;

	if (r->size != 0 && g->offset >= r->size) {
		cfg_sink_error(sink, line, column,
			       "grant offset 0x%llx is past the end of region '%s' (size 0x%llx)",
			       (unsigned long long)g->offset, cfg_quote(&q, r->name),
			       (unsigned long long)r->size);
		return false;
	}
	if (r->size != 0 && !g->size_from_region && g->size > r->size - g->offset) {
		cfg_sink_error(sink, line, column,
			       "grant [0x%llx, 0x%llx) is outside region '%s' (size 0x%llx)",
			       (unsigned long long)g->offset,
			       (unsigned long long)(g->offset + g->size), cfg_quote(&q, r->name),
			       (unsigned long long)r->size);
		return false;
	}
	/* Once the BAR's size is known: every register inside it too. */
	for (size_t k = 0; range_node == NULL && g->size != 0 && k < g->register_count; k++) {
		const struct mmio_register *rg = &g->registers[k];
		uint64_t end = cfg_register_end(rg);

		if (end > g->offset + g->size) {
			cfg_sink_error(
				sink, line, column,
				"register at 0x%llx of the grant is outside region '%s': "
				"it ends at 0x%llx, past the grant's end 0x%llx (region size "
				"0x%llx)",
				(unsigned long long)rg->offset, cfg_quote(&q, r->name),
				(unsigned long long)end, (unsigned long long)(g->offset + g->size),
				(unsigned long long)r->size);
			return false;
		}
	}
	if (!(g->ops & MMIO_OPS_MAP))
		return true;
	base = cfg_region_base(r) + g->offset;
	if (base % CFG_PAGE_SIZE != 0 || g->size % CFG_PAGE_SIZE != 0) {
		cfg_sink_error(
			sink, map_node ? map_node->line : g->line,
			map_node ? map_node->column : g->column,
			"map needs a page-aligned range: grant at offset 0x%llx, size 0x%llx "
			"of region '%s' starts at device offset 0x%llx; start and size "
			"must be multiples of %d",
			(unsigned long long)g->offset, (unsigned long long)g->size,
			cfg_quote(&q, r->name), (unsigned long long)base, CFG_PAGE_SIZE);
		return false;
	}
	return true;
}

/* region: one the policy names; false too if that region was refused (its
 * problems are reported already). */
static bool grant_region(struct cfg_builder *b, const struct cfg_raw_grant *rg,
			 const struct cfg_node *gn, struct cfg_grant *g)
{
	struct cfg_quoted q;
	size_t idx;

	if (cfg_policy_region_find(b->p, rg->region, &idx) != MMIO_OK) {
		ERR_AT(b, cfg_tree_get(gn, "region"), "grant refers to unknown region '%s'",
		       cfg_quote(&q, rg->region));
		return false;
	}
	g->region = &b->p->regions[idx];
	return b->region_ok[idx];
}

/* offset: and size:; without a size, the grant runs to the region's end. */
static bool grant_span(struct cfg_builder *b, const struct cfg_raw_grant *rg,
		       const struct cfg_node *gn, struct cfg_grant *g)
{
	bool ok = true;

	if (rg->offset != NULL && !cfg_parse_number(b, cfg_tree_get(gn, "offset"), "offset",
						    rg->offset, CFG_NUM_SIZE_SUFFIX, &g->offset))
		ok = false;
	if (rg->size == NULL) {
		g->size_from_region = true;
		return ok;
	}
	if (!cfg_parse_size(b, cfg_tree_get(gn, "size"), rg->size, "offset", g->offset, &g->size))
		return false;
	return ok;
}

bool cfg_parse_access(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		      unsigned *bits)
{
	struct cfg_quoted q;

	for (unsigned access = 1; access <= MMIO_ACCESS_ALL; access++) {
		if (strcmp(text, mmio_access_name(access)) == 0) {
			*bits = access;
			return true;
		}
	}
	ERR_AT(b, n, "access '%s': write r, w or rw", cfg_quote(&q, text));
	return false;
}

/* Bulk, fill and map refused on a grant that is once-ops and polls only
 * (@where: what makes it so, for the message). */
static bool forbid_ops(struct cfg_builder *b, const struct cfg_raw_grant *rg,
		       const struct cfg_node *ops, const struct cfg_grant *g, const char *where)
{
	static const unsigned forbidden[] = { MMIO_OPS_BULK, MMIO_OPS_FILL, MMIO_OPS_MAP };
	bool ok = true;

	for (size_t k = 0; k < sizeof(forbidden) / sizeof(forbidden[0]); k++) {
		const char *name = mmio_ops_name(forbidden[k]);

		if (!(g->ops & forbidden[k]))
			continue;
		ERR_AT(b, op_node(rg, ops, forbidden[k]),
		       "%s is not allowed on %s (only once and poll)", name, where);
		ok = false;
	}
	return ok;
}

/* What the ops need of the access, and the ops a sensitive region, or a
 * grant with registers, refuses. */
static bool grant_op_rules(struct cfg_builder *b, const struct cfg_raw_grant *rg,
			   const struct cfg_node *ops, const struct cfg_grant *g, bool registers)
{
	struct cfg_quoted q;
	char where[128];
	bool ok = true;

	if ((g->ops & MMIO_OPS_POLL) && !(g->access & MMIO_ACCESS_READ)) {
		ERR_AT(b, op_node(rg, ops, MMIO_OPS_POLL),
		       "poll needs read access (access is '%s')", rg->access);
		ok = false;
	}
	if ((g->ops & MMIO_OPS_FILL) && !(g->access & MMIO_ACCESS_WRITE)) {
		ERR_AT(b, op_node(rg, ops, MMIO_OPS_FILL),
		       "fill needs write access (access is '%s')", rg->access);
		ok = false;
	}
	if ((g->ops & MMIO_OPS_MAP) && !(g->access & MMIO_ACCESS_READ)) {
		ERR_AT(b, op_node(rg, ops, MMIO_OPS_MAP),
		       "map needs read access: a mapping cannot be write-only (access is '%s')",
		       rg->access);
		ok = false;
	}
	/* An interrupt is a PCI function's: a simulated device or a physical
	 * range has none to grant. */
	if ((g->ops & MMIO_OPS_IRQ) && g->region->source != CFG_SOURCE_PCI &&
	    g->region->source != CFG_SOURCE_PCI_ID) {
		ERR_AT(b, op_node(rg, ops, MMIO_OPS_IRQ),
		       "irq needs a pci region: region '%s' is %s, which has no interrupt",
		       cfg_quote(&q, g->region->name), cfg_source_name(g->region->source));
		ok = false;
	}
	/* Every access through registers is checked at its register; a copy, a
	 * fill or a mapping would reach the bytes between them. */
	if (registers &&
	    !forbid_ops(b, rg, ops, g, "a grant with registers: each access is one register's"))
		ok = false;
	/* The registers' rule has refused the very ops a sensitive region would:
	 * one error per op, not two at the same place. */
	if (!g->region->sensitive || registers)
		return ok;
	snprintf(where, sizeof(where), "sensitive region '%s'", cfg_quote(&q, g->region->name));
	return forbid_ops(b, rg, ops, g, where) && ok;
}

static bool build_grant(struct cfg_builder *b, const struct cfg_raw_grant *rg,
			const struct cfg_node *gn, struct cfg_client *c, struct cfg_grant *g)
{
	const struct cfg_node *ops = cfg_tree_get(gn, "ops");
	bool ok = true;

	g->client = c;
	g->line = gn->line;
	g->column = gn->column;
	if (!grant_region(b, rg, gn, g))
		ok = false;
	if (!grant_span(b, rg, gn, g))
		ok = false;
	if (!cfg_parse_access(b, cfg_tree_get(gn, "access"), rg->access, &g->access))
		ok = false;
	if (!build_ops(b, rg, ops, g))
		ok = false;
	if (!cfg_parse_widths(b, cfg_tree_get(gn, "widths"), rg->widths, rg->widths_count,
			      &g->widths))
		ok = false;
	if (rg->exclusive != NULL && !cfg_parse_bool(b, cfg_tree_get(gn, "exclusive"), "exclusive",
						     rg->exclusive, &g->exclusive))
		ok = false;
	if (!ok)
		return false;

	ok = grant_op_rules(b, rg, ops, g, cfg_tree_get(gn, "registers") != NULL);
	if (g->size_from_region)
		g->size = g->region->size > g->offset ? g->region->size - g->offset : 0;
	if (ok && !cfg_check_grant_range(b->sink, g,
					 cfg_tree_get(gn, rg->size != NULL ? "size" : "offset"),
					 op_node(rg, ops, MMIO_OPS_MAP)))
		ok = false;
	if (ok && cfg_tree_get(gn, "registers") != NULL && !cfg_build_registers(b, rg, gn, g))
		ok = false;
	return ok;
}

/* A numeric uid or gid. (uid_t)-1 and (gid_t)-1 mean "no id" to chown(2) and
 * friends, so neither is a valid id here. */
static bool parse_id(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		     const char *text, uint32_t *id)
{
	uint64_t v;

	if (!cfg_parse_ranged(b, n, what, text, 0, UINT32_MAX - 1, &v))
		return false;
	*id = (uint32_t)v;
	return true;
}

/* uid: and user:, which must agree. */
static bool client_uid(struct cfg_builder *b, const struct cfg_raw_client *rc,
		       const struct cfg_node *cn, struct cfg_client *c)
{
	const struct cfg_node *n = cfg_tree_get(cn, "user");
	struct cfg_quoted q;
	bool ok = true;
	uid_t uid;

	if (rc->uid != NULL) {
		if (parse_id(b, cfg_tree_get(cn, "uid"), "uid", rc->uid, &c->uid))
			c->match |= CFG_MATCH_UID;
		else
			ok = false;
	}
	if (rc->user == NULL)
		return ok;
	if (!cfg_resolve_user(b, n, rc->user, &uid))
		return false;
	if ((c->match & CFG_MATCH_UID) && uid != c->uid) {
		ERR_AT(b, n, "user '%s' is uid %lu but uid is %lu: no peer can match both",
		       cfg_quote(&q, rc->user), (unsigned long)uid, (unsigned long)c->uid);
		ok = false;
	}
	c->uid = uid;
	c->match |= CFG_MATCH_UID;
	c->user_name = cfg_own(b, rc->user);
	return ok;
}

/* gid: and group:; a peer must match every identity key given. */
static bool client_gid(struct cfg_builder *b, const struct cfg_raw_client *rc,
		       const struct cfg_node *cn, struct cfg_client *c)
{
	bool ok = true;

	if (rc->gid != NULL) {
		if (parse_id(b, cfg_tree_get(cn, "gid"), "gid", rc->gid, &c->gid))
			c->match |= CFG_MATCH_GID;
		else
			ok = false;
	}
	if (rc->group != NULL) {
		if (cfg_resolve_group(b, cfg_tree_get(cn, "group"), rc->group, &c->group)) {
			c->match |= CFG_MATCH_GROUP;
			c->group_name = cfg_own(b, rc->group);
		} else {
			ok = false;
		}
	}
	return ok;
}

static bool build_client(struct cfg_builder *b, size_t i, const struct cfg_raw_client *rc,
			 const struct cfg_node *cn, size_t first_grant)
{
	struct cfg_client *c = &b->p->clients[i];
	const struct cfg_node *grants = cfg_tree_get(cn, "grants");
	struct cfg_quoted q;
	bool ok;

	c->line = cn->line;
	c->column = cn->column;
	ok = cfg_own_name(b, cfg_tree_get(cn, "name"), "client", rc->name, &c->name);
	for (size_t j = 0; j < i; j++) {
		const struct cfg_client *earlier = &b->p->clients[j];

		if (cfg_name_taken(b, cfg_tree_get(cn, "name"), "client", rc->name, earlier->name,
				   earlier->line, earlier->column)) {
			ok = false;
			break;
		}
	}
	if (rc->uid == NULL && rc->gid == NULL && rc->user == NULL && rc->group == NULL) {
		ERR_AT(b, cn, "client '%s' has no identity: give uid, gid, user or group",
		       cfg_quote(&q, rc->name));
		ok = false;
	}
	if (!client_uid(b, rc, cn, c))
		ok = false;
	if (!client_gid(b, rc, cn, c))
		ok = false;

	c->grants = &b->p->grants[first_grant];
	c->grant_count = rc->grants_count;
	for (unsigned k = 0; k < rc->grants_count; k++) {
		size_t gi = first_grant + k;

		b->grant_ok[gi] = build_grant(b, &rc->grants[k], cfg_tree_item(grants, k), c,
					      &b->p->grants[gi]);
		if (!b->grant_ok[gi])
			ok = false;
	}
	return ok;
}

static void check_exclusive_overlaps(struct cfg_builder *b)
{
	const cfg_policy *p = b->p;

	for (size_t j = 1; j < p->grant_count; j++) {
		const struct cfg_grant *gj = &p->grants[j];

		if (!b->grant_ok[j] || !gj->exclusive)
			continue;
		for (size_t i = 0; i < j; i++) {
			const struct cfg_grant *gi = &p->grants[i];
			struct cfg_quoted q1, q2, q3;

			if (!b->grant_ok[i] || !gi->exclusive || gi->region != gj->region ||
			    gi->client == gj->client)
				continue;
			if (gi->offset >= cfg_grant_end(gj) || gj->offset >= cfg_grant_end(gi))
				continue;
			cfg_sink_error(b->sink, gj->line, gj->column,
				       "exclusive grant of client '%s' on region '%s' overlaps the "
				       "exclusive grant of client '%s' (line %u): only one client "
				       "can hold a range exclusively",
				       cfg_quote(&q1, gj->client->name),
				       cfg_quote(&q2, gj->region->name),
				       cfg_quote(&q3, gi->client->name), gi->line);
			break;
		}
	}
}

void cfg_build_clients(struct cfg_builder *b, const struct cfg_raw_policy *raw)
{
	const struct cfg_node *clients = cfg_tree_get(b->root, "clients");
	size_t first_grant = 0;

	for (unsigned i = 0; i < raw->clients_count; i++) {
		build_client(b, i, &raw->clients[i], cfg_tree_item(clients, i), first_grant);
		first_grant += raw->clients[i].grants_count;
		b->p->client_count = i + 1;
	}
	check_exclusive_overlaps(b);
}
