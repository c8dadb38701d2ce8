/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the register rule matcher, mmio_register_check() of
 * <mmio/rights.h>, against a plain model. The input makes up to 64 rules
 * as the policy loader leaves them (sorted by offset, spans disjoint,
 * aligned, stride a multiple of the largest width, write_fixed outside
 * write_mask), then accesses (any offset, valid and invalid widths, both
 * directions, any value). The binary search must give exactly what a
 * linear walk over every register of every rule gives.
 */
#include <mmio/rights.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && in->left > 0; i++, in->p++, in->left--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

static unsigned widest(unsigned widths)
{
	return widths & 8 ? 8 : widths & 4 ? 4 : widths & 2 ? 2 : 1;
}

static uint64_t rule_end(const struct mmio_register *r)
{
	return r->offset + (r->count - 1) * r->stride + widest(r->widths);
}

/* One rule from 8 bytes, valid as the loader makes them. */
static void rule_make(struct input *in, struct mmio_register *r)
{
	uint64_t offset = take(in, 2), count = take(in, 1), mult = take(in, 1);
	unsigned widths = (unsigned)take(in, 1) & 15u, access = 1 + (unsigned)(take(in, 1) % 3);
	uint64_t mask = take(in, 1), fixed = take(in, 1);
	unsigned w = widest(widths ? widths : 4);

	memset(r, 0, sizeof(*r));
	r->widths = widths ? widths : 4;
	r->offset = offset & ~(uint64_t)(w - 1);
	r->count = 1 + count % 8;
	r->stride = w * (1 + mult % 4);
	r->access = access;
	r->write_mask = ~(uint64_t)0;
	if ((access & MMIO_ACCESS_WRITE) && mask != 0xff) {
		r->write_mask = (mask * 0x0101010101010101ull) & mmio_width_bits(w);
		r->write_fixed =
			(fixed * 0x0101010101010101ull) & ~r->write_mask & mmio_width_bits(w);
	}
}

static int by_offset(const void *a, const void *b)
{
	const struct mmio_register *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Rules from the input, sorted; those overlapping an earlier one dropped. */
static size_t rules_make(struct input *in, struct mmio_register *rules)
{
	size_t n = take(in, 1) % (MAX_RULES + 1), kept = 0;
	uint64_t reach = 0;

	for (size_t i = 0; i < n; i++)
		rule_make(in, &rules[i]);
	qsort(rules, n, sizeof(rules[0]), by_offset);
	for (size_t i = 0; i < n; i++) {
		if (kept > 0 && rules[i].offset < reach)
			continue;
		rules[kept++] = rules[i];
		reach = rule_end(&rules[i]);
	}
	return kept;
}

/* The model: every register of every rule, one by one. */
static int model(const struct mmio_register *rules, size_t n, uint64_t offset, unsigned width,
		 unsigned need, uint64_t value)
{
	if (n == 0)
		return MMIO_OK;
	if (!mmio_width_valid(width))
		return MMIO_EACCES;
	for (size_t i = 0; i < n; i++) {
		const struct mmio_register *r = &rules[i];

		for (uint64_t k = 0; k < r->count; k++) {
			if (r->offset + k * r->stride != offset)
				continue;
			if (!(r->widths & width) || (r->access & need) != need)
				return MMIO_EACCES;
			if ((need & MMIO_ACCESS_WRITE) &&
			    ((value & mmio_width_bits(width) & ~r->write_mask) !=
			     (r->write_fixed & mmio_width_bits(width))))
				return MMIO_EACCES;
			return MMIO_OK;
		}
	}
	return MMIO_EACCES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned widths[] = { 1, 2, 4, 8, 0, 3, 16, 5 };
	struct mmio_register rules[MAX_RULES];
	struct input in = { data, size };
	size_t n = rules_make(&in, rules);

	while (in.left > 0) {
		unsigned kind = (unsigned)take(&in, 1);
		uint64_t offset = take(&in, 2);
		uint64_t value = take(&in, 8);
		unsigned width = widths[kind & 7];
		unsigned need = 1 + ((kind >> 3) % 3);

		/* Near a rule's registers, or far past every one. */
		if (kind & 0x40)
			offset = UINT64_MAX - offset;
		else if (n > 0 && (kind & 0x80))
			offset = rules[offset % n].offset + (offset >> 8) % 64;
		struct mmio_reason why = { 0 };
		int status = mmio_register_explain(rules, n, offset, width, need, value, &why);

		if (status != model(rules, n, offset, width, need, value))
			abort();
		/* A refusal says why, a register rule's reason; a pass says nothing. */
		if ((status != MMIO_OK) != (why.code != 0) ||
		    (why.code != 0 &&
		     (why.code < MMIO_REASON_REG_NONE || why.code > MMIO_REASON_REG_BITS)))
			abort();
	}
	return 0;
}
