/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes as a policy. Beyond "no crash, no leak"
 * (ASan/UBSan), it checks the loader's own promises: a load either gives a
 * policy and no problem, or problems and no policy; every problem has a
 * message and a sane position; libcyaml never refuses what the shape check
 * passed (MMIO_EINTERNAL); and on a loaded policy, authorization agrees
 * with the single-grant check and never allows a range outside a grant.
 */
#include <mmio/config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tally {
	unsigned count;
	size_t len;
};

static void check_report(void *ctx, const struct cfg_diag *d)
{
	struct tally *t = ctx;

	t->count++;
	if (d->message == NULL || d->message[0] == '\0' || strcmp(d->file, "fuzz.yaml") != 0)
		abort();
	/* A position is 1-based and cannot be past the end of the input. */
	if ((d->line == 0) != (d->column == 0) || d->line > t->len + 1)
		abort();
	if (t->count > CFG_MAX_ERRORS + 1)
		abort();
}

static void check_authorization(const cfg_policy *p, const uint8_t *data, size_t size)
{
	static const unsigned needs[] = {
		0, MMIO_OPS_ONCE, MMIO_OPS_BULK, MMIO_OPS_FILL, MMIO_OPS_POLL, MMIO_OPS_MAP
	};
	uint32_t seed = size > 0 ? data[0] : 0;

	for (size_t c = 0; c < cfg_policy_client_count(p); c++) {
		const struct cfg_client *client = cfg_policy_client(p, c);
		struct cfg_peer peer = { .uid = client->uid,
					 .gid = (client->match & CFG_MATCH_GID) ? client->gid
										: client->group,
					 .groups = &client->group,
					 .group_count = 1 };

		for (size_t k = 0; k < client->grant_count; k++) {
			const struct cfg_grant *g = &client->grants[k];
			size_t region;
			uint64_t end = g->size ? g->offset + g->size : UINT64_MAX;
			const uint64_t offsets[] = { g->offset,
						     end - 1,
						     end,
						     end + 1,
						     0,
						     SIZE_MAX - 3,
						     g->offset + (seed & 0xfff) };

			if (cfg_policy_region_find(p, g->region->name, &region) != MMIO_OK)
				abort();
			for (size_t o = 0; o < sizeof(needs) / sizeof(needs[0]); o++) {
				for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
					const struct cfg_grant *got = NULL;
					size_t len = (size_t)(seed * 7 + i) % 9;
					int rc = cfg_policy_open_grant(p, &peer, region, offsets[i],
								       len, needs[o], &got);

					if (rc == MMIO_OK &&
					    (got == NULL || got->region != g->region || len == 0 ||
					     offsets[i] < got->offset ||
					     mmio_rights_check(got->ops, got->access, got->widths,
							       needs[o], 0, 0) != MMIO_OK))
						abort();
					if (rc == MMIO_ENOENT)
						abort(); /* the client matches and has a grant here
							  */
				}
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally t = { 0, size };
	cfg_policy *p = (cfg_policy *)&t; /* must be overwritten */
	int rc = cfg_policy_load_buffer(data, size, "fuzz.yaml", check_report, &t, &p);

	switch (rc) {
	case MMIO_OK:
		if (p == NULL || t.count != 0)
			abort();
		check_authorization(p, data, size);
		/* Resolving every PCI region with some BAR size must not break
		 * anything either. */
		for (size_t r = 0; r < cfg_policy_region_count(p); r++) {
			struct tally rt = { 0, size };

			if (cfg_policy_region(p, r)->source == CFG_SOURCE_PCI ||
			    cfg_policy_region(p, r)->source == CFG_SOURCE_PCI_ID)
				cfg_policy_resolve_size(p, r,
							size > 1 ? (uint64_t)data[1] << 12 : 0,
							check_report, &rt);
		}
		check_authorization(p, data, size);
		cfg_policy_free(p);
		break;
	case MMIO_EINVAL:
		if (p != NULL || t.count == 0)
			abort();
		break;
	case MMIO_ENOMEM:
		if (p != NULL)
			abort();
		break;
	default:
		/* MMIO_EINTERNAL: libcyaml refused what the shape check passed. */
		abort();
	}
	return 0;
}
