/* SPDX-License-Identifier: MIT */
/*
 * Private to config/: NOT for use outside this part.
 *
 * Loading runs in three phases over one in-memory copy of the file:
 *  1. tree.c parses it with libyaml into a small tree that keeps the
 *     position of every node (libcyaml's own positions can be the previous
 *     scalar's), refusing aliases, anchors, tags, NUL bytes
 *     and extra documents; schema.c then checks the tree's shape against the
 *     libcyaml schema itself (unknown, duplicate and missing keys, node
 *     kinds, list lengths), collecting every problem;
 *  2. only a clean tree is handed to libcyaml, which loads it into the raw
 *     structures of schema.h (every scalar a string);
 *  3. build.c and its sections (build.h) parse and cross-check the strings
 *     into a cfg_policy, using the tree for positions.
 */
#ifndef MMIO_CONFIG_INTERNAL_H
#define MMIO_CONFIG_INTERNAL_H

#include <mmio/config.h>

#include <cyaml/cyaml.h>

#include <stdbool.h>
#include <stddef.h>

/* The value of hex digit @c, or -1 (number.c). */
int cfg_hex_digit(char c);

/* ------------------------------------------------------------------------
 * Problem collection (diag.c).
 * ------------------------------------------------------------------------ */

struct cfg_sink_entry {
	unsigned line, column;
	unsigned seq; /* report order, to keep the sort stable */
	char *message;
};

struct cfg_sink {
	const char *file;
	cfg_report_fn report;
	void *ctx;
	unsigned count; /* problems found (the first CFG_MAX_ERRORS are reported) */
	bool full;	/* more than CFG_MAX_ERRORS: the rest are dropped */
	bool full_reported;
	unsigned full_line, full_column; /* where the first dropped problem was */
	/* Problems held until cfg_sink_flush(), which reports them in file
	 * order: the checks run in their own order, people read top-down. */
	struct cfg_sink_entry held[CFG_MAX_ERRORS];
	unsigned held_count;
};

