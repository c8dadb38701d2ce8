/* SPDX-License-Identifier: MIT */
/*
 * Phase 3 for a grant's `registers:` (build.h): each register rule parsed
 * and checked against its grant, then the grant's rules sorted by offset
 * into the policy's register array, where the server's lookup is a binary
 * search (mmio_register_check(), <mmio/rights.h>). Two rules may not
 * overlap, nor an array interleave with another: the search finds a
 * register by the last rule that starts at or before it.
 */
#include "build.h"

#include <stdlib.h>
#include <string.h>

struct reg_entry {
	struct mmio_register rule;
	const char *name;
	const struct cfg_node *node;
	uint64_t end; /* one past the last byte of its last register */
};

/* @widths as the policy writes them, "[1, 4]", into @buf (16 bytes). */
static const char *widths_list(unsigned widths, char buf[16])
{
	size_t at = 0;

	buf[at++] = '[';
	for (unsigned w = 1; w <= 8; w <<= 1) {
		if (!(widths & w))
			continue;
		if (at > 1) {
			buf[at++] = ',';
			buf[at++] = ' ';
		}
		buf[at++] = (char)('0' + w);
	}
	buf[at++] = ']';
	buf[at] = '\0';
	return buf;
}

uint64_t cfg_register_end(const struct mmio_register *r)
{
	return r->offset + (r->count - 1) * r->stride + mmio_widths_widest(r->widths);
}

/* offset:, count: and stride: of @e (its widths known), and its end. */
static bool reg_layout(struct cfg_builder *b, const struct cfg_raw_register *rr,
		       const struct cfg_node *n, struct reg_entry *e)
{
	const struct cfg_node *on = cfg_tree_get(n, "offset"), *sn = cfg_tree_get(n, "stride");
	unsigned w = mmio_widths_widest(e->rule.widths);
	bool ok = true;

	if (!cfg_parse_number(b, on, "register offset", rr->offset, CFG_NUM_SIZE_SUFFIX,
			      &e->rule.offset)) {
		ok = false;
	} else if (e->rule.offset % w != 0) {
		ERR_AT(b, on, "register at 0x%llx is not aligned to its width %u",
		       (unsigned long long)e->rule.offset, w);
		ok = false;
	}
	e->rule.count = 1;
	if (rr->count != NULL && !cfg_parse_ranged(b, cfg_tree_get(n, "count"), "count", rr->count,
						   1, CFG_MAX_REGISTER_COUNT, &e->rule.count))
		ok = false;
	e->rule.stride = w;
	if (rr->stride != NULL) {
		if (!cfg_parse_number(b, sn, "stride", rr->stride, CFG_NUM_SIZE_SUFFIX,
				      &e->rule.stride)) {
			ok = false;
		} else if (e->rule.stride < w || e->rule.stride % w != 0) {
			ERR_AT(b, sn,
			       "stride %llu is not a multiple of the register's largest width %u: "
			       "its registers would overlap or be misaligned",
			       (unsigned long long)e->rule.stride, w);
			ok = false;
		}
	}
	if (!ok)
		return false;
	if ((e->rule.count > 1 && e->rule.stride > (UINT64_MAX - w) / (e->rule.count - 1)) ||
	    e->rule.offset > UINT64_MAX - ((e->rule.count - 1) * e->rule.stride + w)) {
		ERR_AT(b, n, "register array at 0x%llx reaches beyond 64 bits",
		       (unsigned long long)e->rule.offset);
		return false;
	}
	e->end = cfg_register_end(&e->rule);
	return true;
}

/* One of write_mask: and write_fixed: (@key, @text): a number within the
 * register's largest width, on a register that may be written. */
static bool reg_bits(struct cfg_builder *b, const struct cfg_node *n, const char *key,
		     const char *text, const struct reg_entry *e, uint64_t *out)
{
	const struct cfg_node *kn = cfg_tree_get(n, key);
	unsigned w = mmio_widths_widest(e->rule.widths);

	if (!(e->rule.access & MMIO_ACCESS_WRITE)) {
		ERR_AT(b, kn, "%s on a read-only register (access 'r'): it has no writes to limit",
		       key);
		return false;
	}
	if (!cfg_parse_number(b, kn, key, text, 0, out))
		return false;
	if ((*out & ~mmio_width_bits(w)) != 0) {
		ERR_AT(b, kn, "%s 0x%llx is wider than the register (%u bytes)", key,
		       (unsigned long long)*out, w);
		return false;
	}
	return true;
}

/* write_mask: (default: every bit the driver's) and write_fixed: (default 0). */
static bool reg_masks(struct cfg_builder *b, const struct cfg_raw_register *rr,
		      const struct cfg_node *n, struct reg_entry *e)
{
	bool ok = true;

	e->rule.write_mask = ~(uint64_t)0;
	e->rule.write_fixed = 0;
	if (rr->write_mask != NULL &&
	    !reg_bits(b, n, "write_mask", rr->write_mask, e, &e->rule.write_mask))
		ok = false;
	if (rr->write_fixed != NULL &&
	    !reg_bits(b, n, "write_fixed", rr->write_fixed, e, &e->rule.write_fixed))
		ok = false;
	if (ok && (e->rule.write_fixed & e->rule.write_mask) != 0) {
		if (rr->write_mask == NULL)
			ERR_AT(b, cfg_tree_get(n, "write_fixed"),
			       "write_fixed without write_mask: every bit is the driver's; give "
			       "write_mask, the bits the driver may choose");
		else
			ERR_AT(b, cfg_tree_get(n, "write_fixed"),
			       "write_fixed 0x%llx sets bits of write_mask 0x%llx: a bit is "
			       "either the driver's or fixed",
			       (unsigned long long)e->rule.write_fixed,
			       (unsigned long long)e->rule.write_mask);
		ok = false;
	}
	return ok;
}

