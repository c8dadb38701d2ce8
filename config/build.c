/* SPDX-License-Identifier: MIT */
/*
 * Phase 3: the raw strings libcyaml loaded become a cfg_policy, checking
 * every value and cross-reference rule of POLICY.md. Positions come from
 * the tree of phase 1; the shape check guarantees that the raw structures
 * and the tree line up entry for entry.
 *
 * This file holds what every section of the policy uses and the driver;
 * the sections themselves are in build_server.c, build_regions.c and
 * build_clients.c (build.h).
 */
#include "build.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cfg_own(struct cfg_builder *b, const char *s)
{
	cfg_policy *p = b->p;
	char *copy;

	if (p->string_count == p->string_cap) {
		size_t cap = p->string_cap ? p->string_cap * 2 : 32;
		char **strings = realloc(p->strings, cap * sizeof(*strings));

		if (strings == NULL) {
			b->nomem = true;
			return NULL;
		}
		p->strings = strings;
		p->string_cap = cap;
	}
	copy = strdup(s);
	if (copy == NULL) {
		b->nomem = true;
		return NULL;
	}
	p->strings[p->string_count++] = copy;
	return copy;
}

/* ------------------------------------------------------------------------
 * Scalars.
 * ------------------------------------------------------------------------ */

bool cfg_parse_number(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		      const char *text, unsigned flags, uint64_t *out)
{
	enum cfg_num_error e = cfg_number_parse(text, flags, out);
	struct cfg_quoted q;

	if (e == CFG_NUM_OK)
		return true;
	ERR_AT(b, n, "%s '%s': %s", what, cfg_quote(&q, text), cfg_number_error_text(e));
	return false;
}