/* Note a problem at 1-based @line:@column (0:0 for none). */
void cfg_sink_error(struct cfg_sink *s, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report the held problems sorted by position, and forget them. */
void cfg_sink_flush(struct cfg_sink *s);

/* A user string made safe and short for a message: at most ~48 bytes, with
 * control and non-ASCII bytes as \xNN. */
struct cfg_quoted {
	char text[4 * 48 + 8];
};
const char *cfg_quote(struct cfg_quoted *q, const char *s);

/*
 * @s quoted as cfg_quote() does if it looks like a word of a policy (1 to
 * CFG_NAME_QUOTE_MAX letters, digits, '_', '-' or '.'; a digit first only if
 * @digits_first), else NULL. Messages quote what the user wrote only through
 * this where the file may not be a policy at all: a policy path pointing at
 * another file must not copy that file's lines (a password hash, a key) into
 * the server's log.
 */
#define CFG_NAME_QUOTE_MAX 32
const char *cfg_quote_name(struct cfg_quoted *q, const char *s, bool digits_first);

/* ------------------------------------------------------------------------
 * The positioned YAML tree (tree.c).
 * ------------------------------------------------------------------------ */

#define CFG_TREE_MAX_DEPTH 32
#define CFG_TREE_MAX_NODES 262144

enum cfg_node_kind {
	CFG_NODE_SCALAR,
	CFG_NODE_MAP,
	CFG_NODE_SEQ,
};

struct cfg_node {
	enum cfg_node_kind kind;
	bool alias;	       /* stands in for a refused alias (already reported) */
	unsigned line, column; /* 1-based start of the node */
	char *text;	       /* scalar: NUL-terminated (no NUL inside) */
	size_t len;
	struct cfg_node **kids; /* seq: items; map: key, value, key, value... */
	size_t count;
	size_t cap;
};

/*
 * Parse @len bytes at @data into *@root. Every problem goes to @sink.
 * Returns MMIO_OK with *@root set; MMIO_EINVAL (problems reported) with
 * *@root set if the tree still shows the document's structure (the problems
 * were anchors, tags or NUL bytes: its shape is worth checking too), else
 * NULL; MMIO_ENOMEM with *@root NULL. The caller frees *@root.
 */
int cfg_tree_parse(const unsigned char *data, size_t len, struct cfg_sink *sink,
		   struct cfg_node **root);
void cfg_tree_free(struct cfg_node *n);

/* The value node of @key in mapping @map, or NULL (also if @map is NULL). */
const struct cfg_node *cfg_tree_get(const struct cfg_node *map, const char *key);
/* The key node of @key in mapping @map, or NULL. */
const struct cfg_node *cfg_tree_key(const struct cfg_node *map, const char *key);
/* Item @i of sequence @seq, or NULL. */
const struct cfg_node *cfg_tree_item(const struct cfg_node *seq, size_t i);

/* ------------------------------------------------------------------------
 * The libcyaml schema and what it loads (schema.c).
 * ------------------------------------------------------------------------ */

struct cfg_raw_register {
	char *name;
	char *offset;
	char *count;
	char *stride;
	char **widths;
	unsigned widths_count;
	char *access;
	char *write_mask;
	char *write_fixed;
};

struct cfg_raw_grant {
	char *region;
	char *offset;
	char *size;
	char *access;
	char **ops;
	unsigned ops_count;
	char **widths;
	unsigned widths_count;
	char *exclusive;
	struct cfg_raw_register *registers;
	unsigned registers_count;
};

struct cfg_raw_client {
	char *name;
	char *uid;
	char *gid;
	char *user;
	char *group;
	struct cfg_raw_grant *grants;
	unsigned grants_count;
};

struct cfg_raw_region {
	char *name;
	char *pci;
	char *pci_id;
	char *pci_index;
	char *phys;
	char *sim;
	char *bar;
	char *offset;
	char *size;
	char *cache;
	char *sensitive;
	char *irq;
};

struct cfg_raw_limits {
	char *max_sessions;
	char *max_handles;
	char *max_poll_us;
	char *max_requests;
	char *max_buffers;
	char *max_buffer_bytes;
	char *max_sessions_per_uid;
	char *ungranted_sessions;
	char *max_requests_per_uid;
	char *max_requests_total;
	char *ungranted_requests;
	char *max_polls_per_uid;
	char *max_polls_total;
};

struct cfg_raw_server {
	char *listen;
	char *socket_mode;
	char *socket_group;
	char *max_message;
	char *windows;
	struct cfg_raw_limits *limits;
};

struct cfg_raw_policy {
	char *version;
	struct cfg_raw_server *server;
	struct cfg_raw_region *regions;
	unsigned regions_count;
	struct cfg_raw_client *clients;
	unsigned clients_count;
};

/* The top-level schema value (a pointer to struct cfg_raw_policy). */
extern const cyaml_schema_value_t cfg_schema_top;

/* Check @root's shape against cfg_schema_top; every problem goes to @sink.
 * Returns true if the tree is exactly what libcyaml will accept. */
bool cfg_schema_check(const struct cfg_node *root, struct cfg_sink *sink);

/* False (one problem reported, quoting nothing of the file) if @root is a
 * mapping none of whose keys is a top-level policy key: the path names some
 * other file, and reporting each of its keys would copy it into the log. */
bool cfg_schema_is_policy(const struct cfg_node *root, struct cfg_sink *sink);

/* ------------------------------------------------------------------------
 * The policy object (build.c, build.h).
 * ------------------------------------------------------------------------ */

struct cfg_policy {
	char *file;
	struct cfg_server server;
	struct cfg_region *regions;
	size_t region_count;
	struct cfg_client *clients;
	size_t client_count;
	struct cfg_grant *grants; /* client-major: each client's grants are contiguous */
	size_t grant_count;
	struct mmio_register *registers; /* grant-major, each grant's sorted by offset */
	const char **register_names;	 /* each register's name:, or NULL */
	size_t register_count;
	char **strings; /* every string the structures point to */
	size_t string_count;
	size_t string_cap;
};

/* Turn the raw load into *@out, checking every rule of the policy. Returns
 * MMIO_OK, MMIO_EINVAL (problems reported) or MMIO_ENOMEM. */
int cfg_policy_build(const struct cfg_raw_policy *raw, const struct cfg_node *root,
		     struct cfg_sink *sink, cfg_policy **out);

/* The device-side address of byte 0 of @r, for page alignment: phys, or the
 * BAR offset, or 0 for sim. */
uint64_t cfg_region_base(const struct cfg_region *r);

/* The end (exclusive) of @g's range, UINT64_MAX while unbounded. */
uint64_t cfg_grant_end(const struct cfg_grant *g);

#endif /* MMIO_CONFIG_INTERNAL_H */
