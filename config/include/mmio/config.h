/* SPDX-License-Identifier: MIT */
/*
 * config: the YAML policy of mmio (config/POLICY.md, mmio-policy(5)).
 *
 * A policy is loaded once into an immutable cfg_policy object: regions (what
 * exists), clients (who) and their grants (what they may do). The server
 * asks it which grant gives an OPEN (cfg_policy_open_grant()) and, at every
 * reload, whether each open handle is still given; the rights of that grant
 * then go with the handle, checked before every operation on it by
 * mmio_rights_check() (<mmio/rights.h>). A reload loads a new object and
 * swaps the pointer, so a failed reload keeps the old policy.
 *
 * Loading checks everything POLICY.md lists and reports every problem in
 * the file (up to CFG_MAX_ERRORS) as "FILE:LINE:COL: message" through a
 * callback. Numbers are parsed by this part, never by libcyaml (whose
 * integers wrap silently): see cfg_number_parse().
 *
 * Thread-safety: every function taking a const cfg_policy * is thread-safe
 * and does not block. Loading blocks on file I/O and on the passwd/group
 * databases (user and group names are resolved at load time).
 */
#ifndef MMIO_CONFIG_H
#define MMIO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <mmio/rights.h>
#include <mmio/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_VERSION		 1    /* the only `version:` this build reads */
#define CFG_NAME_MAX		 63   /* longest region or client name, bytes */
#define CFG_PAGE_SIZE		 4096 /* `map` ranges must be multiples of this, aligned to it */
#define CFG_MAX_ERRORS		 100 /* a load reports at most this many errors, then one "too many" */
#define CFG_MAX_REGIONS		 1024 /* longest `regions:` list */
#define CFG_MAX_CLIENTS		 1024 /* longest `clients:` list */
#define CFG_MAX_GRANTS		 1024 /* longest `grants:` list of one client */
#define CFG_MAX_BUFFERS		 64   /* highest limits.max_buffers */
#define CFG_MAX_REQUESTS_PER_UID 96   /* highest limits.max_requests_per_uid: 3/4 of 128 contexts */
#define CFG_MAX_REQUESTS_TOTAL	 112  /* highest limits.max_requests_total: 16 contexts stay free */
#define CFG_MAX_UNGRANTED	 16   /* highest limits.ungranted_sessions, ungranted_requests */
#define CFG_MAX_TOTAL_GRANTS	 4096 /* grants of all clients together */
#define CFG_MAX_REGISTERS	 1024 /* longest `registers:` list of one grant */
#define CFG_MAX_REGISTER_COUNT	 65536	    /* highest `count:` of one register array */
#define CFG_MAX_FILE		 (4u << 20) /* largest policy file, bytes */

/* ------------------------------------------------------------------------
 * Numbers, as the policy writes them.
 * ------------------------------------------------------------------------ */

/* Flags of cfg_number_parse(). */
#define CFG_NUM_SIZE_SUFFIX 1u /* accept a KiB/MiB/GiB suffix (sizes, offsets, addresses) */

enum cfg_num_error {
	CFG_NUM_OK = 0,
	CFG_NUM_EMPTY,	      /* nothing at all */
	CFG_NUM_NEGATIVE,     /* starts with '-' */
	CFG_NUM_SIGN,	      /* starts with '+' */
	CFG_NUM_NOT_A_NUMBER, /* does not start with a digit, or "0x" without hex digits */
	CFG_NUM_LEADING_ZERO, /* "0644": octal by accident in C; refused */
	CFG_NUM_JUNK,	      /* characters after the number that are no (allowed) suffix */
	CFG_NUM_SUFFIX,	      /* a KiB/MiB/GiB suffix where none is allowed */
	CFG_NUM_OVERFLOW,     /* more than 64 bits (after the suffix's multiplication) */
	CFG_NUM_NOT_OCTAL,    /* cfg_mode_parse(): a character other than 0-7 */
	CFG_NUM_MODE_RANGE,   /* cfg_mode_parse(): above 0777 */
};

/*
 * Parse @text (NUL-terminated, no surrounding spaces) as a policy number:
 * decimal without leading zeros ("0" itself is fine), or "0x"/"0X" and hex
 * digits; with CFG_NUM_SIZE_SUFFIX it may end in "KiB", "MiB" or "GiB"
 * (exact case, no space), which multiplies it by 2^10, 2^20 or 2^30.
 * Stores the value in *@out only on CFG_NUM_OK; otherwise returns the first
 * rule @text breaks. Thread-safe.
 */
enum cfg_num_error cfg_number_parse(const char *text, unsigned flags, uint64_t *out);

/*
 * Parse a permission mode such as "0660": one to four octal digits, value at
 * most 0777 (a leading 0 is fine here, and only here). Stores *@out only on
 * CFG_NUM_OK. Thread-safe.
 */
