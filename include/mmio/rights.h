/* SPDX-License-Identifier: MIT */
/*
 * The one rights vocabulary of mmio, shared by every part (kernel-shim,
 * proto, config, server, client) and by the public client API: what a grant
 * gives (access, operation classes, access widths), a region's cache policy
 * and flags, the width and alignment rule, and the one check of an
 * operation against a grant's rights. The server makes that check before
 * every operation on a handle, and a client's direct handle makes the same
 * one, by the same function, before its own loads and stores.
 *
 * The values are part of the wire protocol, the policy and the library
 * ABI: never renumber them.
 */
#ifndef MMIO_RIGHTS_H
#define MMIO_RIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include <mmio/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Access: what a grant lets a client do to the bytes. */
#define MMIO_ACCESS_READ  0x1u
#define MMIO_ACCESS_WRITE 0x2u
#define MMIO_ACCESS_ALL	  0x3u

/* Operation classes a grant allows. */
#define MMIO_OPS_ONCE 0x01u /* read8..write64 and batches */
#define MMIO_OPS_BULK 0x02u /* mmio_read, mmio_write */
#define MMIO_OPS_FILL 0x04u /* mmio_fill */
#define MMIO_OPS_POLL 0x08u /* mmio_poll32, batch polls */
#define MMIO_OPS_MAP  0x10u /* direct mode */
#define MMIO_OPS_IRQ  0x20u /* the device's interrupt (pci regions only) */
#define MMIO_OPS_ALL  0x3Fu

#define MMIO_OPS_COUNT 6u /* op classes, bits 0 to MMIO_OPS_COUNT - 1 */

/* The policy's name of one operation class bit: "once", "bulk", "fill",
 * "poll", "map", "irq"; "?" for anything else (none, several, unknown). */
static inline const char *mmio_ops_name(unsigned bit)
{
	switch (bit) {
	case MMIO_OPS_ONCE:
		return "once";
	case MMIO_OPS_BULK:
		return "bulk";
	case MMIO_OPS_FILL:
		return "fill";
	case MMIO_OPS_POLL:
		return "poll";
	case MMIO_OPS_MAP:
		return "map";
	case MMIO_OPS_IRQ:
		return "irq";
	default:
		return "?";
	}
}

/* The policy's spelling of an access: "r", "w", "rw"; "-" for none. */
static inline const char *mmio_access_name(unsigned access)
{
	static const char *const names[] = { "-", "r", "w", "rw" };

	return names[access & MMIO_ACCESS_ALL];
}

/* widths: the bit for an access of w bytes (1, 2, 4, 8) is w itself. */
#define MMIO_WIDTH_BIT(w) ((unsigned)(w))
#define MMIO_WIDTHS_ALL	  0x0Fu

/* Append @s, after a comma unless first, to @buf of @len bytes at *@at
 * (kept NUL-terminated; what does not fit is cut). */
static inline void mmio__list_add(char *buf, size_t len, size_t *at, const char *s)
{
	if (*at != 0 && *at + 1 < len)
		buf[(*at)++] = ',';
	for (; *s && *at + 1 < len; s++)
		buf[(*at)++] = *s;
	buf[*at] = '\0';
}

/* The policy's list of the op classes in @ops, "once,bulk,poll" ("-" for
 * none), in @buf of @len (> 0) bytes; returns @buf. */
static inline const char *mmio_ops_text(unsigned ops, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned bit = 1; bit & MMIO_OPS_ALL; bit <<= 1)
		if (ops & bit)
			mmio__list_add(buf, len, &at, mmio_ops_name(bit));
	if (at == 0)
		mmio__list_add(buf, len, &at, "-");
	return buf;
}

/* The widths of @widths as the policy lists them, "1,2,4" ("-" for none),
 * in @buf of @len (> 0) bytes; returns @buf. */
static inline const char *mmio_widths_text(unsigned widths, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned w = 1; w <= 8; w <<= 1) {
		const char digit[2] = { (char)('0' + w), '\0' };

		if (widths & w)
			mmio__list_add(buf, len, &at, digit);
	}
	if (at == 0)
		mmio__list_add(buf, len, &at, "-");
	return buf;
}

