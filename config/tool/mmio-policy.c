/* SPDX-License-Identifier: MIT */
/*
 * mmio-policy: lint policy files (`check`) and show what one client may do
 * (`explain`), as mmio-policy(5) documents. Exit 0 valid, 1 invalid, 2 usage.
 */
#include <mmio/config.h>
#include <mmio/config_shim.h>

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_INVALID 1
#define EXIT_USAGE   2
#define MAX_GROUPS   256

static const char usage_text[] =
	"Usage: mmio-policy check FILE...\n"
	"       mmio-policy explain FILE --uid N [--gid N]\n"
	"       mmio-policy --help\n"
	"\n"
	"Check mmio policy files, or show what one client may do.\n"
	"\n"
	"  check    load each FILE with every check mmio-server makes; print\n"
	"           \"FILE: ok (N regions, M clients)\" for a valid one, and each\n"
	"           problem as \"FILE:LINE:COL: message\" on stderr\n"
	"  explain  print the grants that a peer with uid N (and gid N) gets from\n"
	"           FILE; without --gid, the gid and supplementary groups of the\n"
	"           uid's passwd entry are used; then, for each region it may\n"
	"           open, where it lies: the PCI function, BAR and physical range\n"
	"           found in sysfs ($MMIO_SYSFS_ROOT, default /sys) without mapping\n"
	"           anything, or why it cannot be found (a pci_id several\n"
	"           functions have, no such function)\n"
	"\n"
	"Exit status: 0 all valid, 1 a policy is invalid, 2 usage error.\n";

static int usage_error(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *who, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try 'mmio-policy --help'\n");
	return EXIT_USAGE;
}