enum cfg_num_error cfg_mode_parse(const char *text, unsigned *out);

/* The rule that @err names, as a phrase ("leading zero: octal is not allowed");
 * "" for CFG_NUM_OK. Static string. */
const char *cfg_number_error_text(enum cfg_num_error err);

/* ------------------------------------------------------------------------
 * The loaded policy. Everything below is read-only for users of the part.
 * ------------------------------------------------------------------------ */

enum cfg_source {
	CFG_SOURCE_SIM = 0, /* `sim: true`: a simulated device of its own (backend "sim") */
	CFG_SOURCE_PCI,	    /* `pci: "DDDD:BB:DD.F"`: a BAR of that function (backend "pci") */
	CFG_SOURCE_PCI_ID,  /* `pci_id: "VVVV:DDDD"`: a BAR of the pci_index-th match ("pci") */
	CFG_SOURCE_PHYS,    /* `phys: ADDR`: a fixed physical window (backend "devmem") */
};

/* The policy key of @source ("sim", "pci", "pci_id", "phys"); "?" otherwise. */
const char *cfg_source_name(enum cfg_source source);
/* The kernel-shim backend that maps @source ("sim", "pci", "devmem"); "?" otherwise. */
const char *cfg_source_backend(enum cfg_source source);

struct cfg_pci_address {
	uint16_t domain;
	uint8_t bus;
	uint8_t device;	  /* 0..31 */
	uint8_t function; /* 0..7 */
};

struct cfg_region {
	const char *name;
	enum cfg_source source;
	struct cfg_pci_address pci; /* CFG_SOURCE_PCI */
	uint16_t vendor_id;	    /* CFG_SOURCE_PCI_ID */
	uint16_t device_id;	    /* CFG_SOURCE_PCI_ID */
	unsigned pci_index;	    /* CFG_SOURCE_PCI_ID: 0 = first match */
	/* CFG_SOURCE_PCI_ID: pci_index was written; without it, more than one
	 * match is an error naming them, never the first one silently. */
	bool pci_index_given;
	unsigned bar;	 /* PCI sources: 0..5 */
	uint64_t phys;	 /* CFG_SOURCE_PHYS: physical address of byte 0 */
	uint64_t offset; /* PCI sources: offset of byte 0 in the BAR; else 0 */
	/* Bytes. 0 only for a PCI region written without `size` ("the whole
	 * BAR") until cfg_policy_resolve_size() is called for it. */
	uint64_t size;
	unsigned cache; /* MMIO_CACHE_*; default: write-back for sim, uncached otherwise */
	bool sensitive;
	/* PCI sources: which interrupt op `irq` hands out (`irq:` key):
	 * CFG_IRQ_AUTO (default) MSI if the function has it, else INTx. */
	enum cfg_irq_mode { CFG_IRQ_AUTO = 0, CFG_IRQ_MSI = 1, CFG_IRQ_INTX = 2 } irq_mode;
	unsigned line, column; /* where the region is written, for messages */
};

struct cfg_client;

struct cfg_grant {
	const struct cfg_region *region;
	const struct cfg_client *client;
	uint64_t offset; /* region-relative start */
	/* Bytes from @offset. When the grant has no `size`, the rest of the
	 * region; 0 while that region's size is unresolved (then the grant is
	 * unbounded above and the server's device window is the limit). */
	uint64_t size;
	bool size_from_region; /* no `size:` in the file: the grant runs to the region's end */
	unsigned access;       /* MMIO_ACCESS_* bits, never 0 */
	unsigned ops;	       /* MMIO_OPS_* bits, never 0 */
	unsigned widths;       /* width bits (1|2|4|8), default MMIO_WIDTHS_ALL, never 0 */
	bool exclusive;
	/* Register rules (`registers:`), sorted by offset, spans disjoint, the
	 * names parallel (NULL where none is written); none: the whole range
	 * at the grant's widths. A grant with rules never has bulk, fill or
	 * map; mmio_register_check() (<mmio/rights.h>) is its last check. */
	const struct mmio_register *registers;
	const char *const *register_names;
	size_t register_count;
	unsigned line, column;
};

/* Identity keys a client gave (all given must match). */
#define CFG_MATCH_UID	1u /* `uid:` or `user:` (resolved to a uid at load) */
#define CFG_MATCH_GID	2u /* `gid:` */
#define CFG_MATCH_GROUP 4u /* `group:` (resolved to a gid at load) */

struct cfg_client {
	const char *name;
	unsigned match;			/* CFG_MATCH_* bits, never 0 */
	uid_t uid;			/* CFG_MATCH_UID */
	gid_t gid;			/* CFG_MATCH_GID */
	gid_t group;			/* CFG_MATCH_GROUP */
	const char *user_name;		/* as written, or NULL */
	const char *group_name;		/* as written, or NULL */
	const struct cfg_grant *grants; /* this client's grants, in file order */
	size_t grant_count;
	unsigned line, column;
};