/* A region's cache policy. */
#define MMIO_CACHE_UNCACHED	   0u
#define MMIO_CACHE_WRITE_COMBINING 1u
#define MMIO_CACHE_WRITE_THROUGH   2u
#define MMIO_CACHE_WRITE_BACK	   3u
#define MMIO_CACHE_MAX		   MMIO_CACHE_WRITE_BACK

/* The policy's name of a cache policy: "uncached", "write-combining",
 * "write-through", "write-back"; "?" for others. */
static inline const char *mmio_cache_name(unsigned cache)
{
	switch (cache) {
	case MMIO_CACHE_UNCACHED:
		return "uncached";
	case MMIO_CACHE_WRITE_COMBINING:
		return "write-combining";
	case MMIO_CACHE_WRITE_THROUGH:
		return "write-through";
	case MMIO_CACHE_WRITE_BACK:
		return "write-back";
	default:
		return "?";
	}
}

/* A region's (or a grant's, or a handle's) flags. */
#define MMIO_REGION_SENSITIVE 0x1u /* once-ops only, audited, never mapped */
#define MMIO_REGION_EXCLUSIVE 0x2u /* one open handle at a time */
#define MMIO_REGION_MAPPABLE  0x4u /* a direct mapping may be granted */
/* A direct mapping of it is a kernel-shim window: the server can revoke it,
 * and an access after that returns MMIO_EREVOKED (then the region is
 * proxied). Without it, a mapping lasts until the process unmaps it. */
#define MMIO_REGION_REVOCABLE 0x8u
#define MMIO_REGION_FLAGS     0x7u /* what a region has (LIST) */
#define MMIO_HANDLE_FLAGS     0xfu /* what an opened handle has (OPEN) */

/* An access width is 1, 2, 4 or 8 bytes. */
static inline int mmio_width_valid(unsigned width)
{
	return width - 1 < 8 && (width & (width - 1)) == 0;
}

/* The widest width of @widths (MMIO_WIDTH_BIT()s): what copies and fills
 * use at each step aligned to it; 0 for none. */
static inline unsigned mmio_widths_widest(unsigned widths)
{
	for (unsigned w = 8; w != 0; w >>= 1) {
		if (widths & w)
			return w;
	}
	return 0;
}

/* An access of a valid @width at @addr is naturally aligned. */
static inline int mmio_width_aligned(uint64_t addr, unsigned width)
{
	return (addr & (uint64_t)(width - 1)) == 0;
}

/*
 * Why an operation was refused: a reason code and two details, filled by
 * the rights check (mmio_rights_explain(), mmio_register_explain(), the
 * server's range and alignment checks), carried in the refusal's reply
 * (proto/PROTOCOL.md §4.1) and turned into a sentence by libmmio
 * (mmio_last_error()). Each reason comes with one status
 * (mmio_reason_status()). Values are part of the wire protocol: only append.
 */
enum mmio_reason_code {
	MMIO_REASON_NONE = 0,	    /* no reason known */
	MMIO_REASON_WIDTH = 1,	    /* EINVAL; a: the access's width, b: the widths allowed */
	MMIO_REASON_ALIGN = 2,	    /* EINVAL; a: the width (alignment), b: the offset */
	MMIO_REASON_RANGE = 3,	    /* EINVAL; a: the access's end, b: the handle's size */
	MMIO_REASON_OPS = 4,	    /* EACCES; a: the op class needed, b: the grant's ops */
	MMIO_REASON_ACCESS = 5,	    /* EACCES; a: the access needed, b: the grant's */
	MMIO_REASON_REG_NONE = 6,   /* EACCES; a: the region offset, no register starts there */
	MMIO_REASON_REG_WIDTH = 7,  /* EACCES; a: the width, b: the register's widths */
	MMIO_REASON_REG_ACCESS = 8, /* EACCES; a: the access needed, b: the register's */
	MMIO_REASON_REG_BITS = 9,   /* EACCES; a: the register's offset, b: bits the policy fixes */
	MMIO_REASON_REVOKED = 10,   /* EREVOKED; a reload withdrew the grant */
	MMIO_REASON_HANDLE = 11,    /* EINVAL; a: the handle, not open on this connection */
	MMIO_REASON_NO_GRANT = 12,  /* EACCES or ENOENT; no grant of this client holds the range */
	MMIO_REASON_GRANT_RANGE = 13, /* EACCES; a, b: the range [a, b) a grant holds */
	MMIO_REASON_UNMAPPABLE = 14,  /* EACCES; a: enum mmio_unmappable, b: 0 */
	MMIO_REASON_BUFFER = 15,      /* EINVAL; a: enum mmio_buffer_fault, b: per a */
	MMIO_REASON_LIMIT = 16,	      /* ENOMEM; a: enum mmio_limit, b: the limit */
	MMIO_REASON_ARGUMENT = 17,    /* EINVAL; a: enum mmio_argument, b: per a */
	MMIO_REASON_BUSY = 18,	      /* EBUSY; a: enum mmio_busy, b: per a */
};
#define MMIO_REASON_MAX MMIO_REASON_BUSY

