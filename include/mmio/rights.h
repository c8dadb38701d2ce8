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

/* The policy's name of the op class bit @bit: "once", "bulk", "fill",
 * "poll", "map", "irq"; NULL unless @bit is exactly one of them. */
static inline const char *mmio_ops_name(unsigned bit)
{
	static const char *const names[MMIO_OPS_COUNT] = { "once", "bulk", "fill",
							   "poll", "map",  "irq" };

	if (bit == 0 || (bit & (bit - 1)) != 0 || (bit & ~MMIO_OPS_ALL) != 0)
		return NULL;
	return names[__builtin_ctz(bit)];
}

/* widths: the bit for an access of w bytes (1, 2, 4, 8) is w itself. */
#define MMIO_WIDTH_BIT(w) ((unsigned)(w))
#define MMIO_WIDTHS_ALL	  0x0Fu

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
#define MMIO_REGION_FLAGS     0x7u

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
};
#define MMIO_REASON_MAX MMIO_REASON_NO_GRANT

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
		return MMIO_EINVAL;
	case MMIO_REASON_OPS:
	case MMIO_REASON_ACCESS:
	case MMIO_REASON_REG_NONE:
	case MMIO_REASON_REG_WIDTH:
	case MMIO_REASON_REG_ACCESS:
	case MMIO_REASON_REG_BITS:
	case MMIO_REASON_NO_GRANT:
		return MMIO_EACCES;
	case MMIO_REASON_REVOKED:
		return MMIO_EREVOKED;
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