/* server.windows: whether direct grants of pci and phys regions must be
 * kernel-shim windows (revocable, page-exact). */
enum cfg_windows {
	CFG_WINDOWS_AUTO = 0, /* windows if the module is loaded, else whole-BAR descriptors */
	CFG_WINDOWS_REQUIRED, /* the server does not start (nor reloads) without the module */
	CFG_WINDOWS_OFF,      /* never windows: whole-BAR descriptors, not revocable */
};

/* "auto", "required", "off". Static. */
const char *cfg_windows_name(enum cfg_windows w);

struct cfg_server {
	const char *listen;	  /* an "ipc://" URL; default "ipc:///run/mmio/mmio.sock" */
	enum cfg_windows windows; /* server.windows; default auto */
	unsigned socket_mode;	  /* default 0660 */
	bool has_socket_group;	  /* `socket_group:` given */
	gid_t socket_gid;	  /* resolved at load */
	const char *socket_group;
	uint64_t max_message;  /* bytes, 4 KiB .. 256 MiB; default 1 MiB */
	unsigned max_sessions; /* limits.max_sessions, 1..65536; default 64 */
	unsigned max_handles;  /* limits.max_handles (per session), 1..65536; default 256 */
	uint64_t max_poll_us;  /* limits.max_poll_us, 1..60000000; default 1000000 */
	/* Per client: requests in the server at once (more are dropped unanswered),
	 * shared buffers, and their total size (0 buffers: no data plane). */
	/* limits.max_requests, 32..64: libmmio keeps up to 32 in flight, and
	 * one client must never hold the server's 128 contexts. Default 32. */
	unsigned max_requests;
	unsigned max_buffers;	   /* limits.max_buffers, 0..CFG_MAX_BUFFERS; default 8 */
	uint64_t max_buffer_bytes; /* limits.max_buffer_bytes, 4KiB..64GiB; default 1GiB */
	/*
	 * Per uid and in all (the server has 128 request contexts; a context is
	 * held from a request's arrival until its reply is sent). A uid is
	 * "ungranted" when no client entry with a grant matches it.
	 */
	unsigned max_sessions_per_uid; /* 1..max_sessions; default max_sessions / 2 (at least 1) */
	unsigned ungranted_sessions;   /* per ungranted uid, 0..CFG_MAX_UNGRANTED; default 2 */
	unsigned max_requests_per_uid; /* contexts one uid holds, 1..CFG_MAX_REQUESTS_PER_UID; 64 */
	unsigned max_requests_total; /* contexts all hold, 1..CFG_MAX_REQUESTS_TOTAL; default 112 */
	unsigned ungranted_requests; /* per ungranted uid, 1..CFG_MAX_UNGRANTED; default 2 */
	unsigned max_polls_per_uid;  /* waiting polls of one uid, 0..CFG_MAX_REQUESTS_PER_UID; 32 */
	unsigned max_polls_total;    /* waiting polls in all, 0..CFG_MAX_REQUESTS_TOTAL; 64 */
};

typedef struct cfg_policy cfg_policy;

/* One problem found while loading. @line and @column are 1-based; both 0
 * when the problem has no position (the file cannot be read). */
struct cfg_diag {
	const char *file;
	unsigned line;
	unsigned column;
	const char *message;
};

/* Receives each problem, in file order within a phase. The strings live
 * only during the call. */
typedef void (*cfg_report_fn)(void *ctx, const struct cfg_diag *diag);

/*
 * A cfg_report_fn that prints "FILE:LINE:COL: message\n" (or "FILE:
 * message\n" without a position) to the stdio stream @ctx (a FILE *).
 */
void cfg_report_to_stream(void *ctx, const struct cfg_diag *diag);

/*
 * Load and check the policy in the file @path. On success *@out is a new
 * policy owned by the caller (cfg_policy_free()). @report may be NULL
 * (problems are then only counted).
 *
 * Problems are reported in two phases: first the YAML and its structure
 * (syntax, aliases, anchors, tags, unknown / duplicate / missing keys, wrong
 * node kinds, list lengths); only if that phase is clean, every value and
 * cross-reference rule. Each phase reports all its problems, up to
 * CFG_MAX_ERRORS.
 *
 * Only a regular file is read, of at most CFG_MAX_FILE bytes; the open
 * never blocks (a FIFO is refused, not waited on). Messages quote what the
 * file says only where it looks like a policy word: a path that names some
 * other file (a symlink to a secret) gets errors that copy nothing of it.
 * Past CFG_MAX_ERRORS, one last message says how many more were found.
 *
 * Returns MMIO_OK; MMIO_EINVAL if the policy is invalid (at least one problem
 * reported, a file over CFG_MAX_FILE bytes included); MMIO_ENOENT if the file
 * cannot be read or is not a regular file (reported without a position); MMIO_ENOMEM;
 * MMIO_EINTERNAL if libcyaml refused what the checks accepted (a bug; reported with libcyaml's
 * message). *@out is NULL on error.
 */