/* MMIO_REASON_UNMAPPABLE's a: why a handle cannot be mapped. */
enum mmio_unmappable {
	MMIO_UNMAPPABLE_SENSITIVE = 1, /* a sensitive region is never mapped */
	MMIO_UNMAPPABLE_SERVER = 2,    /* the server hands out no mappings */
	MMIO_UNMAPPABLE_BACKEND = 3,   /* the region's backend has nothing to map */
	MMIO_UNMAPPABLE_PARTIAL = 4,   /* not the whole region in whole pages */
	MMIO_UNMAPPABLE_TRANSPORT = 5, /* libmmio: this connection has no descriptor channel */
};
#define MMIO_UNMAPPABLE_MAX MMIO_UNMAPPABLE_TRANSPORT

/* MMIO_REASON_BUFFER's a: what is wrong with a shared buffer or a span. */
enum mmio_buffer_fault {
	MMIO_BUFFER_UNKNOWN = 1,    /* b: the buffer id, not attached on this connection */
	MMIO_BUFFER_OUTSIDE = 2,    /* b: the buffer's size, which the span passes */
	MMIO_BUFFER_NOT_MEMFD = 3,  /* b: 0; the descriptor is not a sealable memfd */
	MMIO_BUFFER_NOT_SEALED = 4, /* b: 0; not sealed against shrinking and growing */
	MMIO_BUFFER_SIZE = 5,	    /* b: the length announced, not the memfd's size */
	MMIO_BUFFER_MISSING = 6,    /* b: 0; the token came without a descriptor */
	MMIO_BUFFER_NO_MAP = 7,	    /* b: 0; it cannot be mapped read-write (a write seal?) */
	MMIO_BUFFER_MAILBOX = 8,    /* b: a mailbox's size, which the buffer is not */
};
#define MMIO_BUFFER_MAX MMIO_BUFFER_MAILBOX

/* MMIO_REASON_BUSY's a: what is taken. */
enum mmio_busy {
	MMIO_BUSY_EXCLUSIVE = 1, /* b: 0; another handle holds an overlapping range, one of
				  * them exclusive */
	MMIO_BUSY_IN_USE = 2,	 /* b: the buffer, in use by a copy or the mailbox */
	MMIO_BUSY_MAILBOX = 3,	 /* b: 0; this connection has its mailbox already */
	MMIO_BUSY_MAILBOXES = 4, /* b: the most mailboxes of one uid (or all of them run) */
	MMIO_BUSY_RELOAD = 5,	 /* b: 0; reloads kept changing the policy under the OPEN */
	/* The server's caps (mmio-policy(5), limits): b is the cap reached. */
	MMIO_BUSY_REQUESTS = 6,	    /* this connection's requests in flight */
	MMIO_BUSY_UID_REQUESTS = 7, /* this uid's requests in flight */
	MMIO_BUSY_ALL_REQUESTS = 8, /* all clients' requests in flight */
	MMIO_BUSY_UID_POLLS = 9,    /* this uid's waiting polls */
	MMIO_BUSY_ALL_POLLS = 10,   /* all clients' waiting polls */
	MMIO_BUSY_IRQ = 11,	    /* b: 0; another client holds the device's interrupt */
};
#define MMIO_BUSY_MAX MMIO_BUSY_IRQ

