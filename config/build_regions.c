/* SPDX-License-Identifier: MIT */
/*
 * Phase 3 for the regions: section (build.h): each region's name, its one
 * source (sim, pci, pci_id or phys) and where in that source it lies, its
 * cache policy; then the overlaps between regions. Also the size of a
 * whole-BAR region, known only once the server opens the device.
 */
#include "build.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Exactly @digits hex digits at @s; the value in *@out. */
static bool hex_field(const char *s, unsigned digits, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < digits; i++) {
		int d = cfg_hex_digit(s[i]);

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

/* The cache policies each source's backend can honour. A
 * policy the backend cannot give is a load error, never a downgrade. */
static unsigned source_cache_mask(enum cfg_source source)
{
	switch (source) {
	case CFG_SOURCE_SIM:
		return 1u << MMIO_CACHE_WRITE_BACK;
	case CFG_SOURCE_PCI:
	case CFG_SOURCE_PCI_ID:
		return 1u << MMIO_CACHE_UNCACHED | 1u << MMIO_CACHE_WRITE_COMBINING;
	case CFG_SOURCE_PHYS:
		return 1u << MMIO_CACHE_UNCACHED;
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
static bool build_source(struct cfg_builder *b, const struct cfg_raw_region *rr,
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

static bool source_sim(struct cfg_builder *b, const struct cfg_raw_region *rr,
		       const struct cfg_node *rn)
{
	const struct cfg_node *n = cfg_tree_get(rn, "sim");
	bool sim = false;

	if (!cfg_parse_bool(b, n, "sim", rr->sim, &sim))
		return false;
	if (!sim) {
		ERR_AT(b, n, "sim: false is no source: write sim: true or give another source");
		return false;
	}
	return true;
}

static bool source_pci(struct cfg_builder *b, const struct cfg_raw_region *rr,
		       const struct cfg_node *rn, struct cfg_region *r)
{
	struct cfg_quoted q;

	if (parse_pci_address(rr->pci, &r->pci))
		return true;
	ERR_AT(b, cfg_tree_get(rn, "pci"),
	       "pci '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F, hex)",
	       cfg_quote(&q, rr->pci));
	return false;
}

static bool source_pci_id(struct cfg_builder *b, const struct cfg_raw_region *rr,
			  const struct cfg_node *rn, struct cfg_region *r)
{
	struct cfg_quoted q;

	if (parse_pci_id(rr->pci_id, &r->vendor_id, &r->device_id))
		return true;
	ERR_AT(b, cfg_tree_get(rn, "pci_id"),
	       "pci_id '%s' is not vendor:device (VVVV:DDDD, 4 hex digits each)",
	       cfg_quote(&q, rr->pci_id));
	return false;
}

/* The value of the one source key build_source() found. */
static bool source_value(struct cfg_builder *b, const struct cfg_raw_region *rr,
			 const struct cfg_node *rn, struct cfg_region *r)
{
	switch (r->source) {
	case CFG_SOURCE_SIM:
		return source_sim(b, rr, rn);
	case CFG_SOURCE_PCI:
		return source_pci(b, rr, rn, r);
	case CFG_SOURCE_PCI_ID:
		return source_pci_id(b, rr, rn, r);
	case CFG_SOURCE_PHYS:
		return cfg_parse_number(b, cfg_tree_get(rn, "phys"), "phys", rr->phys,
					CFG_NUM_SIZE_SUFFIX, &r->phys);
	}
	return true;
}

/* pci_index: which of several functions with the same pci_id. */
static bool region_pci_index(struct cfg_builder *b, const struct cfg_raw_region *rr,
			     const struct cfg_node *rn, struct cfg_region *r)
{
	uint64_t v;

	if (rr->pci_index == NULL)
		return true;
	if (r->source != CFG_SOURCE_PCI_ID) {
		ERR_AT(b, cfg_tree_key(rn, "pci_index"), "pci_index is only for pci_id regions");
		return false;
	}
	if (!cfg_parse_ranged(b, cfg_tree_get(rn, "pci_index"), "pci_index", rr->pci_index, 0, 255,
			      &v))
		return false;
	r->pci_index = (unsigned)v;
	r->pci_index_given = true;
	return true;
}

/* bar: required for the PCI sources, refused for the others. */
static bool region_bar(struct cfg_builder *b, const struct cfg_raw_region *rr,
		       const struct cfg_node *rn, struct cfg_region *r)
{
	const struct cfg_node *n = cfg_tree_get(rn, "bar");
	struct cfg_quoted q;
	uint64_t v;

	if (rr->bar == NULL) {
		if (!is_pci(r->source))
			return true;
		ERR_AT(b, rn, "%s region '%s' needs a bar (0 to 5)", cfg_source_name(r->source),
		       cfg_quote(&q, rr->name));
		return false;
	}
	if (!is_pci(r->source)) {
		ERR_AT(b, cfg_tree_key(rn, "bar"), "bar is only for pci and pci_id regions");
		return false;
	}
	if (!cfg_parse_number(b, n, "bar", rr->bar, 0, &v))
		return false;
	if (v > 5) {
		ERR_AT(b, n, "bar %s does not exist (a PCI function has BARs 0 to 5)",
		       cfg_quote(&q, rr->bar));
		return false;
	}
	r->bar = (unsigned)v;
	return true;
}

/* offset: where in the BAR; only the PCI sources have one. */
static bool region_offset(struct cfg_builder *b, const struct cfg_raw_region *rr,
			  const struct cfg_node *rn, struct cfg_region *r)
{
	if (rr->offset == NULL)
		return true;
	if (r->source == CFG_SOURCE_SIM) {
		ERR_AT(b, cfg_tree_key(rn, "offset"),
		       "offset is only for pci and pci_id regions (a sim region is a "
		       "device of its own)");
		return false;
	}
	if (r->source == CFG_SOURCE_PHYS) {
		ERR_AT(b, cfg_tree_key(rn, "offset"),
		       "offset is only for pci and pci_id regions (for phys, add it "
		       "to the address)");
		return false;
	}
	return cfg_parse_number(b, cfg_tree_get(rn, "offset"), "offset", rr->offset,
				CFG_NUM_SIZE_SUFFIX, &r->offset);
}

/* size: required but for the PCI sources, where it defaults to the rest of
 * the BAR (cfg_policy_resolve_size()); the end must fit in 64 bits. */
static bool region_size(struct cfg_builder *b, const struct cfg_raw_region *rr,
			const struct cfg_node *rn, struct cfg_region *r)
{
	const struct cfg_node *n = cfg_tree_get(rn, "size");
	struct cfg_quoted q;

	if (rr->size == NULL) {
		if (is_pci(r->source))
			return true;
		ERR_AT(b, rn, "%s region '%s' needs a size", cfg_source_name(r->source),
		       cfg_quote(&q, rr->name));
		return false;
	}
	if (r->source == CFG_SOURCE_PHYS)
		return cfg_parse_size(b, n, rr->size, "phys", r->phys, &r->size);
	return cfg_parse_size(b, n, rr->size, "offset", r->offset, &r->size);
}

/* cache: one of mmio_cache_name()'s, and one the source's backend can honour. */
static bool region_cache(struct cfg_builder *b, const struct cfg_raw_region *rr,
			 const struct cfg_node *rn, struct cfg_region *r)
{
	const struct cfg_node *n = cfg_tree_get(rn, "cache");
	struct cfg_quoted q, q2;
	bool ok = true;

	r->cache = r->source == CFG_SOURCE_SIM ? MMIO_CACHE_WRITE_BACK : MMIO_CACHE_UNCACHED;
	if (rr->cache != NULL) {
		unsigned c;

		for (c = 0; c <= MMIO_CACHE_MAX; c++)
			if (strcmp(rr->cache, mmio_cache_name(c)) == 0)
				break;
		if (c > MMIO_CACHE_MAX) {
			ERR_AT(b, n,
			       "cache '%s' is not a cache policy (uncached, write-combining, "
			       "write-through or write-back)",
			       cfg_quote(&q, rr->cache));
			ok = false;
		} else {
			r->cache = c;
		}
	}
	if (!(source_cache_mask(r->source) & (1u << r->cache))) {
		ERR_AT(b, n != NULL ? n : rn,
		       "cache %s is not possible for %s region '%s' (the %s backend can do %s)",
		       mmio_cache_name(r->cache), cfg_source_name(r->source),
		       cfg_quote(&q2, rr->name), cfg_source_backend(r->source),
		       cache_mask_phrase(r->source));
		ok = false;
	}
	return ok;
}

static bool region_sensitive(struct cfg_builder *b, const struct cfg_raw_region *rr,
			     const struct cfg_node *rn, struct cfg_region *r)
{
	return rr->sensitive == NULL || cfg_parse_bool(b, cfg_tree_get(rn, "sensitive"),
						       "sensitive", rr->sensitive, &r->sensitive);
}

/* irq: auto, msi or intx, on PCI regions only. */
static bool region_irq(struct cfg_builder *b, const struct cfg_raw_region *rr,
		       const struct cfg_node *rn, struct cfg_region *r)
{
	static const char *const modes[] = {
		[CFG_IRQ_AUTO] = "auto", [CFG_IRQ_MSI] = "msi", [CFG_IRQ_INTX] = "intx"
	};
	const struct cfg_node *n = cfg_tree_get(rn, "irq");
	struct cfg_quoted q;

	r->irq_mode = CFG_IRQ_AUTO;
	if (rr->irq == NULL)
		return true;
	if (r->source != CFG_SOURCE_PCI && r->source != CFG_SOURCE_PCI_ID) {
		ERR_AT(b, n, "irq is for pci regions: region '%s' is %s, which has no interrupt",
		       cfg_quote(&q, rr->name), cfg_source_name(r->source));
		return false;
	}
	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		if (strcmp(rr->irq, modes[m]) == 0) {
			r->irq_mode = (enum cfg_irq_mode)m;
			return true;
		}
	}
	ERR_AT(b, n, "irq '%s' is not an interrupt kind (auto, msi or intx)",
	       cfg_quote(&q, rr->irq));
	return false;
}

/* The keys read once the source is known. Each reports its own problems;
 * all run, so that one load reports every problem of a region. */
typedef bool region_field_fn(struct cfg_builder *b, const struct cfg_raw_region *rr,
			     const struct cfg_node *rn, struct cfg_region *r);
static region_field_fn *const region_fields[] = {
	source_value, region_pci_index, region_bar,	  region_offset,
	region_size,  region_cache,	region_sensitive, region_irq,
};

static bool build_region(struct cfg_builder *b, size_t i, const struct cfg_raw_region *rr,
			 const struct cfg_node *rn)
{
	struct cfg_region *r = &b->p->regions[i];
	bool ok;

	r->line = rn->line;
	r->column = rn->column;
	ok = cfg_own_name(b, cfg_tree_get(rn, "name"), "region", rr->name, &r->name);
	for (size_t j = 0; j < i && ok; j++) {
		const struct cfg_region *earlier = &b->p->regions[j];

		if (cfg_name_taken(b, cfg_tree_get(rn, "name"), "region", rr->name, earlier->name,
				   earlier->line, earlier->column))
			ok = false;
	}
	if (!build_source(b, rr, rn, r))
		return false;
	for (size_t k = 0; k < sizeof(region_fields) / sizeof(region_fields[0]); k++)
		if (!region_fields[k](b, rr, rn, r))
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

static void check_region_overlaps(struct cfg_builder *b)
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

void cfg_build_regions(struct cfg_builder *b, const struct cfg_raw_policy *raw)
{
	const struct cfg_node *regions = cfg_tree_get(b->root, "regions");

	for (unsigned i = 0; i < raw->regions_count; i++) {
		b->region_ok[i] = build_region(b, i, &raw->regions[i], cfg_tree_item(regions, i));
		b->p->region_count = i + 1;
	}
	check_region_overlaps(b);
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
		cfg_check_grant_range(&sink, g, NULL, NULL);
	}
	cfg_sink_flush(&sink);
	return sink.count == 0 ? MMIO_OK : MMIO_EINVAL;
}