int cfg_policy_load_file(const char *path, cfg_report_fn report, void *ctx, cfg_policy **out);

/*
 * As cfg_policy_load_file(), from the @len bytes at @data; @name is the file
 * name used in messages (the bytes are copied; @data need not be
 * NUL-terminated). Never reads past @len; safe on arbitrary bytes.
 */
int cfg_policy_load_buffer(const void *data, size_t len, const char *name, cfg_report_fn report,
			   void *ctx, cfg_policy **out);

/* Release @p. NULL is fine. */
void cfg_policy_free(cfg_policy *p);

/*
 * Tell the policy the size in bytes of the BAR behind PCI region @region, as
 * the backend found it. Part of building a policy: call it before the policy
 * is shared with other threads (it is the only function that changes a
 * policy). A region without `size` becomes [offset, @source_size); every
 * rule that needed the size (grants inside the region, `map` alignment) is
 * checked again.
 *
 * Returns MMIO_OK; MMIO_EINVAL (reported through @report at the region's or
 * grant's position) if the region or one of its grants does not fit, or if
 * @region is not a PCI region; MMIO_ENOENT if @region is out of range. After
 * MMIO_EINVAL the policy is inconsistent: free it, do not use it.
 */
int cfg_policy_resolve_size(cfg_policy *p, size_t region, uint64_t source_size,
			    cfg_report_fn report, void *ctx);

/* The file name given at load (for messages). */
const char *cfg_policy_file(const cfg_policy *p);
const struct cfg_server *cfg_policy_server(const cfg_policy *p);

size_t cfg_policy_region_count(const cfg_policy *p);
/* Region @i (file order), or NULL if @i is out of range. */
const struct cfg_region *cfg_policy_region(const cfg_policy *p, size_t i);
/* The index of the region called @name. Returns MMIO_OK or MMIO_ENOENT. */
int cfg_policy_region_find(const cfg_policy *p, const char *name, size_t *index);

size_t cfg_policy_client_count(const cfg_policy *p);
/* Client @i (file order), or NULL if @i is out of range. */
const struct cfg_client *cfg_policy_client(const cfg_policy *p, size_t i);

/* ------------------------------------------------------------------------
 * Authorization.
 * ------------------------------------------------------------------------ */

/* Who is asking: the kernel-checked credentials of the peer. */
struct cfg_peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups if known, else NULL */
	size_t group_count;
};

/*
 * True if @client's identity matches @peer: every identity key the client
 * gave must match. uid/user match the peer's uid; gid/group match the
 * peer's primary gid or any of its supplementary groups. uid 0 gets nothing
 * special: root, too, only gets what a matching client grants.
 */
bool cfg_client_matches(const struct cfg_client *client, const struct cfg_peer *peer);

/*
 * The grant that lets @peer open region-relative [@offset, @offset + @len)
 * of region index @region: the first, in file order (clients in order,
 * then their grants), of the grants of every client matching @peer on
 * @region, that holds the whole range (not empty, overflow-safe) and
 * passes the one rights check, mmio_rights_check() of <mmio/rights.h>,
 * for the operation classes @need_ops (0 for a plain OPEN). Permissions
 * do not add up across grants: a range that spans two adjacent grants is
 * not given.
 *
 * Returns MMIO_OK and *@grant; MMIO_ENOENT if @region is out of range or
 * no matching client has a grant on it (it is invisible to @peer);
 * MMIO_EACCES if none of those grants gives the range. Every later
 * operation on the handle opened is checked against the rights of the
 * grant by the server (and, for a direct handle, by the client) with the
 * same mmio_rights_check().
 */
int cfg_policy_open_grant(const cfg_policy *p, const struct cfg_peer *peer, size_t region,
			  uint64_t offset, uint64_t len, unsigned need_ops,
			  const struct cfg_grant **grant);

/*
 * Iterate over the grants @peer holds: the first grant after @prev (NULL:
 * from the start), in file order, of a client matching @peer, on region
 * index @region (CFG_ANY_REGION: on any region). NULL at the end. Use it
 * for LIST replies and for opening "the whole grant" (mmio_open() without a
 * range opens the first grant's range).
 */
#define CFG_ANY_REGION SIZE_MAX
const struct cfg_grant *cfg_policy_next_grant(const cfg_policy *p, const struct cfg_peer *peer,
					      size_t region, const struct cfg_grant *prev);

#ifdef __cplusplus
}
#endif

#endif /* MMIO_CONFIG_H */
