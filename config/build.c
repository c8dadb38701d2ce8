/* SPDX-License-Identifier: MIT */
/*
 * Phase 3: the raw strings libcyaml loaded become a cfg_policy, checking
 * every value and cross-reference rule of POLICY.md. Positions come from
 * the tree of phase 1; the shape check guarantees that the raw structures
 * and the tree line up entry for entry.
 */
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* sun_path holds 108 bytes including the terminating NUL (unix(7)). */
#define CFG_IPC_PATH_MAX   107
#define CFG_LISTEN_DEFAULT "ipc:///run/mmio/mmio.sock"

struct builder {
	struct cfg_sink *sink;
	const struct cfg_node *root;
	cfg_policy *p;
	bool *region_ok; /* region i parsed well enough for cross-checks */
	bool *grant_ok;	 /* grant i parsed well enough for cross-checks */
	bool nomem;
};

#define ERR_AT(b, node, ...) cfg_sink_error((b)->sink, (node)->line, (node)->column, __VA_ARGS__)

static char *own(struct builder *b, const char *s)
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

static bool parse_number(struct builder *b, const struct cfg_node *n, const char *what,
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
static bool parse_ranged(struct builder *b, const struct cfg_node *n, const char *what,
			 const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!parse_number(b, n, what, text, 0, out))
		return false;
	if (*out < min || *out > max) {
		ERR_AT(b, n, "%s %llu is out of range (%llu to %llu)", what,
		       (unsigned long long)*out, (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	return true;
}

/* YAML 1.1 has a dozen spellings of true; a policy has one. */
static bool parse_bool(struct builder *b, const struct cfg_node *n, const char *what,
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

static bool check_name(struct builder *b, const struct cfg_node *n, const char *what,
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

static const char *const cache_names[] = {
	[CFG_CACHE_UNCACHED] = "uncached",
	[CFG_CACHE_WRITE_COMBINING] = "write-combining",
	[CFG_CACHE_WRITE_THROUGH] = "write-through",
	[CFG_CACHE_WRITE_BACK] = "write-back",
};

const char *cfg_cache_name(enum cfg_cache cache)
{
	if ((unsigned)cache < sizeof(cache_names) / sizeof(cache_names[0]))
		return cache_names[cache];
	return "?";
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly @digits hex digits at @s; the value in *@out. */
static bool hex_field(const char *s, unsigned digits, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < digits; i++) {
		int d = hex_value(s[i]);

		if (d < 0)
			return false;
		v = v * 16 + (unsigned)d;
	}
	*out = v;
	return true;
}

/* "DDDD:BB:DD.F" or "BB:DD.F", hex, as lspci prints them. */
static bool parse_pci_address(const char *s, struct cfg_pci_address *out)
{
	unsigned domain = 0, bus, dev, fn;
	size_t len = strlen(s);

	if (len == 12) {
		if (!hex_field(s, 4, &domain) || s[4] != ':')
			return false;
		s += 5;
	} else if (len != 7) {
		return false;
	}
	if (!hex_field(s, 2, &bus) || s[2] != ':' || !hex_field(s + 3, 2, &dev) || s[5] != '.' ||
	    s[6] < '0' || s[6] > '7' || dev > 31)
		return false;
	fn = (unsigned)(s[6] - '0');
	out->domain = (uint16_t)domain;
	out->bus = (uint8_t)bus;
	out->device = (uint8_t)dev;
	out->function = (uint8_t)fn;
	return true;
}

/* "VVVV:DDDD", hex, as lspci -n prints them. */
static bool parse_pci_id(const char *s, uint16_t *vendor, uint16_t *device)
{
	unsigned v, d;

	if (strlen(s) != 9 || !hex_field(s, 4, &v) || s[4] != ':' || !hex_field(s + 5, 4, &d))
		return false;
	*vendor = (uint16_t)v;
	*device = (uint16_t)d;
	return true;
}

/* ------------------------------------------------------------------------
 * Identities. Names are resolved now, so a typo is a load error with a
 * position rather than a client that silently never matches.
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

static bool resolve_group(struct builder *b, const struct cfg_node *n, const char *text, gid_t *gid)
{
	struct cfg_quoted q;

	switch (lookup_id(try_group, text, gid)) {
	case LOOKUP_FOUND:
		return true;
	case LOOKUP_MISSING:
		ERR_AT(b, n, "unknown group '%s' (not in the group database)", cfg_quote(&q, text));
		return false;
	case LOOKUP_FAILED:
		break;
	}
	ERR_AT(b, n, "cannot look up group '%s' in the group database", cfg_quote(&q, text));
	return false;
}

/* ------------------------------------------------------------------------
 * server:
 * ------------------------------------------------------------------------ */

static void build_listen(struct builder *b, const struct cfg_node *n, const char *text)
{
	static const char prefix[] = "ipc://";
	struct cfg_quoted q;
	size_t path_len;

	if (strncmp(text, prefix, sizeof(prefix) - 1) != 0) {
		ERR_AT(b, n,
		       "listen '%s' must be an ipc:// URL: the server checks peers by their "
		       "local-socket credentials",
		       cfg_quote(&q, text));
		return;
	}
	path_len = strlen(text) - (sizeof(prefix) - 1);
	if (path_len == 0) {
		ERR_AT(b, n, "listen '%s' has no socket path after ipc://", cfg_quote(&q, text));
		return;
	}
	if (path_len > CFG_IPC_PATH_MAX) {
		ERR_AT(b, n, "listen socket path is %zu bytes; a Unix socket path holds at most %d",
		       path_len, CFG_IPC_PATH_MAX);
		return;
	}
	for (const char *c = text; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			ERR_AT(b, n, "listen '%s' contains a control character",
			       cfg_quote(&q, text));
			return;
		}
	}
	b->p->server.listen = own(b, text);
}

/* A limit in [@min, @max] under `limits:`, if written; true if it was. */
static bool limit_get(struct builder *b, const struct cfg_node *ln, const char *key,
		      const char *text, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (text == NULL || !parse_ranged(b, cfg_tree_get(ln, key), key, text, min, max, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

/*
 * The per-uid and total caps. One uid must never hold every session: a
 * per-uid session cap above max_sessions is refused, and without one it is
 * half of max_sessions.
 */
static void build_caps(struct builder *b, const struct cfg_node *ln,
		       const struct cfg_raw_limits *rl)
{
	struct cfg_server *s = &b->p->server;

	s->max_sessions_per_uid = s->max_sessions > 1 ? s->max_sessions / 2 : 1;
	if (limit_get(b, ln, "max_sessions_per_uid", rl->max_sessions_per_uid, 1, 65536,
		      &s->max_sessions_per_uid) &&
	    s->max_sessions_per_uid > s->max_sessions)
		ERR_AT(b, cfg_tree_get(ln, "max_sessions_per_uid"),
		       "max_sessions_per_uid %u is above max_sessions %u: one uid could take "
		       "every session",
		       s->max_sessions_per_uid, s->max_sessions);
	limit_get(b, ln, "ungranted_sessions", rl->ungranted_sessions, 0, CFG_MAX_UNGRANTED,
		  &s->ungranted_sessions);
	limit_get(b, ln, "max_requests_per_uid", rl->max_requests_per_uid, 1,
		  CFG_MAX_REQUESTS_PER_UID, &s->max_requests_per_uid);
	limit_get(b, ln, "max_requests_total", rl->max_requests_total, 1, CFG_MAX_REQUESTS_TOTAL,
		  &s->max_requests_total);
	limit_get(b, ln, "ungranted_requests", rl->ungranted_requests, 1, CFG_MAX_UNGRANTED,
		  &s->ungranted_requests);
	limit_get(b, ln, "max_polls_per_uid", rl->max_polls_per_uid, 0, CFG_MAX_REQUESTS_PER_UID,
		  &s->max_polls_per_uid);
	limit_get(b, ln, "max_polls_total", rl->max_polls_total, 0, CFG_MAX_REQUESTS_TOTAL,
		  &s->max_polls_total);
}

static void build_limits(struct builder *b, const struct cfg_node *ln,
			 const struct cfg_raw_limits *rl)
{
	struct cfg_server *s = &b->p->server;
	struct cfg_quoted q;
	uint64_t v;

	limit_get(b, ln, "max_sessions", rl->max_sessions, 1, 65536, &s->max_sessions);
	limit_get(b, ln, "max_handles", rl->max_handles, 1, 65536, &s->max_handles);
	if (rl->max_poll_us != NULL &&
	    parse_ranged(b, cfg_tree_get(ln, "max_poll_us"), "max_poll_us", rl->max_poll_us, 1,
			 60000000, &v))
		s->max_poll_us = v;
	limit_get(b, ln, "max_requests", rl->max_requests, 32, 64, &s->max_requests);
	limit_get(b, ln, "max_buffers", rl->max_buffers, 0, CFG_MAX_BUFFERS, &s->max_buffers);
	if (rl->max_buffer_bytes != NULL) {
		const struct cfg_node *n = cfg_tree_get(ln, "max_buffer_bytes");

		if (parse_number(b, n, "max_buffer_bytes", rl->max_buffer_bytes,
				 CFG_NUM_SIZE_SUFFIX, &v)) {
			if (v < 4096 || v > ((uint64_t)64 << 30))
				ERR_AT(b, n, "max_buffer_bytes %s is out of range (4KiB to 64GiB)",
				       cfg_quote(&q, rl->max_buffer_bytes));
			else
				s->max_buffer_bytes = v;
		}
	}
	build_caps(b, ln, rl);
}

static void build_server(struct builder *b, const struct cfg_raw_policy *raw)
{
	const struct cfg_raw_server *rs = raw->server;
	const struct cfg_node *sn = cfg_tree_get(b->root, "server");
	struct cfg_server *s = &b->p->server;
	struct cfg_quoted q;
	uint64_t v;

	s->socket_mode = 0660;
	s->max_message = 1u << 20;
	s->max_sessions = 64;
	s->max_handles = 256;
	s->max_poll_us = 1000000;
	s->max_requests = 32;
	s->max_buffers = 8;
	s->max_buffer_bytes = (uint64_t)1 << 30;
	s->max_sessions_per_uid = s->max_sessions / 2;
	s->ungranted_sessions = 2;
	s->max_requests_per_uid = 64;
	s->max_requests_total = CFG_MAX_REQUESTS_TOTAL;
	s->ungranted_requests = 2;
	s->max_polls_per_uid = 32;
	s->max_polls_total = 64;

	if (rs != NULL && rs->listen != NULL)
		build_listen(b, cfg_tree_get(sn, "listen"), rs->listen);
	else
		s->listen = own(b, CFG_LISTEN_DEFAULT);
	if (rs == NULL)
		return;

	if (rs->socket_mode != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "socket_mode");
		enum cfg_num_error e = cfg_mode_parse(rs->socket_mode, &s->socket_mode);

		if (e != CFG_NUM_OK)
			ERR_AT(b, n, "socket_mode '%s': %s", cfg_quote(&q, rs->socket_mode),
			       cfg_number_error_text(e));
	}
	if (rs->socket_group != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "socket_group");

		if (resolve_group(b, n, rs->socket_group, &s->socket_gid)) {
			s->has_socket_group = true;
			s->socket_group = own(b, rs->socket_group);
		}
	}
	if (rs->max_message != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "max_message");

		if (parse_number(b, n, "max_message", rs->max_message, CFG_NUM_SIZE_SUFFIX, &v)) {
			if (v < 4096 || v > (256u << 20))
				ERR_AT(b, n, "max_message %s is out of range (4KiB to 256MiB)",
				       cfg_quote(&q, rs->max_message));
			else
				s->max_message = v;
		}
	}
	if (rs->limits != NULL)
		build_limits(b, cfg_tree_get(sn, "limits"), rs->limits);
}

/* ------------------------------------------------------------------------
 * regions:
 * ------------------------------------------------------------------------ */

/* The cache policies each source's backend can honour. A
 * policy the backend cannot give is a load error, never a downgrade. */
static unsigned source_cache_mask(enum cfg_source source)
{
	switch (source) {
	case CFG_SOURCE_SIM:
		return 1u << CFG_CACHE_WRITE_BACK;
	case CFG_SOURCE_PCI:
	case CFG_SOURCE_PCI_ID:
		return 1u << CFG_CACHE_UNCACHED | 1u << CFG_CACHE_WRITE_COMBINING;
	case CFG_SOURCE_PHYS:
		return 1u << CFG_CACHE_UNCACHED;
	}
	return 0;
}

static const char *cache_mask_phrase(enum cfg_source source)
{
	switch (source) {
	case CFG_SOURCE_SIM:
		return "write-back only";
	case CFG_SOURCE_PCI:
	case CFG_SOURCE_PCI_ID:
		return "uncached or write-combining";
	case CFG_SOURCE_PHYS:
		return "uncached only";
	}
	return "nothing";
}

const char *cfg_source_name(enum cfg_source source)
{
	switch (source) {
	case CFG_SOURCE_SIM:
		return "sim";
	case CFG_SOURCE_PCI:
		return "pci";
	case CFG_SOURCE_PCI_ID:
		return "pci_id";
	case CFG_SOURCE_PHYS:
		return "phys";
	}
	return "?";
}

const char *cfg_source_backend(enum cfg_source source)
{
	switch (source) {
	case CFG_SOURCE_SIM:
		return "sim";
	case CFG_SOURCE_PCI:
	case CFG_SOURCE_PCI_ID:
		return "pci";
	case CFG_SOURCE_PHYS:
		return "devmem";
	}
	return "?";
}

static bool is_pci(enum cfg_source s)
{
	return s == CFG_SOURCE_PCI || s == CFG_SOURCE_PCI_ID;
}

/* Exactly one of sim, pci, pci_id, phys. A surplus one is reported where the
 * last source key is written, which is usually the one added by mistake. */
static bool build_source(struct builder *b, const struct cfg_raw_region *rr,
			 const struct cfg_node *rn, struct cfg_region *r)
{
	static const char *const keys[] = { "sim", "pci", "pci_id", "phys" };
	const char *present[4];
	const struct cfg_node *last = NULL;
	const char *values[4] = { rr->sim, rr->pci, rr->pci_id, rr->phys };
	struct cfg_quoted q;
	size_t count = 0;

	for (size_t k = 0; k < 4; k++) {
		const struct cfg_node *n = cfg_tree_key(rn, keys[k]);

		if (values[k] == NULL)
			continue;
		present[count++] = keys[k];
		if (last == NULL || n->line > last->line ||
		    (n->line == last->line && n->column > last->column))
			last = n;
		r->source = (enum cfg_source)k;
	}
	if (count == 0) {
		ERR_AT(b, rn, "region '%s' has no source: give one of pci, pci_id, phys or sim",
		       cfg_quote(&q, rr->name));
		return false;
	}
	if (count > 1) {
		char list[64];

		snprintf(list, sizeof(list), "%s%s%s%s%s%s%s", present[0],
			 count > 2 ? ", " : " and ", present[1],
			 count > 2 ? (count > 3 ? ", " : " and ") : "", count > 2 ? present[2] : "",
			 count > 3 ? " and " : "", count > 3 ? present[3] : "");
		ERR_AT(b, last, "region '%s' has more than one source (%s): give exactly one",
		       cfg_quote(&q, rr->name), list);
		return false;
	}
	return true;
}

static bool build_region(struct builder *b, size_t i, const struct cfg_raw_region *rr,
			 const struct cfg_node *rn)
{
	struct cfg_region *r = &b->p->regions[i];
	struct cfg_quoted q, q2;
	bool ok = true;
	uint64_t v;

	r->line = rn->line;
	r->column = rn->column;
	if (!check_name(b, cfg_tree_get(rn, "name"), "region", rr->name))
		ok = false;
	r->name = own(b, rr->name);
	for (size_t j = 0; j < i && ok; j++) {
		if (b->p->regions[j].name != NULL && strcmp(b->p->regions[j].name, rr->name) == 0) {
			ERR_AT(b, cfg_tree_get(rn, "name"),
			       "duplicate region name '%s' (first at line %u, column %u)",
			       cfg_quote(&q, rr->name), b->p->regions[j].line,
			       b->p->regions[j].column);
			ok = false;
		}
	}
	if (!build_source(b, rr, rn, r))
		return false;

	switch (r->source) {
	case CFG_SOURCE_SIM: {
		const struct cfg_node *n = cfg_tree_get(rn, "sim");
		bool sim = false;

		if (!parse_bool(b, n, "sim", rr->sim, &sim)) {
			ok = false;
		} else if (!sim) {
			ERR_AT(b, n,
			       "sim: false is no source: write sim: true or give another source");
			ok = false;
		}
		break;
	}
	case CFG_SOURCE_PCI:
		if (!parse_pci_address(rr->pci, &r->pci)) {
			ERR_AT(b, cfg_tree_get(rn, "pci"),
			       "pci '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F, hex)",
			       cfg_quote(&q, rr->pci));
			ok = false;
		}
		break;
	case CFG_SOURCE_PCI_ID:
		if (!parse_pci_id(rr->pci_id, &r->vendor_id, &r->device_id)) {
			ERR_AT(b, cfg_tree_get(rn, "pci_id"),
			       "pci_id '%s' is not vendor:device (VVVV:DDDD, 4 hex digits each)",
			       cfg_quote(&q, rr->pci_id));
			ok = false;
		}
		break;
	case CFG_SOURCE_PHYS:
		if (!parse_number(b, cfg_tree_get(rn, "phys"), "phys", rr->phys,
				  CFG_NUM_SIZE_SUFFIX, &r->phys))
			ok = false;
		break;
	}

	if (rr->pci_index != NULL) {
		const struct cfg_node *n = cfg_tree_get(rn, "pci_index");

		if (r->source != CFG_SOURCE_PCI_ID) {
			ERR_AT(b, cfg_tree_key(rn, "pci_index"),
			       "pci_index is only for pci_id regions");
			ok = false;
		} else if (parse_ranged(b, n, "pci_index", rr->pci_index, 0, 255, &v)) {
			r->pci_index = (unsigned)v;
		} else {
			ok = false;
		}
	}
	if (rr->bar != NULL) {
		const struct cfg_node *n = cfg_tree_get(rn, "bar");

		if (!is_pci(r->source)) {
			ERR_AT(b, cfg_tree_key(rn, "bar"),
			       "bar is only for pci and pci_id regions");
			ok = false;
		} else if (!parse_number(b, n, "bar", rr->bar, 0, &v)) {
			ok = false;
		} else if (v > 5) {
			ERR_AT(b, n, "bar %s does not exist (a PCI function has BARs 0 to 5)",
			       cfg_quote(&q, rr->bar));
			ok = false;
		} else {
			r->bar = (unsigned)v;
		}
	} else if (is_pci(r->source)) {
		ERR_AT(b, rn, "%s region '%s' needs a bar (0 to 5)", cfg_source_name(r->source),
		       cfg_quote(&q, rr->name));
		ok = false;
	}
	if (rr->offset != NULL) {
		const struct cfg_node *n = cfg_tree_get(rn, "offset");

		if (r->source == CFG_SOURCE_SIM) {
			ERR_AT(b, cfg_tree_key(rn, "offset"),
			       "offset is only for pci and pci_id regions (a sim region is a "
			       "device of its own)");
			ok = false;
		} else if (r->source == CFG_SOURCE_PHYS) {
			ERR_AT(b, cfg_tree_key(rn, "offset"),
			       "offset is only for pci and pci_id regions (for phys, add it "
			       "to the address)");
			ok = false;
		} else if (!parse_number(b, n, "offset", rr->offset, CFG_NUM_SIZE_SUFFIX,
					 &r->offset)) {
			ok = false;
		}
	}
	if (rr->size != NULL) {
		const struct cfg_node *n = cfg_tree_get(rn, "size");

		if (!parse_number(b, n, "size", rr->size, CFG_NUM_SIZE_SUFFIX, &r->size)) {
			ok = false;
		} else if (r->size == 0) {
			ERR_AT(b, n, "size must be greater than 0");
			ok = false;
		} else if (r->source == CFG_SOURCE_PHYS && r->phys > UINT64_MAX - r->size) {
			ERR_AT(b, n, "phys + size overflows 64 bits (0x%llx + 0x%llx)",
			       (unsigned long long)r->phys, (unsigned long long)r->size);
			ok = false;
		} else if (is_pci(r->source) && r->offset > UINT64_MAX - r->size) {
			ERR_AT(b, n, "offset + size overflows 64 bits (0x%llx + 0x%llx)",
			       (unsigned long long)r->offset, (unsigned long long)r->size);
			ok = false;
		}
	} else if (!is_pci(r->source)) {
		ERR_AT(b, rn, "%s region '%s' needs a size", cfg_source_name(r->source),
		       cfg_quote(&q, rr->name));
		ok = false;
	}

	r->cache = r->source == CFG_SOURCE_SIM ? CFG_CACHE_WRITE_BACK : CFG_CACHE_UNCACHED;
	if (rr->cache != NULL) {
		const struct cfg_node *n = cfg_tree_get(rn, "cache");
		size_t c;

		for (c = 0; c < sizeof(cache_names) / sizeof(cache_names[0]); c++)
			if (strcmp(rr->cache, cache_names[c]) == 0)
				break;
		if (c == sizeof(cache_names) / sizeof(cache_names[0])) {
			ERR_AT(b, n,
			       "cache '%s' is not a cache policy (uncached, write-combining, "
			       "write-through or write-back)",
			       cfg_quote(&q, rr->cache));
			ok = false;
		} else {
			r->cache = (enum cfg_cache)c;
		}
	}
	if (!(source_cache_mask(r->source) & (1u << r->cache))) {
		const struct cfg_node *n = cfg_tree_get(rn, "cache");

		ERR_AT(b, n != NULL ? n : rn,
		       "cache %s is not possible for %s region '%s' (the %s backend can do %s)",
		       cfg_cache_name(r->cache), cfg_source_name(r->source),
		       cfg_quote(&q2, rr->name), cfg_source_backend(r->source),
		       cache_mask_phrase(r->source));
		ok = false;
	}
	if (rr->sensitive != NULL && !parse_bool(b, cfg_tree_get(rn, "sensitive"), "sensitive",
						 rr->sensitive, &r->sensitive))
		ok = false;
	return ok;
}

/* End (exclusive) of @r in its source's address space; UINT64_MAX while the
 * size of a whole-BAR region is unknown. */
static uint64_t region_source_end(const struct cfg_region *r)
{
	uint64_t base = cfg_region_base(r);

	if (r->size == 0)
		return UINT64_MAX;
	return base + r->size;
}

static bool same_device(const struct cfg_region *a, const struct cfg_region *b)
{
	if (a->source != b->source)
		return false;
	switch (a->source) {
	case CFG_SOURCE_SIM:
		return false; /* each sim region is a device of its own */
	case CFG_SOURCE_PHYS:
		return true;
	case CFG_SOURCE_PCI:
		return a->bar == b->bar && a->pci.domain == b->pci.domain &&
		       a->pci.bus == b->pci.bus && a->pci.device == b->pci.device &&
		       a->pci.function == b->pci.function;
	case CFG_SOURCE_PCI_ID:
		return a->bar == b->bar && a->vendor_id == b->vendor_id &&
		       a->device_id == b->device_id && a->pci_index == b->pci_index;
	}
	return false;
}

static void check_region_overlaps(struct builder *b)
{
	const cfg_policy *p = b->p;

	for (size_t j = 1; j < p->region_count; j++) {
		const struct cfg_region *rj = &p->regions[j];

		if (!b->region_ok[j])
			continue;
		for (size_t i = 0; i < j; i++) {
			const struct cfg_region *ri = &p->regions[i];
			struct cfg_quoted q1, q2;
			uint64_t lo, hi;

			if (!b->region_ok[i] || !same_device(ri, rj))
				continue;
			lo = cfg_region_base(ri) > cfg_region_base(rj) ? cfg_region_base(ri)
								       : cfg_region_base(rj);
			hi = region_source_end(ri) < region_source_end(rj) ? region_source_end(ri)
									   : region_source_end(rj);
			if (lo >= hi)
				continue;
			if (rj->source == CFG_SOURCE_PHYS)
				cfg_sink_error(b->sink, rj->line, rj->column,
					       "region '%s' overlaps region '%s' (line %u): both "
					       "cover physical addresses from 0x%llx",
					       cfg_quote(&q1, rj->name), cfg_quote(&q2, ri->name),
					       ri->line, (unsigned long long)lo);
			else
				cfg_sink_error(b->sink, rj->line, rj->column,
					       "region '%s' overlaps region '%s' (line %u): both "
					       "cover BAR %u from offset 0x%llx",
					       cfg_quote(&q1, rj->name), cfg_quote(&q2, ri->name),
					       ri->line, rj->bar, (unsigned long long)lo);
			break;
		}
	}
}

/* ------------------------------------------------------------------------
 * clients: and their grants:
 * ------------------------------------------------------------------------ */

struct op_name {
	const char *name;
	unsigned bit;
};

static const struct op_name op_names[] = {
	{ "once", CFG_OPS_ONCE }, { "bulk", CFG_OPS_BULK }, { "fill", CFG_OPS_FILL },
	{ "poll", CFG_OPS_POLL }, { "map", CFG_OPS_MAP },
};

/* The node of the ops entry @bit, for messages about that op. */
static const struct cfg_node *op_node(const struct cfg_raw_grant *rg, const struct cfg_node *ops,
				      unsigned bit)
{
	for (unsigned k = 0; k < rg->ops_count; k++)
		for (size_t o = 0; o < sizeof(op_names) / sizeof(op_names[0]); o++)
			if (op_names[o].bit == bit && strcmp(rg->ops[k], op_names[o].name) == 0)
				return cfg_tree_item(ops, k);
	return ops;
}

static bool build_ops(struct builder *b, const struct cfg_raw_grant *rg, const struct cfg_node *ops,
		      struct cfg_grant *g)
{
	bool ok = true;

	if (rg->ops_count == 0) {
		ERR_AT(b, ops, "ops is empty: list at least one of once, bulk, fill, poll, map");
		return false;
	}
	for (unsigned k = 0; k < rg->ops_count; k++) {
		const struct cfg_node *n = cfg_tree_item(ops, k);
		struct cfg_quoted q;
		size_t o;

		for (o = 0; o < sizeof(op_names) / sizeof(op_names[0]); o++)
			if (strcmp(rg->ops[k], op_names[o].name) == 0)
				break;
		if (o == sizeof(op_names) / sizeof(op_names[0])) {
			ERR_AT(b, n, "unknown op '%s' (ops are once, bulk, fill, poll, map)",
			       cfg_quote(&q, rg->ops[k]));
			ok = false;
		} else if (g->ops & op_names[o].bit) {
			ERR_AT(b, n, "op '%s' is listed twice", op_names[o].name);
			ok = false;
		} else {
			g->ops |= op_names[o].bit;
		}
	}
	return ok;
}

static bool build_widths(struct builder *b, const struct cfg_raw_grant *rg,
			 const struct cfg_node *widths, struct cfg_grant *g)
{
	bool ok = true;

	if (rg->widths == NULL && widths == NULL) {
		g->widths = CFG_WIDTHS_ALL;
		return true;
	}
	if (rg->widths_count == 0) {
		ERR_AT(b, widths,
		       "widths is empty: list some of 1, 2, 4, 8 (or leave it out "
		       "for all)");
		return false;
	}
	for (unsigned k = 0; k < rg->widths_count; k++) {
		const struct cfg_node *n = cfg_tree_item(widths, k);
		struct cfg_quoted q;
		uint64_t w;

		if (!parse_number(b, n, "width", rg->widths[k], 0, &w)) {
			ok = false;
		} else if (w != 1 && w != 2 && w != 4 && w != 8) {
			ERR_AT(b, n, "width %s is not an access width (1, 2, 4 or 8 bytes)",
			       cfg_quote(&q, rg->widths[k]));
			ok = false;
		} else if (g->widths & w) {
			ERR_AT(b, n, "width %llu is listed twice", (unsigned long long)w);
			ok = false;
		} else {
			g->widths |= (unsigned)w;
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
static bool check_grant_range(struct cfg_sink *sink, const struct cfg_grant *g,
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
	if (!(g->ops & CFG_OPS_MAP))
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

static bool build_grant(struct builder *b, const struct cfg_raw_grant *rg,
			const struct cfg_node *gn, struct cfg_client *c, struct cfg_grant *g)
{
	const struct cfg_node *ops = cfg_tree_get(gn, "ops");
	struct cfg_quoted q;
	size_t idx;
	bool ok = true;

	g->client = c;
	g->line = gn->line;
	g->column = gn->column;
	if (cfg_policy_region_find(b->p, rg->region, &idx) != MMIO_OK) {
		ERR_AT(b, cfg_tree_get(gn, "region"), "grant refers to unknown region '%s'",
		       cfg_quote(&q, rg->region));
		ok = false;
	} else {
		g->region = &b->p->regions[idx];
		if (!b->region_ok[idx])
			ok = false; /* its problems are reported already */
	}

	if (rg->offset != NULL && !parse_number(b, cfg_tree_get(gn, "offset"), "offset", rg->offset,
						CFG_NUM_SIZE_SUFFIX, &g->offset))
		ok = false;
	if (rg->size != NULL) {
		const struct cfg_node *n = cfg_tree_get(gn, "size");

		if (!parse_number(b, n, "size", rg->size, CFG_NUM_SIZE_SUFFIX, &g->size)) {
			ok = false;
		} else if (g->size == 0) {
			ERR_AT(b, n, "size must be greater than 0");
			ok = false;
		} else if (g->offset > UINT64_MAX - g->size) {
			ERR_AT(b, n, "offset + size overflows 64 bits (0x%llx + 0x%llx)",
			       (unsigned long long)g->offset, (unsigned long long)g->size);
			ok = false;
		}
	} else {
		g->size_from_region = true;
	}

	if (strcmp(rg->access, "r") == 0) {
		g->access = CFG_ACCESS_READ;
	} else if (strcmp(rg->access, "w") == 0) {
		g->access = CFG_ACCESS_WRITE;
	} else if (strcmp(rg->access, "rw") == 0) {
		g->access = CFG_ACCESS_READ | CFG_ACCESS_WRITE;
	} else {
		ERR_AT(b, cfg_tree_get(gn, "access"), "access '%s': write r, w or rw",
		       cfg_quote(&q, rg->access));
		ok = false;
	}
	if (!build_ops(b, rg, ops, g))
		ok = false;
	if (!build_widths(b, rg, cfg_tree_get(gn, "widths"), g))
		ok = false;
	if (rg->exclusive != NULL && !parse_bool(b, cfg_tree_get(gn, "exclusive"), "exclusive",
						 rg->exclusive, &g->exclusive))
		ok = false;
	if (!ok)
		return false;

	if ((g->ops & CFG_OPS_POLL) && !(g->access & CFG_ACCESS_READ)) {
		ERR_AT(b, op_node(rg, ops, CFG_OPS_POLL), "poll needs read access (access is '%s')",
		       rg->access);
		ok = false;
	}
	if ((g->ops & CFG_OPS_FILL) && !(g->access & CFG_ACCESS_WRITE)) {
		ERR_AT(b, op_node(rg, ops, CFG_OPS_FILL),
		       "fill needs write access (access is '%s')", rg->access);
		ok = false;
	}
	if ((g->ops & CFG_OPS_MAP) && !(g->access & CFG_ACCESS_READ)) {
		ERR_AT(b, op_node(rg, ops, CFG_OPS_MAP),
		       "map needs read access: a mapping cannot be write-only (access is '%s')",
		       rg->access);
		ok = false;
	}
	if (g->region->sensitive) {
		static const unsigned forbidden[] = { CFG_OPS_BULK, CFG_OPS_FILL, CFG_OPS_MAP };

		for (size_t k = 0; k < sizeof(forbidden) / sizeof(forbidden[0]); k++) {
			const char *name = forbidden[k] == CFG_OPS_BULK	  ? "bulk"
					   : forbidden[k] == CFG_OPS_FILL ? "fill"
									  : "map";

			if (!(g->ops & forbidden[k]))
				continue;
			ERR_AT(b, op_node(rg, ops, forbidden[k]),
			       "%s is not allowed on sensitive region '%s' (only once and poll)",
			       name, cfg_quote(&q, g->region->name));
			ok = false;
		}
	}
	if (g->size_from_region)
		g->size = g->region->size > g->offset ? g->region->size - g->offset : 0;
	if (ok &&
	    !check_grant_range(b->sink, g, cfg_tree_get(gn, rg->size != NULL ? "size" : "offset"),
			       op_node(rg, ops, CFG_OPS_MAP)))
		ok = false;
	return ok;
}

static bool build_client(struct builder *b, size_t i, const struct cfg_raw_client *rc,
			 const struct cfg_node *cn, size_t first_grant)
{
	struct cfg_client *c = &b->p->clients[i];
	const struct cfg_node *grants = cfg_tree_get(cn, "grants");
	struct cfg_quoted q;
	bool ok = true;
	uint64_t v;

	c->line = cn->line;
	c->column = cn->column;
	if (!check_name(b, cfg_tree_get(cn, "name"), "client", rc->name))
		ok = false;
	c->name = own(b, rc->name);
	for (size_t j = 0; j < i; j++) {
		if (b->p->clients[j].name != NULL && strcmp(b->p->clients[j].name, rc->name) == 0) {
			ERR_AT(b, cfg_tree_get(cn, "name"),
			       "duplicate client name '%s' (first at line %u, column %u)",
			       cfg_quote(&q, rc->name), b->p->clients[j].line,
			       b->p->clients[j].column);
			ok = false;
			break;
		}
	}

	if (rc->uid == NULL && rc->gid == NULL && rc->user == NULL && rc->group == NULL) {
		ERR_AT(b, cn, "client '%s' has no identity: give uid, gid, user or group",
		       cfg_quote(&q, rc->name));
		ok = false;
	}
	/* (uid_t)-1 and (gid_t)-1 mean "no id" to chown(2) and friends. */
	if (rc->uid != NULL) {
		if (parse_ranged(b, cfg_tree_get(cn, "uid"), "uid", rc->uid, 0, UINT32_MAX - 1,
				 &v)) {
			c->uid = (uid_t)v;
			c->match |= CFG_MATCH_UID;
		} else {
			ok = false;
		}
	}
	if (rc->user != NULL) {
		const struct cfg_node *n = cfg_tree_get(cn, "user");
		uid_t uid;

		switch (lookup_id(try_user, rc->user, &uid)) {
		case LOOKUP_FOUND:
			if ((c->match & CFG_MATCH_UID) && uid != c->uid) {
				ERR_AT(b, n,
				       "user '%s' is uid %lu but uid is %lu: no peer can match "
				       "both",
				       cfg_quote(&q, rc->user), (unsigned long)uid,
				       (unsigned long)c->uid);
				ok = false;
			}
			c->uid = uid;
			c->match |= CFG_MATCH_UID;
			c->user_name = own(b, rc->user);
			break;
		case LOOKUP_MISSING:
			ERR_AT(b, n, "unknown user '%s' (not in the passwd database)",
			       cfg_quote(&q, rc->user));
			ok = false;
			break;
		case LOOKUP_FAILED:
			ERR_AT(b, n, "cannot look up user '%s' in the passwd database",
			       cfg_quote(&q, rc->user));
			ok = false;
			break;
		}
	}
	if (rc->gid != NULL) {
		if (parse_ranged(b, cfg_tree_get(cn, "gid"), "gid", rc->gid, 0, UINT32_MAX - 1,
				 &v)) {
			c->gid = (gid_t)v;
			c->match |= CFG_MATCH_GID;
		} else {
			ok = false;
		}
	}
	if (rc->group != NULL) {
		if (resolve_group(b, cfg_tree_get(cn, "group"), rc->group, &c->group)) {
			c->match |= CFG_MATCH_GROUP;
			c->group_name = own(b, rc->group);
		} else {
			ok = false;
		}
	}

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

static void check_exclusive_overlaps(struct builder *b)
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

int cfg_policy_build(const struct cfg_raw_policy *raw, const struct cfg_node *root,
		     struct cfg_sink *sink, cfg_policy **out)
{
	struct builder b = { .sink = sink, .root = root };
	const struct cfg_node *regions = cfg_tree_get(root, "regions");
	const struct cfg_node *clients = cfg_tree_get(root, "clients");
	unsigned start_count = sink->count;
	size_t grant_count = 0;
	int rc = MMIO_ENOMEM;

	*out = NULL;
	b.p = calloc(1, sizeof(*b.p));
	if (b.p == NULL)
		return MMIO_ENOMEM;
	b.p->file = own(&b, sink->file);

	/* raw->version was checked before libcyaml ran (load.c). */
	build_server(&b, raw);

	for (unsigned i = 0; i < raw->clients_count; i++)
		grant_count += raw->clients[i].grants_count;
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
	if (b.p->regions == NULL || b.region_ok == NULL || b.p->clients == NULL ||
	    b.p->grants == NULL || b.grant_ok == NULL)
		goto fail;

	for (unsigned i = 0; i < raw->regions_count; i++) {
		b.region_ok[i] = build_region(&b, i, &raw->regions[i], cfg_tree_item(regions, i));
		b.p->region_count = i + 1;
	}
	check_region_overlaps(&b);

	b.p->grant_count = grant_count;
	grant_count = 0;
	for (unsigned i = 0; i < raw->clients_count; i++) {
		build_client(&b, i, &raw->clients[i], cfg_tree_item(clients, i), grant_count);
		grant_count += raw->clients[i].grants_count;
		b.p->client_count = i + 1;
	}
	check_exclusive_overlaps(&b);

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

int cfg_policy_resolve_size(cfg_policy *p, size_t region, uint64_t source_size,
			    cfg_report_fn report, void *ctx)
{
	struct cfg_sink sink = { .file = p->file, .report = report, .ctx = ctx };
	struct cfg_region *r;
	struct cfg_quoted q;

	if (region >= p->region_count)
		return MMIO_ENOENT;
	r = &p->regions[region];
	if (!is_pci(r->source)) {
		cfg_sink_error(&sink, r->line, r->column,
			       "region '%s' is not a PCI region: its size is fixed by the policy",
			       cfg_quote(&q, r->name));
		cfg_sink_flush(&sink);
		return MMIO_EINVAL;
	}
	if (r->offset >= source_size || (r->size != 0 && r->size > source_size - r->offset)) {
		cfg_sink_error(&sink, r->line, r->column,
			       "region '%s' [0x%llx, 0x%llx) does not fit in BAR %u of 0x%llx "
			       "bytes",
			       cfg_quote(&q, r->name), (unsigned long long)r->offset,
			       (unsigned long long)(r->size ? r->offset + r->size : source_size),
			       r->bar, (unsigned long long)source_size);
		cfg_sink_flush(&sink);
		return MMIO_EINVAL;
	}
	if (r->size == 0)
		r->size = source_size - r->offset;
	for (size_t i = 0; i < p->grant_count; i++) {
		struct cfg_grant *g = &p->grants[i];

		if (g->region != r)
			continue;
		if (g->size_from_region)
			g->size = g->offset < r->size ? r->size - g->offset : 0;
		check_grant_range(&sink, g, NULL, NULL);
	}
	cfg_sink_flush(&sink);
	return sink.count == 0 ? MMIO_OK : MMIO_EINVAL;
}