/* A number in [@min, @max], without size suffix. */
bool cfg_parse_ranged(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		      const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!cfg_parse_number(b, n, what, text, 0, out))
		return false;
	if (*out < min || *out > max) {
		ERR_AT(b, n, "%s %llu is out of range (%llu to %llu)", what,
		       (unsigned long long)*out, (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	return true;
}

bool cfg_parse_size(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		    const char *base_key, uint64_t base, uint64_t *out)
{
	if (!cfg_parse_number(b, n, "size", text, CFG_NUM_SIZE_SUFFIX, out))
		return false;
	if (*out == 0) {
		ERR_AT(b, n, "size must be greater than 0");
		return false;
	}
	if (base > UINT64_MAX - *out) {
		ERR_AT(b, n, "%s + size overflows 64 bits (0x%llx + 0x%llx)", base_key,
		       (unsigned long long)base, (unsigned long long)*out);
		return false;
	}
	return true;
}

/* YAML 1.1 has a dozen spellings of true; a policy has one. */
bool cfg_parse_bool(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *text, bool *out)
{
	struct cfg_quoted q;

	if (strcmp(text, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(text, "false") == 0) {
		*out = false;
		return true;
	}
	ERR_AT(b, n, "%s '%s': write true or false", what, cfg_quote(&q, text));
	return false;
}

bool cfg_check_name(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *text)
{
	struct cfg_quoted q;
	size_t len = strlen(text);

	if (len == 0) {
		ERR_AT(b, n, "%s name is empty", what);
		return false;
	}
	if (len > CFG_NAME_MAX) {
		ERR_AT(b, n, "%s name '%s' is longer than %d bytes", what, cfg_quote(&q, text),
		       CFG_NAME_MAX);
		return false;
	}
	for (const char *c = text; *c != '\0'; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-')
			continue;
		ERR_AT(b, n, "%s name '%s' has a character outside A-Z a-z 0-9 _ . -", what,
		       cfg_quote(&q, text));
		return false;
	}
	return true;
}

bool cfg_own_name(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		  const char *text, const char **name)
{
	bool ok = cfg_check_name(b, n, what, text);

	*name = cfg_own(b, text);
	return ok;
}

bool cfg_name_taken(struct cfg_builder *b, const struct cfg_node *n, const char *what,
		    const char *name, const char *other, unsigned line, unsigned column)
{
	struct cfg_quoted q;

	if (other == NULL || strcmp(other, name) != 0)
		return false;
	ERR_AT(b, n, "duplicate %s name '%s' (first at line %u, column %u)", what,
	       cfg_quote(&q, name), line, column);
	return true;
}

/* ------------------------------------------------------------------------
 * Identities.
 * ------------------------------------------------------------------------ */

enum lookup_result { LOOKUP_FOUND, LOOKUP_MISSING, LOOKUP_FAILED };

/* One passwd or group lookup into @buf; sets *@id when the name exists. */
_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
	       "uid_t and gid_t are 32-bit ids");
typedef int (*lookup_fn)(const char *name, char *buf, size_t len, bool *found, uint32_t *id);

static int try_user(const char *name, char *buf, size_t len, bool *found, uint32_t *id)
{
	struct passwd pw, *p = NULL;
	int rc = getpwnam_r(name, &pw, buf, len, &p);

	*found = rc == 0 && p != NULL;
	if (*found)
		*id = p->pw_uid;
	return rc;
}

static int try_group(const char *name, char *buf, size_t len, bool *found, uint32_t *id)
{
	struct group gr, *g = NULL;
	int rc = getgrnam_r(name, &gr, buf, len, &g);

	*found = rc == 0 && g != NULL;
	if (*found)
		*id = g->gr_gid;
	return rc;
}

/* Runs @try with a buffer that grows while the entry does not fit (ERANGE). */
static enum lookup_result lookup_id(lookup_fn try, const char *name, uint32_t *id)
{
	for (size_t len = 1024;; len *= 2) {
		enum lookup_result result = LOOKUP_FAILED;
		char *buf = malloc(len);
		bool found = false;
		int rc;

		if (buf == NULL)
			return LOOKUP_FAILED;
		rc = try(name, buf, len, &found, id);
		free(buf);
		if (found)
			result = LOOKUP_FOUND;
		else if (rc == 0 || rc == ENOENT || rc == ESRCH)
			result = LOOKUP_MISSING;
		if (rc != ERANGE || len >= (1u << 20))
			return result;
	}
}

/* Resolves @text with @try; @what names it and @db its database in messages. */
static bool resolve_id(struct cfg_builder *b, const struct cfg_node *n, lookup_fn try,
		       const char *what, const char *db, const char *text, uint32_t *id)
{
	struct cfg_quoted q;

	switch (lookup_id(try, text, id)) {
	case LOOKUP_FOUND:
		return true;
	case LOOKUP_MISSING:
		ERR_AT(b, n, "unknown %s '%s' (not in the %s database)", what, cfg_quote(&q, text),
		       db);
		return false;
	case LOOKUP_FAILED:
		break;
	}
	ERR_AT(b, n, "cannot look up %s '%s' in the %s database", what, cfg_quote(&q, text), db);
	return false;
}

bool cfg_resolve_user(struct cfg_builder *b, const struct cfg_node *n, const char *text, uid_t *uid)
{
	return resolve_id(b, n, try_user, "user", "passwd", text, uid);
}

bool cfg_resolve_group(struct cfg_builder *b, const struct cfg_node *n, const char *text,
		       gid_t *gid)
{
	return resolve_id(b, n, try_group, "group", "group", text, gid);
}

int cfg_policy_build(const struct cfg_raw_policy *raw, const struct cfg_node *root,
		     struct cfg_sink *sink, cfg_policy **out)
{
	struct cfg_builder b = { .sink = sink, .root = root };
	const struct cfg_node *clients = cfg_tree_get(root, "clients");
	unsigned start_count = sink->count;
	size_t grant_count = 0, register_count = 0;
	int rc = MMIO_ENOMEM;

	*out = NULL;
	b.p = calloc(1, sizeof(*b.p));
	if (b.p == NULL)
		return MMIO_ENOMEM;
	b.p->file = cfg_own(&b, sink->file);

	/* raw->version was checked before libcyaml ran (load.c). */
	cfg_build_server(&b, raw);

	for (unsigned i = 0; i < raw->clients_count; i++) {
		grant_count += raw->clients[i].grants_count;
		for (unsigned k = 0; k < raw->clients[i].grants_count; k++)
			register_count += raw->clients[i].grants[k].registers_count;
	}
	/* The exclusivity check compares grants pairwise: keep it bounded. */
	if (grant_count > CFG_MAX_TOTAL_GRANTS) {
		ERR_AT(&b, clients, "the clients have %zu grants in all; at most %d are allowed",
		       grant_count, CFG_MAX_TOTAL_GRANTS);
		rc = MMIO_EINVAL;
		goto fail;
	}
	b.p->regions = calloc(raw->regions_count + 1, sizeof(*b.p->regions));
	b.region_ok = calloc(raw->regions_count + 1, sizeof(*b.region_ok));
	b.p->clients = calloc(raw->clients_count + 1, sizeof(*b.p->clients));
	b.p->grants = calloc(grant_count + 1, sizeof(*b.p->grants));
	b.grant_ok = calloc(grant_count + 1, sizeof(*b.grant_ok));
	b.p->registers = calloc(register_count + 1, sizeof(*b.p->registers));
	b.p->register_names = calloc(register_count + 1, sizeof(*b.p->register_names));
	b.p->register_count = register_count;
	if (b.p->regions == NULL || b.region_ok == NULL || b.p->clients == NULL ||
	    b.p->grants == NULL || b.grant_ok == NULL || b.p->registers == NULL ||
	    b.p->register_names == NULL)
		goto fail;

	cfg_build_regions(&b, raw);
	b.p->grant_count = grant_count;
	cfg_build_clients(&b, raw);

	if (b.nomem)
		goto fail;
	if (sink->count != start_count) {
		rc = MMIO_EINVAL;
		goto fail;
	}
	free(b.region_ok);
	free(b.grant_ok);
	*out = b.p;
	return MMIO_OK;

fail:
	free(b.region_ok);
	free(b.grant_ok);
	cfg_policy_free(b.p);
	return rc;
}
