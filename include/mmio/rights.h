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
#define MMIO_OPS_ALL  0x1Fu

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
 * The rights check: may a grant (or handle) of @ops, @access and @widths
 * make an operation that needs the operation classes @need_ops and the
 * access @need_access, at @width bytes (0: an operation with no access
 * width of its own, a copy or a fill)? MMIO_EACCES if the classes or the
 * access are missing, then MMIO_EINVAL if the width is not valid or not
 * allowed; MMIO_OK. Range and alignment are the access's to check.
 */
static inline int mmio_rights_check(unsigned ops, unsigned access, unsigned widths,
				    unsigned need_ops, unsigned need_access, unsigned width)
{
	if ((ops & need_ops) != need_ops || (access & need_access) != need_access)
		return MMIO_EACCES;
	if (width != 0 && (!mmio_width_valid(width) || !(widths & width)))
		return MMIO_EINVAL;
	return MMIO_OK;
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
 * outside the write mask as fixed. MMIO_OK or MMIO_EACCES. O(log n).
 */
static inline int mmio_register_check(const struct mmio_register *regs, unsigned long n,
				      uint64_t offset, unsigned width, unsigned need_access,
				      uint64_t value)
{
	unsigned long lo = 0, hi = n;
	const struct mmio_register *r;
	uint64_t d;

	if (n == 0)
		return MMIO_OK;
	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (regs[mid].offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || !mmio_width_valid(width))
		return MMIO_EACCES;
	r = &regs[lo - 1];
	d = offset - r->offset;
	/* At a rule's first register (most rules are one register): no division. */
	if ((d != 0 && (d % r->stride != 0 || d / r->stride >= r->count)) || !(r->widths & width) ||
	    (r->access & need_access) != need_access)
		return MMIO_EACCES;
	if ((need_access & MMIO_ACCESS_WRITE) &&
	    ((value ^ r->write_fixed) & ~r->write_mask & mmio_width_bits(width)) != 0)
		return MMIO_EACCES;
	return MMIO_OK;
}

#ifdef __cplusplus
}
#endif

#endif