/* MMIO_REASON_LIMIT's a: which of the server's limits (mmio-server(8)). */
enum mmio_limit {
	MMIO_LIMIT_HANDLES = 1,	     /* b: limits.max_handles */
	MMIO_LIMIT_BUFFERS = 2,	     /* b: limits.max_buffers (or the per-connection most) */
	MMIO_LIMIT_BUFFER_BYTES = 3, /* b: limits.max_buffer_bytes */
	MMIO_LIMIT_TOKENS = 4,	     /* b: the cap on descriptor hand-overs not yet picked up
				      * (of this connection, its uid, or all) */
};
#define MMIO_LIMIT_MAX MMIO_LIMIT_TOKENS

/* MMIO_REASON_ARGUMENT's a: an argument no grant could make valid. */
enum mmio_argument {
	MMIO_ARGUMENT_WIDTH = 1,    /* b: the width, not 1, 2, 4 or 8 */
	MMIO_ARGUMENT_NULL = 2,	    /* b: 0; a pointer the call needs is NULL */
	MMIO_ARGUMENT_OVERFLOW = 3, /* b: 0; offset + length (or rows at a pitch) overflows */
	MMIO_ARGUMENT_EMPTY = 4,    /* b: 0; a length, count or row count of 0 */
	MMIO_ARGUMENT_PITCH = 5,    /* b: the pitch, below the row's bytes */
	MMIO_ARGUMENT_TOO_LONG = 6, /* b: the most one request or reply carries, in bytes */
	MMIO_ARGUMENT_GRANULE = 7,  /* b: the grant's one width; the length or pitch is not a
				     * multiple of it, or the offset not aligned to it */
	MMIO_ARGUMENT_FLAGS = 8,    /* b: the flag bits no version defines */
	MMIO_ARGUMENT_NAME = 9,	    /* b: 0; not 1 to 63 of [A-Za-z0-9_.-] */
	MMIO_ARGUMENT_CLIENT = 10,  /* b: 0; the region is another client's */
	MMIO_ARGUMENT_BATCH = 11,   /* b: the most operations one batch holds */
	MMIO_ARGUMENT_VALUE = 12,   /* b: the width; a value or mask wider than it */
};
#define MMIO_ARGUMENT_MAX MMIO_ARGUMENT_VALUE

struct mmio_reason {
	unsigned code; /* enum mmio_reason_code */
	unsigned op;   /* the refused operation's opcode (PROTOCOL.md §2.1); 0: unknown */
	uint64_t a, b; /* the details, per code */
};

/* Fill @why (if not NULL) with @code and its details; returns @status. */
static inline int mmio_reason_set(struct mmio_reason *why, int status, unsigned code, uint64_t a,
				  uint64_t b)
{
	if (why) {
		why->code = code;
		why->a = a;
		why->b = b;
	}
	return status;
}

/* The status a refusal with reason @code has; MMIO_OK for none or unknown. */
static inline int mmio_reason_status(unsigned code)
{
	switch (code) {
	case MMIO_REASON_WIDTH:
	case MMIO_REASON_ALIGN:
	case MMIO_REASON_RANGE:
	case MMIO_REASON_HANDLE:
	case MMIO_REASON_BUFFER:
	case MMIO_REASON_ARGUMENT:
		return MMIO_EINVAL;
	case MMIO_REASON_OPS:
	case MMIO_REASON_ACCESS:
	case MMIO_REASON_REG_NONE:
	case MMIO_REASON_REG_WIDTH:
	case MMIO_REASON_REG_ACCESS:
	case MMIO_REASON_REG_BITS:
	case MMIO_REASON_NO_GRANT:
	case MMIO_REASON_GRANT_RANGE:
	case MMIO_REASON_UNMAPPABLE:
		return MMIO_EACCES;
	case MMIO_REASON_REVOKED:
		return MMIO_EREVOKED;
	case MMIO_REASON_LIMIT:
		return MMIO_ENOMEM;
	case MMIO_REASON_BUSY:
		return MMIO_EBUSY;
	default:
		return MMIO_OK;
	}
}

/*
 * The rights check: may a grant (or handle) of @ops, @access and @widths
 * make an operation that needs the operation classes @need_ops and the
 * access @need_access, at @width bytes (0: an operation with no access
 * width of its own, a copy or a fill)? MMIO_EACCES if the classes
 * (MMIO_REASON_OPS, a: the first class missing) or the access
 * (MMIO_REASON_ACCESS) are missing, then MMIO_EINVAL if the width is not
 * valid or not allowed (MMIO_REASON_WIDTH); MMIO_OK. @why may be NULL.
 * Range and alignment are the access's to check.
 */