/* Its name, widths and access, within those of grant @g. */
static bool reg_rights(struct cfg_builder *b, const struct cfg_raw_register *rr,
		       const struct cfg_node *n, const struct cfg_grant *g, struct reg_entry *e)
{
	const struct cfg_node *wn = cfg_tree_get(n, "widths"), *an = cfg_tree_get(n, "access");
	bool ok = true;

	if (rr->name != NULL) {
		if (cfg_check_name(b, cfg_tree_get(n, "name"), "register", rr->name))
			e->name = cfg_own(b, rr->name);
		else
			ok = false;
	}
	if (rr->widths == NULL && wn == NULL)
		e->rule.widths = g->widths;
	else if (!cfg_parse_widths(b, wn, rr->widths, rr->widths_count, &e->rule.widths))
		ok = false;
	else if ((e->rule.widths & ~g->widths) != 0) {
		char rw[16], gw[16];

		ERR_AT(b, wn, "register widths must be some of the grant's widths: %s is not in %s",
		       widths_list(e->rule.widths, rw), widths_list(g->widths, gw));
		ok = false;
	}
	if (!cfg_parse_access(b, an, rr->access, &e->rule.access)) {
		ok = false;
	} else if ((e->rule.access & ~g->access) != 0) {
		ERR_AT(b, an, "register access '%s' is more than the grant's '%s'", rr->access,
		       g->access == MMIO_ACCESS_READ ? "r" : "w");
		ok = false;
	}
	return ok;
}

/* Rule @e, written at @n, for grant @g: complete, and inside the grant. */
static bool reg_build(struct cfg_builder *b, const struct cfg_raw_register *rr,
		      const struct cfg_node *n, const struct cfg_grant *g, struct reg_entry *e)
{
	e->node = n;
	if (!reg_rights(b, rr, n, g, e) || !reg_layout(b, rr, n, e) || !reg_masks(b, rr, n, e))
		return false;
	if (e->rule.offset < g->offset || (g->size != 0 && e->end > g->offset + g->size)) {
		ERR_AT(b, n, "register [0x%llx, 0x%llx) is outside the grant [0x%llx, 0x%llx)",
		       (unsigned long long)e->rule.offset, (unsigned long long)e->end,
		       (unsigned long long)g->offset, (unsigned long long)(g->offset + g->size));
		return false;
	}
	return true;
}

static int reg_order(const void *a, const void *b)
{
	const struct reg_entry *x = a, *y = b;

	if (x->rule.offset != y->rule.offset)
		return x->rule.offset < y->rule.offset ? -1 : 1;
	return x->node->line < y->node->line ? -1 : x->node->line > y->node->line;
}

/* Sorted @e: none may start before the end of an earlier one. */
static bool reg_overlaps(struct cfg_builder *b, const struct reg_entry *e, size_t n)
{
	const struct reg_entry *reach = &e[0];
	bool ok = true;

	for (size_t k = 1; k < n; k++) {
		if (e[k].rule.offset < reach->end) {
			ERR_AT(b, e[k].node,
			       "register at 0x%llx overlaps the register at 0x%llx (line %u): "
			       "registers may not overlap, nor arrays interleave",
			       (unsigned long long)e[k].rule.offset,
			       (unsigned long long)reach->rule.offset, reach->node->line);
			ok = false;
		}
		if (e[k].end > reach->end)
			reach = &e[k];
	}
	return ok;
}

bool cfg_build_registers(struct cfg_builder *b, const struct cfg_raw_grant *rg,
			 const struct cfg_node *gn, struct cfg_grant *g)
{
	const struct cfg_node *list = cfg_tree_get(gn, "registers");
	size_t n = rg->registers_count, first = b->next_register;
	struct reg_entry *e;
	bool ok = true;

	if (n == 0) {
		ERR_AT(b, list,
		       "registers is empty: list the registers, or leave it out to "
		       "grant the whole range");
		return false;
	}
	e = calloc(n, sizeof(*e));
	if (e == NULL) {
		b->nomem = true;
		return false;
	}
	for (size_t k = 0; k < n; k++)
		if (!reg_build(b, &rg->registers[k], cfg_tree_item(list, k), g, &e[k]))
			ok = false;
	if (ok) {
		qsort(e, n, sizeof(*e), reg_order);
		ok = reg_overlaps(b, e, n);
	}
	for (size_t k = 0; ok && k < n; k++) {
		b->p->registers[first + k] = e[k].rule;
		b->p->register_names[first + k] = e[k].name;
	}
	free(e);
	if (!ok)
		return false;
	g->registers = &b->p->registers[first];
	g->register_names = &b->p->register_names[first];
	g->register_count = n;
	b->next_register = first + n;
	return true;
}