static int run_check(int argc, char **argv)
{
	const char *who = "mmio-policy check";
	bool options_done = false;
	int nfiles = 0;
	int status = EXIT_SUCCESS;

	for (int i = 0; i < argc; i++) {
		if (options_done || argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
			nfiles++;
		else if (strcmp(argv[i], "--") == 0)
			options_done = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(usage_text, stdout) == EOF ? EXIT_FAILURE : EXIT_SUCCESS;
		else
			return usage_error(who, "unknown option '%s'", argv[i]);
	}
	if (nfiles == 0)
		return usage_error(who, "missing FILE");

	options_done = false;
	for (int i = 0; i < argc; i++) {
		cfg_policy *p;

		if (!options_done && strcmp(argv[i], "--") == 0) {
			options_done = true;
			continue;
		}
		if (cfg_policy_load_file(argv[i], cfg_report_to_stream, stderr, &p) != MMIO_OK) {
			status = EXIT_INVALID;
			continue;
		}
		printf("%s: ok (%zu region%s, %zu client%s)\n", argv[i], cfg_policy_region_count(p),
		       cfg_policy_region_count(p) == 1 ? "" : "s", cfg_policy_client_count(p),
		       cfg_policy_client_count(p) == 1 ? "" : "s");
		cfg_policy_free(p);
	}
	return status;
}

/* An id as the policy writes it (decimal or 0x hex), 0 .. 2^32 - 2. */
static int parse_id(const char *opt, const char *text, unsigned long *out)
{
	enum cfg_num_error e;
	uint64_t v;

	e = cfg_number_parse(text, 0, &v);
	if (e != CFG_NUM_OK) {
		fprintf(stderr, "mmio-policy explain: %s '%s': %s; try 'mmio-policy --help'\n", opt,
			text, cfg_number_error_text(e));
		return -1;
	}
	if (v > UINT32_MAX - 1) {
		fprintf(stderr,
			"mmio-policy explain: %s %s is out of range (0 to 4294967294); try "
			"'mmio-policy --help'\n",
			opt, text);
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

struct explain_args {
	const char *file;
	bool has_uid, has_gid;
	unsigned long uid, gid;
};

static int parse_explain_args(int argc, char **argv, struct explain_args *a)
{
	const char *who = "mmio-policy explain";
	bool options_done = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		bool is_uid = strcmp(arg, "--uid") == 0;

		if (!options_done && (is_uid || strcmp(arg, "--gid") == 0)) {
			bool *has = is_uid ? &a->has_uid : &a->has_gid;

			if (*has)
				return usage_error(who, "%s given twice", arg);
			if (i + 1 == argc)
				return usage_error(who, "%s needs a number", arg);
			if (parse_id(arg, argv[++i], is_uid ? &a->uid : &a->gid) != 0)
				return EXIT_USAGE;
			*has = true;
		} else if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
		} else if (!options_done &&
			   (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
			return -1;
		} else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
			return usage_error(who, "unknown option '%s'", arg);
		} else if (a->file != NULL) {
			return usage_error(who, "more than one FILE ('%s')", arg);
		} else {
			a->file = arg;
		}
	}
	if (a->file == NULL)
		return usage_error(who, "missing FILE");
	if (!a->has_uid)
		return usage_error(who, "missing --uid N");
	return 0;
}

#define COLUMNS 10

struct row {
	char cell[COLUMNS][96];
};

/* BULK: the widest access copies and fills make, at each step aligned to it. */
static const char *const headers[COLUMNS] = { "REGION",	   "RANGE", "ACCESS",	 "OPS",
					      "WIDTHS",	   "BULK",  "EXCLUSIVE", "CACHE",
					      "SENSITIVE", "CLIENT" };

static void fill_row(struct row *row, const struct cfg_grant *g)
{
	const struct cfg_region *r = g->region;

	snprintf(row->cell[0], sizeof(row->cell[0]), "%s", r->name);
	if (g->size == 0)
		snprintf(row->cell[1], sizeof(row->cell[1]), "[0x%llx, end of BAR)",
			 (unsigned long long)g->offset);
	else
		snprintf(row->cell[1], sizeof(row->cell[1]), "[0x%llx, 0x%llx)",
			 (unsigned long long)g->offset, (unsigned long long)(g->offset + g->size));
	snprintf(row->cell[2], sizeof(row->cell[2]), "%s", mmio_access_name(g->access));
	mmio_ops_text(g->ops, row->cell[3], sizeof(row->cell[3]));
	/* Which interrupt irq gives, when the region does not leave it to
	 * the server (auto: MSI if the function has it, else INTx). */
	if ((g->ops & MMIO_OPS_IRQ) && r->irq_mode != CFG_IRQ_AUTO) {
		size_t used = strlen(row->cell[3]);

		snprintf(row->cell[3] + used, sizeof(row->cell[3]) - used, "(%s)",
			 r->irq_mode == CFG_IRQ_MSI ? "msi" : "intx");
	}
	mmio_widths_text(g->widths, row->cell[4], sizeof(row->cell[4]));
	if (g->ops & (MMIO_OPS_BULK | MMIO_OPS_FILL))
		snprintf(row->cell[5], sizeof(row->cell[5]), "%u", mmio_widths_widest(g->widths));
	else
		snprintf(row->cell[5], sizeof(row->cell[5]), "-");
	snprintf(row->cell[6], sizeof(row->cell[6]), "%s", g->exclusive ? "yes" : "no");
	snprintf(row->cell[7], sizeof(row->cell[7]), "%s", mmio_cache_name(r->cache));
	snprintf(row->cell[8], sizeof(row->cell[8]), "%s", r->sensitive ? "yes" : "no");
	snprintf(row->cell[9], sizeof(row->cell[9]), "%s", g->client->name);
}

static void print_row(const char *const cells[COLUMNS], const size_t widths[COLUMNS])
{
	for (size_t c = 0; c < COLUMNS; c++)
		printf("%-*s%s", c == COLUMNS - 1 ? 0 : (int)widths[c], cells[c],
		       c == COLUMNS - 1 ? "\n" : "  ");
}

/* The peer's gid and groups from its passwd entry, as a login would set them. */
static void peer_from_passwd(uid_t uid, struct cfg_peer *peer, gid_t *groups, const char **who)
{
	static char buf[16384];
	static char name[256];
	struct passwd pw, *found = NULL;
	int n = MAX_GROUPS;

	peer->gid = (gid_t)-1;
	*who = NULL;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
		return;
	snprintf(name, sizeof(name), "%s", found->pw_name);
	*who = name;
	peer->gid = found->pw_gid;
	if (getgrouplist(found->pw_name, found->pw_gid, groups, &n) >= 0) {
		peer->groups = groups;
		peer->group_count = (size_t)n;
	}
}

/* What mmio-server lets this peer hold at once (limits:), as a granted
 * peer or as one without a grant. */
static void print_limits(const struct cfg_server *s, bool granted)
{
	if (!granted && s->ungranted_sessions == 0) {
		printf("limits (no grant): none: its connections are closed at the handshake "
		       "(limits.ungranted_sessions is 0)\n");
		return;
	}
	if (!granted) {
		printf("limits (no grant): %u sessions of this uid (%u in all), %u requests in "
		       "flight of this uid (%u in all), no polls\n",
		       s->ungranted_sessions, s->max_sessions, s->ungranted_requests,
		       s->max_requests_total);
		return;
	}
	printf("limits: %u sessions of this uid (%u in all), %u requests in flight of this uid "
	       "(%u per session, %u in all), %u waiting polls of this uid (%u in all)\n",
	       s->max_sessions_per_uid, s->max_sessions, s->max_requests_per_uid, s->max_requests,
	       s->max_requests_total, s->max_polls_per_uid, s->max_polls_total);
	/* What a direct grant of a pci or phys region is (server.windows). */
	printf("direct windows: %s (%s)\n", cfg_windows_name(s->windows),
	       s->windows == CFG_WINDOWS_OFF ? "pci and phys grants map whole BARs; not revocable"
	       : s->windows == CFG_WINDOWS_REQUIRED
		       ? "pci and phys grants map only their pages, revocably; the server needs "
			 "the kernel-shim module"
		       : "page-exact, revocable windows if the kernel-shim module is loaded, else "
			 "whole-BAR mappings that are not revocable");
}

/* The peer line: who is asked about, and where its gid and groups came from. */
static void print_peer(const char *file, const struct cfg_peer *peer, const char *passwd_name)
{
	printf("policy %s, peer uid %lu", file, (unsigned long)peer->uid);
	if (peer->gid == (gid_t)-1)
		printf(", no gid (uid %lu has no passwd entry; give --gid)",
		       (unsigned long)peer->uid);
	else
		printf(", gid %lu", (unsigned long)peer->gid);
	if (peer->group_count > 0) {
		printf(", groups");
		for (size_t i = 0; i < peer->group_count; i++)
			printf("%s%lu", i ? "," : " ", (unsigned long)peer->groups[i]);
	}
	if (passwd_name != NULL)
		printf(" (from the passwd entry of '%s')", passwd_name);
	printf("\n");
}

/* A write mask as the policy means it: all ones is "any". */
static void format_bits(char *buf, size_t len, uint64_t bits)
{
	if (bits == ~(uint64_t)0)
		snprintf(buf, len, "any");
	else
		snprintf(buf, len, "0x%llx", (unsigned long long)bits);
}

/* The register table of @g, if it has one: what each once-op and poll may reach. */
static void print_registers(const struct cfg_grant *g)
{
	if (g->register_count == 0)
		return;
	printf("\nregisters of %s's grant on %s (line %u; only these, once and poll):\n",
	       g->client->name, g->region->name, g->line);
	printf("  %-12s %-10s %-7s %-7s %-7s %-6s %-18s %s\n", "NAME", "OFFSET", "COUNT", "STRIDE",
	       "WIDTHS", "ACCESS", "WRITE_MASK", "WRITE_FIXED");
	for (size_t k = 0; k < g->register_count; k++) {
		const struct mmio_register *rg = &g->registers[k];
		char widths[16], mask[24];

		mmio_widths_text(rg->widths, widths, sizeof(widths));
		format_bits(mask, sizeof(mask),
			    rg->access & MMIO_ACCESS_WRITE ? rg->write_mask : 0);
		printf("  %-12s 0x%-8llx %-7llu %-7llu %-7s %-6s %-18s 0x%llx\n",
		       g->register_names[k] ? g->register_names[k] : "-",
		       (unsigned long long)rg->offset, (unsigned long long)rg->count,
		       (unsigned long long)rg->stride, widths, mmio_access_name(rg->access),
		       rg->access & MMIO_ACCESS_WRITE ? mask : "-",
		       (unsigned long long)rg->write_fixed);
	}
}

/* The table of what @peer may do, one row a grant. False if out of memory. */
static bool print_grants(const cfg_policy *p, const struct cfg_peer *peer)
{
	size_t widths[COLUMNS], nrows = 0;
	struct row *rows;

	for (const struct cfg_grant *g = cfg_policy_next_grant(p, peer, CFG_ANY_REGION, NULL);
	     g != NULL; g = cfg_policy_next_grant(p, peer, CFG_ANY_REGION, g))
		nrows++;
	rows = calloc(nrows + 1, sizeof(*rows));
	if (rows == NULL)
		return false;
	for (size_t c = 0; c < COLUMNS; c++)
		widths[c] = strlen(headers[c]);
	/* Grouped by region, in region order, then grants in file order. */
	nrows = 0;
	for (size_t r = 0; r < cfg_policy_region_count(p); r++) {
		for (const struct cfg_grant *g = cfg_policy_next_grant(p, peer, r, NULL); g != NULL;
		     g = cfg_policy_next_grant(p, peer, r, g)) {
			fill_row(&rows[nrows], g);
			for (size_t c = 0; c < COLUMNS; c++)
				if (strlen(rows[nrows].cell[c]) > widths[c])
					widths[c] = strlen(rows[nrows].cell[c]);
			nrows++;
		}
	}
	if (nrows > 0) {
		printf("\n");
		print_row(headers, widths);
		for (size_t i = 0; i < nrows; i++) {
			const char *cells[COLUMNS];

			for (size_t c = 0; c < COLUMNS; c++)
				cells[c] = rows[i].cell[c];
			print_row(cells, widths);
		}
	}
	free(rows);
	for (size_t r = 0; r < cfg_policy_region_count(p); r++)
		for (const struct cfg_grant *g = cfg_policy_next_grant(p, peer, r, NULL); g != NULL;
		     g = cfg_policy_next_grant(p, peer, r, g))
			print_registers(g);
	return true;
}

/* Where pci region @r lies, into @line: its function, BAR and physical
 * range, or the error the server would give. */
static void pci_where(const struct cfg_region *r, char *line, size_t len)
{
	struct shim_source src = cfg_region_shim_source(r);
	struct shim_resolved res;
	char err[512] = "";

	if (shim_pci_resolve(&src, &res, err, sizeof(err)) == MMIO_OK)
		snprintf(line, len, "region %s: %s, phys [0x%llx, 0x%llx)", r->name, res.where,
			 (unsigned long long)res.phys, (unsigned long long)(res.phys + res.size));
	else
		snprintf(line, len, "%s", err);
}

/* Where each region @peer may open lies, one line each (sim regions have no
 * such place). */
static void print_places(const cfg_policy *p, const struct cfg_peer *peer)
{
	bool header = false;

	for (size_t i = 0; i < cfg_policy_region_count(p); i++) {
		const struct cfg_region *r = cfg_policy_region(p, i);
		char line[640];

		if (r->source == CFG_SOURCE_SIM || !cfg_policy_next_grant(p, peer, i, NULL))
			continue;
		if (r->source == CFG_SOURCE_PHYS)
			snprintf(line, sizeof(line), "region %s: phys [0x%llx, 0x%llx)", r->name,
				 (unsigned long long)r->phys,
				 (unsigned long long)(r->phys + r->size));
		else
			pci_where(r, line, sizeof(line));
		printf("%s%s\n", header ? "" : "\nwhere:\n", line);
		header = true;
	}
}

static int run_explain(int argc, char **argv)
{
	struct explain_args a = { NULL, false, false, 0, 0 };
	static gid_t groups[MAX_GROUPS];
	struct cfg_peer peer = { 0 };
	const char *passwd_name = NULL;
	size_t matched = 0;
	cfg_policy *p;
	int rc = parse_explain_args(argc, argv, &a);

	if (rc < 0)
		return fputs(usage_text, stdout) == EOF ? EXIT_FAILURE : EXIT_SUCCESS;
	if (rc != 0)
		return rc;
	if (cfg_policy_load_file(a.file, cfg_report_to_stream, stderr, &p) != MMIO_OK)
		return EXIT_INVALID;

	peer.uid = (uid_t)a.uid;
	if (a.has_gid)
		peer.gid = (gid_t)a.gid;
	else
		peer_from_passwd(peer.uid, &peer, groups, &passwd_name);
	print_peer(a.file, &peer, passwd_name);

	printf("matching clients:");
	for (size_t i = 0; i < cfg_policy_client_count(p); i++) {
		const struct cfg_client *c = cfg_policy_client(p, i);

		if (!cfg_client_matches(c, &peer))
			continue;
		printf("%s %s (line %u)", matched ? "," : "", c->name, c->line);
		matched++;
	}
	printf("%s\n", matched ? "" : " none: this peer can see no region");
	print_limits(cfg_policy_server(p), cfg_policy_next_grant(p, &peer, CFG_ANY_REGION, NULL));

	if (!print_grants(p, &peer)) {
		cfg_policy_free(p);
		fprintf(stderr, "mmio-policy explain: out of memory\n");
		return EXIT_FAILURE;
	}
	print_places(p, &peer);
	cfg_policy_free(p);
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("mmio-policy", "missing command");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return fputs(usage_text, stdout) == EOF ? EXIT_FAILURE : EXIT_SUCCESS;
	if (strcmp(argv[1], "check") == 0)
		return run_check(argc - 2, argv + 2);
	if (strcmp(argv[1], "explain") == 0)
		return run_explain(argc - 2, argv + 2);
	return usage_error("mmio-policy", "unknown command '%s'", argv[1]);
}
