/* SPDX-License-Identifier: MIT */
/*
 * Private to phase 3 of loading (internal.h), which is split by the
 * policy's sections: build.c holds what every section uses (the builder,
 * scalars, identities) and the driver, cfg_policy_build(); build_server.c
 * reads server:, build_regions.c regions: and build_clients.c clients: with
 * their grants:.
 */
#ifndef MMIO_CONFIG_BUILD_H
#define MMIO_CONFIG_BUILD_H

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cfg_builder {
	struct cfg_sink *sink;
	const struct cfg_node *root;
	cfg_policy *p;
	bool *region_ok;      /* region i parsed well enough for cross-checks */
	bool *grant_ok;	      /* grant i parsed well enough for cross-checks */
	size_t next_register; /* the first free entry of p->registers */
	bool nomem;
};

#define ERR_AT(b, node, ...) cfg_sink_error((b)->sink, (node)->line, (node)->column, __VA_ARGS__)

/* A copy of @s owned by the policy; NULL (and b->nomem) if out of memory. */
char *cfg_own(struct cfg_builder *b, const char *s);

/* ------------------------------------------------------------------------
 * Scalars (build.c). Each reports its own problem at @n and returns false.
 * ------------------------------------------------------------------------ */

bool cfg_parse_number(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		      const char *text, unsigned flags, uint64_t *out);
/* A number in [@min, @max], without size suffix. */
bool cfg_parse_ranged(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		      const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* A size: a number with optional suffix, above 0, with @base + size within 64
 * bits (@base_key names @base in the message). */
bool cfg_parse_size(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		    const char *base_key, uint64_t base, uint64_t *out);
/* Exactly "true" or "false". */
bool cfg_parse_bool(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *text, bool *out);
/* A region or client name: 1 to CFG_NAME_MAX of A-Z a-z 0-9 _ . - */
bool cfg_check_name(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *text);

/* cfg_check_name()'s verdict on @text; the policy's own copy of @text goes to
 * *@name whether or not it passes. */
bool cfg_own_name(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		  const char *text, const char **name);
/* True (reported at @n) if @name is @other, the name of an earlier @what at
 * @line:@column. */
bool cfg_name_taken(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *name, const char *other, unsigned line, unsigned column);

/* ------------------------------------------------------------------------
 * Identities (build.c): resolved at load, so a typo is a load error with a
 * position rather than a client that silently never matches.
 * ------------------------------------------------------------------------ */

bool cfg_resolve_user(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		      uid_t *uid);
bool cfg_resolve_group(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		       gid_t *gid);

/* ------------------------------------------------------------------------
 * The sections, in the order cfg_policy_build() runs them.
 * ------------------------------------------------------------------------ */

/* server: and its limits:, defaults for what is not written (build_server.c). */
void cfg_build_server(struct cfg_builder *b, const struct cfg_raw_policy *raw);

/* regions:, then the overlaps between them (build_regions.c). Sets
 * b->region_ok and the policy's region_count. */
void cfg_build_regions(struct cfg_builder *b, const struct cfg_raw_policy *raw);

/* clients: and their grants:, then the overlaps of exclusive grants
 * (build_clients.c). The grants array holds p->grant_count entries. */
void cfg_build_clients(struct cfg_builder *b, const struct cfg_raw_policy *raw);

/* A widths list (@texts, @count; @node NULL when not written: all) as width
 * bits into *@bits (build_clients.c). */
bool cfg_parse_widths(struct cfg_builder *b, const struct cfg_node *node, char **texts,
		      unsigned count, unsigned *bits);
/* `r`, `w` or `rw` as MMIO_ACCESS_* bits (build_clients.c). */
bool cfg_parse_access(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		      unsigned *bits);
/* A grant's `registers:` (build_registers.c): each checked, sorted by offset
 * into p->registers, none overlapping, every one inside the grant when its
 * size is known; then the ops they exclude. @g's other fields are built. */
bool cfg_build_registers(struct cfg_builder *b, const struct cfg_raw_grant *rg,
			 const struct cfg_node *gn, struct cfg_grant *g);
/* One past the last byte of rule @r's last register (build_registers.c); a
 * built rule's end never overflows. */
uint64_t cfg_register_end(const struct mmio_register *r);

/* Whether @g lies inside its region, page-aligned if it maps (build_clients.c);
 * cfg_policy_resolve_size() runs it again once a BAR's size is known. */
bool cfg_check_grant_range(struct cfg_sink *sink, const struct cfg_grant *g,
			   const struct cfg_node *range_node, const struct cfg_node *map_node);

#endif /* MMIO_CONFIG_BUILD_H */