static inline int mmio_rights_explain(unsigned ops, unsigned access, unsigned widths,
				      unsigned need_ops, unsigned need_access, unsigned width,
				      struct mmio_reason *why)
{
	unsigned missing = need_ops & ~ops;

	if (missing)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_OPS, missing & -missing, ops);
	if ((access & need_access) != need_access)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_ACCESS, need_access, access);
	if (width != 0 && (!mmio_width_valid(width) || !(widths & width)))
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_WIDTH, width, widths);
	return MMIO_OK;
}

/* mmio_rights_explain() without the reason. */
static inline int mmio_rights_check(unsigned ops, unsigned access, unsigned widths,
				    unsigned need_ops, unsigned need_access, unsigned width)
{
	return mmio_rights_explain(ops, access, widths, need_ops, need_access, width, NULL);
}

/*
 * A register rule of a grant (the policy's `registers:`, config/POLICY.md).
 * @count registers, @stride bytes apart, the first at region-relative
 * @offset, each accessed only at its start, at the widths @widths and with
 * the access @access. A write of w bytes must leave every bit of its value
 * outside @write_mask as @write_fixed has it (within the w bytes): the
 * server never reads a register to merge bits behind the driver's back.
 */
struct mmio_register {
	uint64_t offset;
	uint64_t count;	      /* at least 1 */
	uint64_t stride;      /* at least the largest width, a multiple of it */
	uint64_t write_mask;  /* the bits a write may choose; all ones: any */
	uint64_t write_fixed; /* the value of every other bit; none inside write_mask */
	unsigned widths;      /* width bits */
	unsigned access;      /* MMIO_ACCESS_* */
};

/* The bits of an access of a valid @width bytes. */
static inline uint64_t mmio_width_bits(unsigned width)
{
	return width >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * width)) - 1;
}

/*
 * The register rule, the last part of the rights check on a grant that has
 * register rules: @regs are @n rules sorted by offset whose spans (first
 * byte to the end of the last register) do not overlap; none (@n 0): every
 * access passes. Otherwise an operation at region-relative @offset of
 * @width bytes (0: a copy, a fill or a mapping, never allowed) needing the
 * access @need_access (writing @value) passes only at the start of a
 * register with that width and access, and a write only with @value's bits
 * outside the write mask as fixed. MMIO_OK or MMIO_EACCES with @why (may be
 * NULL) saying which: MMIO_REASON_REG_NONE, _REG_WIDTH, _REG_ACCESS or
 * _REG_BITS. O(log n).
 */
static inline int mmio_register_explain(const struct mmio_register *regs, unsigned long n,
					uint64_t offset, unsigned width, unsigned need_access,
					uint64_t value, struct mmio_reason *why)
{
	unsigned long lo = 0, hi = n;
	const struct mmio_register *r;
	uint64_t d, wrong;

	if (n == 0)
		return MMIO_OK;
	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (regs[mid].offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_NONE, offset, 0);
	r = &regs[lo - 1];
	d = offset - r->offset;
	/* At a rule's first register (most rules are one register): no division. */
	if (d != 0 && (d % r->stride != 0 || d / r->stride >= r->count))
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_NONE, offset, 0);
	if (!mmio_width_valid(width) || !(r->widths & width))
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_WIDTH, width, r->widths);
	if ((r->access & need_access) != need_access)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_ACCESS, need_access,
				       r->access);
	wrong = (value ^ r->write_fixed) & ~r->write_mask & mmio_width_bits(width);
	if ((need_access & MMIO_ACCESS_WRITE) && wrong != 0)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_BITS, offset, wrong);
	return MMIO_OK;
}

/* mmio_register_explain() without the reason. */
static inline int mmio_register_check(const struct mmio_register *regs, unsigned long n,
				      uint64_t offset, unsigned width, unsigned need_access,
				      uint64_t value)
{
	return mmio_register_explain(regs, n, offset, width, need_access, value, NULL);
}

#ifdef __cplusplus
}
#endif

#endif
