/* SPDX-License-Identifier: MIT */
/*
 * Check suite of config/: the policy loader (every rule, with the exact
 * position and wording of its error), the number syntax, the loaded
 * structures, and the authorization lookup at its boundaries.
 */
#include <mmio/config.h>

#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------ */

#define MAX_DIAGS 128

struct diags {
	unsigned count;
	struct {
		char file[64];
		unsigned line, column;
		char message[512];
	} d[MAX_DIAGS];
};

static void collect(void *ctx, const struct cfg_diag *diag)
{
	struct diags *ds = ctx;

	if (ds->count < MAX_DIAGS) {
		snprintf(ds->d[ds->count].file, sizeof(ds->d[0].file), "%s", diag->file);
		ds->d[ds->count].line = diag->line;
		ds->d[ds->count].column = diag->column;
		snprintf(ds->d[ds->count].message, sizeof(ds->d[0].message), "%s", diag->message);
	}
	ds->count++;
}

/* All diagnostics as one string, for failure messages. */
static const char *dump(const struct diags *ds)
{
	static char buf[8192];
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < ds->count && i < MAX_DIAGS && o < sizeof(buf); i++) {
		int n = snprintf(buf + o, sizeof(buf) - o, "\n  %u:%u: %s", ds->d[i].line,
				 ds->d[i].column, ds->d[i].message);

		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

static int load(const char *yaml, struct diags *ds, cfg_policy **p)
{
	memset(ds, 0, sizeof(*ds));
	return cfg_policy_load_buffer(yaml, strlen(yaml), "t.yaml", collect, ds, p);
}

/* Load @yaml, which must be valid. */
static cfg_policy *load_ok(const char *yaml)
{
	struct diags ds;
	cfg_policy *p = NULL;
	int rc = load(yaml, &ds, &p);

	ck_assert_msg(rc == MMIO_OK, "load failed (%d):%s", rc, dump(&ds));
	ck_assert_uint_eq(ds.count, 0);
	ck_assert_ptr_nonnull(p);
	return p;
}

static size_t region_index(const cfg_policy *p, const char *name)
{
	size_t i = SIZE_MAX;

	ck_assert_int_eq(cfg_policy_region_find(p, name, &i), MMIO_OK);
	return i;
}

/* ------------------------------------------------------------------------
 * Bad policies: each breaks one rule; the test asserts the exact position,
 * a key phrase of the message, and how many problems were reported.
 * ------------------------------------------------------------------------ */

struct bad_case {
	const char *name;
	const char *yaml;
	unsigned count; /* problems reported in all */
	unsigned line, column;
	const char *phrase;
};

#define V "version: 1\n"
/* Lines 2-5: one sim region 'a' of 0x2000 bytes. */
#define SIM_A "regions:\n  - name: a\n    sim: true\n    size: 0x2000\n"
/* Lines 6-10: client 'c' (uid 1000) with a grant on 'a' opened at 10:9;
 * the grant's further keys start on line 11 at column 9. */
#define CLIENT_C "clients:\n  - name: c\n    uid: 1000\n    grants:\n      - region: a\n"
/* A complete grant's body, for cases about the client rather than the grant. */
/* 100 bytes of a long name. */
#define X10	   "xxxxxxxxxx"
#define X100	   X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define GRANT_BODY "        access: r\n        ops: [once]\n"

static const struct bad_case bad_cases[] = {
	/* YAML and structure (phase 1). */
	{ "syntax", V "regions: [\n", 1, 3, 1, "YAML syntax error" },
	{ "tab-indent", V "regions:\n\t- name: x\n", 1, 3, 1, "cannot start any token" },
	{ "empty", "", 1, 1, 1, "the policy is empty" },
	{ "comment-only", "# nothing\n", 1, 1, 1, "the policy is empty" },
	{ "root-list", "- version: 1\n", 1, 1, 1, "the policy must be a mapping, not a list" },
	{ "root-scalar", "version\n", 1, 1, 1, "the policy must be a mapping, not a single value" },
	{ "two-documents", V "---\n" V, 1, 2, 1, "a second YAML document" },
	{ "anchor", V "regions:\n  - &r {name: a, sim: true, size: 16}\n", 1, 3, 5,
	  "YAML anchors are not allowed (&r)" },
	{ "alias", V "server: &s {}\nx: *s\n", 3, 3, 4, "YAML aliases are not allowed (*s)" },
	{ "tag", "version: !!int 1\n", 1, 1, 10, "YAML tags are not allowed" },
	{ "nul-in-value", V "regions:\n  - name: \"a\\0b\"\n    sim: true\n    size: 16\n", 1, 3,
	  11, "NUL character inside a value" },
	{ "unknown-top-key", V "region: []\n", 1, 2, 1,
	  "unknown key 'region' in the policy (allowed: version, server, regions, clients)" },
	{ "unknown-region-key", V SIM_A "    colour: red\n", 1, 6, 5,
	  "unknown key 'colour' in region" },
	{ "unknown-grant-key", V SIM_A CLIENT_C GRANT_BODY "        mode: fast\n", 1, 13, 9,
	  "unknown key 'mode' in grant" },
	{ "duplicate-top-key", V V, 1, 2, 1,
	  "duplicate key 'version' in the policy (first at line 1, column 1)" },
	{ "duplicate-region-key", V SIM_A "    size: 0x1000\n", 1, 6, 5,
	  "duplicate key 'size' in region (first at line 5, column 5)" },
	{ "missing-version", "regions: []\n", 1, 1, 1,
	  "the policy is missing the required key 'version'" },
	{ "missing-region-name", V "regions:\n  - sim: true\n    size: 16\n", 1, 3, 5,
	  "region is missing the required key 'name'" },
	{ "missing-grant-access", V SIM_A CLIENT_C "        ops: [once]\n", 1, 10, 9,
	  "grant is missing the required key 'access'" },
	{ "missing-grant-ops", V SIM_A CLIENT_C "        access: r\n", 1, 10, 9,
	  "grant is missing the required key 'ops'" },
	{ "regions-not-list", V "regions: {}\n", 1, 2, 10,
	  "regions must be a list, not a mapping" },
	{ "server-not-mapping", V "server: yes\n", 1, 2, 9,
	  "server must be a mapping, not a single value" },
	{ "ops-not-list", V SIM_A CLIENT_C "        access: r\n        ops: once\n", 1, 12, 14,
	  "ops must be a list, not a single value" },
	{ "size-not-scalar", V "regions:\n  - name: a\n    sim: true\n    size: [1]\n", 1, 5, 11,
	  "size must be a single value, not a list" },
	{ "complex-key", V "? [a]\n: b\n", 1, 2, 3, "a key in the policy must be a plain name" },
	{ "unsupported-version", "version: 2\nbogus: 1\n", 1, 1, 10,
	  "unsupported policy version '2' (this build reads version 1)" },
	{ "octal-version", "version: 01\n", 1, 1, 10, "unsupported policy version '01'" },
	{ "deep-nesting",
	  V "x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	  1, 2, 35, "nesting deeper than 32 levels" },
	{ "ops-too-long",
	  V SIM_A CLIENT_C
	  "        access: r\n        ops: [once, once, once, once, once, once, once, once, "
	  "once]\n",
	  1, 12, 14, "ops has 9 entries; at most 8 are allowed" },

	/* Numbers. */
	{ "number-leading-zero", V "regions:\n  - name: a\n    sim: true\n    size: 0644\n", 1, 5,
	  11, "size '0644': leading zero: octal is not allowed" },
	{ "number-junk", V "regions:\n  - name: a\n    sim: true\n    size: 0x1000junk\n", 1, 5, 11,
	  "size '0x1000junk': trailing junk after the number" },
	{ "number-negative", V "regions:\n  - name: a\n    sim: true\n    size: -1\n", 1, 5, 11,
	  "size '-1': negative numbers are not allowed" },
	{ "number-overflow",
	  V "regions:\n  - name: a\n    sim: true\n    size: 18446744073709551616\n", 1, 5, 11,
	  "size '18446744073709551616': too large" },
	{ "number-suffix-overflow",
	  V "regions:\n  - name: a\n    sim: true\n    size: 17179869184GiB\n", 1, 5, 11,
	  "too large (does not fit in 64 bits)" },
	{ "number-suffix-not-allowed",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 1KiB\n", 1, 5, 10,
	  "bar '1KiB': a size suffix (KiB/MiB/GiB) is not allowed here" },
	{ "number-bare-0x", V "regions:\n  - name: a\n    sim: true\n    size: 0x\n", 1, 5, 11,
	  "size '0x': not a number" },
	{ "number-wrong-suffix", V "regions:\n  - name: a\n    sim: true\n    size: 4KB\n", 1, 5,
	  11, "size '4KB': trailing junk" },
	{ "number-empty", V "regions:\n  - name: a\n    sim: true\n    size:\n", 1, 5, 10,
	  "size '': empty value" },

	/* Regions. */
	{ "size-zero", V "regions:\n  - name: a\n    sim: true\n    size: 0\n", 1, 5, 11,
	  "size must be greater than 0" },
	{ "phys-size-overflow",
	  V "regions:\n  - name: a\n    phys: 0xfffffffffffff000\n    size: 0x1000\n", 1, 5, 11,
	  "phys + size overflows 64 bits" },
	{ "pci-offset-size-overflow",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 0\n    offset: "
	    "0xffffffffffffff00\n    size: 0x100\n",
	  1, 7, 11, "offset + size overflows 64 bits" },
	{ "duplicate-region-name", V SIM_A "  - name: a\n    sim: true\n    size: 16\n", 1, 6, 11,
	  "duplicate region name 'a' (first at line 3, column 5)" },
	{ "region-name-charset", V "regions:\n  - name: \"a b\"\n    sim: true\n    size: 16\n", 1,
	  3, 11, "region name 'a b' has a character outside A-Z a-z 0-9 _ . -" },
	{ "region-name-too-long",
	  V "regions:\n  - name: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    sim: true\n    "
	    "size: 16\n",
	  1, 3, 11, "is longer than 63 bytes" },
	{ "region-name-empty", V "regions:\n  - name: \"\"\n    sim: true\n    size: 16\n", 1, 3,
	  11, "region name is empty" },
	{ "no-source", V "regions:\n  - name: a\n    size: 16\n", 1, 3, 5,
	  "region 'a' has no source: give one of pci, pci_id, phys or sim" },
	{ "two-sources", V "regions:\n  - name: a\n    sim: true\n    phys: 0x1000\n    size: 16\n",
	  1, 5, 5, "region 'a' has more than one source (sim and phys): give exactly one" },
	{ "sim-false", V "regions:\n  - name: a\n    sim: false\n    size: 16\n", 1, 4, 10,
	  "sim: false is no source" },
	{ "sim-yes", V "regions:\n  - name: a\n    sim: yes\n    size: 16\n", 1, 4, 10,
	  "sim 'yes': write true or false" },
	{ "sim-no-size", V "regions:\n  - name: a\n    sim: true\n", 1, 3, 5,
	  "sim region 'a' needs a size" },
	{ "phys-no-size", V "regions:\n  - name: a\n    phys: 0xfed00000\n", 1, 3, 5,
	  "phys region 'a' needs a size" },
	{ "pci-no-bar", V "regions:\n  - name: a\n    pci: \"0000:00:03.0\"\n", 1, 3, 5,
	  "pci region 'a' needs a bar (0 to 5)" },
	{ "bar-6", V "regions:\n  - name: a\n    pci_id: \"1234:11e8\"\n    bar: 6\n", 1, 5, 10,
	  "bar 6 does not exist (a PCI function has BARs 0 to 5)" },
	{ "bar-on-sim", V SIM_A "    bar: 0\n", 1, 6, 5, "bar is only for pci and pci_id regions" },
	{ "offset-on-phys",
	  V "regions:\n  - name: a\n    phys: 0xfed00000\n    offset: 0x10\n    size: 0x10\n", 1, 5,
	  5, "offset is only for pci and pci_id regions (for phys, add it to the address)" },
	{ "offset-on-sim", V SIM_A "    offset: 0\n", 1, 6, 5,
	  "offset is only for pci and pci_id regions (a sim region is a device of its own)" },
	{ "pci-index-on-pci",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    pci_index: 1\n    bar: 0\n", 1, 5, 5,
	  "pci_index is only for pci_id regions" },
	{ "pci-address-bad-device",
	  V "regions:\n  - name: a\n    pci: \"0000:00:20.0\"\n    bar: 0\n", 1, 4, 10,
	  "pci '0000:00:20.0' is not a PCI address" },
	{ "pci-id-bad", V "regions:\n  - name: a\n    pci_id: \"1234-11e8\"\n    bar: 0\n", 1, 4,
	  13, "pci_id '1234-11e8' is not vendor:device" },
	{ "cache-unknown", V SIM_A "    cache: cached\n", 1, 6, 12,
	  "cache 'cached' is not a cache policy" },
	{ "irq-kind-on-sim", V SIM_A "    irq: msi\n", 1, 6, 10,
	  "irq is for pci regions: region 'a' is sim, which has no interrupt" },
	{ "irq-kind-unknown",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 0\n    irq: msix\n", 1, 6, 10,
	  "irq 'msix' is not an interrupt kind (auto, msi or intx)" },
	{ "cache-wb-on-pci",
	  V "regions:\n  - name: a\n    pci_id: \"1af4:1110\"\n    bar: 2\n    cache: write-back\n",
	  1, 6, 12,
	  "cache write-back is not possible for pci_id region 'a' (the pci backend can do uncached "
	  "or write-combining)" },
	{ "cache-uc-on-sim", V SIM_A "    cache: uncached\n", 1, 6, 12,
	  "cache uncached is not possible for sim region 'a' (the sim backend can do write-back "
	  "only)" },
	{ "cache-wc-on-phys",
	  V "regions:\n  - name: a\n    phys: 0xfed00000\n    size: 0x1000\n    cache: "
	    "write-combining\n",
	  1, 6, 12, "the devmem backend can do uncached only" },
	{ "cache-wt-on-pci",
	  V "regions:\n  - name: a\n    pci: \"00:02.0\"\n    bar: 0\n    cache: write-through\n",
	  1, 6, 12, "cache write-through is not possible for pci region 'a'" },
	{ "sensitive-yes", V SIM_A "    sensitive: yes\n", 1, 6, 16,
	  "sensitive 'yes': write true or false" },
	{ "overlap-phys",
	  V "regions:\n  - name: a\n    phys: 0xfed00000\n    size: 0x2000\n  - name: b\n    phys: "
	    "0xfed01fff\n    size: 0x10\n",
	  1, 6, 5,
	  "region 'b' overlaps region 'a' (line 3): both cover physical addresses from "
	  "0xfed01fff" },
	{ "overlap-pci-whole-bar",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 0\n    offset: 0x100\n    size: "
	    "0x100\n  - name: b\n    pci: \"00:03.0\"\n    bar: 0\n",
	  1, 8, 5, "region 'b' overlaps region 'a' (line 3): both cover BAR 0 from offset 0x100" },
	{ "overlap-pci-id",
	  V "regions:\n  - name: a\n    pci_id: \"1af4:1110\"\n    bar: 2\n    size: 0x1000\n  - "
	    "name: b\n    pci_id: \"1af4:1110\"\n    bar: 2\n    offset: 0xfff\n",
	  1, 7, 5, "region 'b' overlaps region 'a'" },

	/* Grants. */
	{ "grant-unknown-region",
	  V SIM_A "clients:\n  - name: c\n    uid: 1\n    grants:\n      - region: b\n" GRANT_BODY,
	  1, 10, 17, "grant refers to unknown region 'b'" },
	{ "grant-outside-region",
	  V SIM_A CLIENT_C "        offset: 0x1000\n        size: 0x1001\n" GRANT_BODY, 1, 12, 15,
	  "grant [0x1000, 0x2001) is outside region 'a' (size 0x2000)" },
	{ "grant-offset-past-end", V SIM_A CLIENT_C "        offset: 0x2000\n" GRANT_BODY, 1, 11,
	  17, "grant offset 0x2000 is past the end of region 'a' (size 0x2000)" },
	{ "grant-size-zero", V SIM_A CLIENT_C "        size: 0\n" GRANT_BODY, 1, 11, 15,
	  "size must be greater than 0" },
	{ "grant-offset-size-overflow",
	  V SIM_A CLIENT_C "        offset: 0xffffffffffffffff\n        size: 1\n" GRANT_BODY, 1,
	  12, 15, "offset + size overflows 64 bits" },
	{ "map-unaligned-size",
	  V SIM_A CLIENT_C "        size: 0x100\n        access: r\n        ops: [map]\n", 1, 13,
	  15, "map needs a page-aligned range" },
	{ "map-unaligned-start",
	  V SIM_A CLIENT_C
	  "        offset: 0x800\n        size: 0x1000\n        access: r\n        "
	  "ops: [once, map]\n",
	  1, 14, 21, "starts at device offset 0x800" },
	{ "map-unaligned-pci-base",
	  V "regions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 0\n    offset: 0x10\n" CLIENT_C
	    "        access: r\n        ops: [map]\n",
	  1, 13, 15, "starts at device offset 0x10" },
	{ "map-on-sensitive",
	  V SIM_A "    sensitive: true\n"
		  "clients:\n  - name: c\n    uid: 1000\n    grants:\n      - "
		  "region: a\n        access: r\n        ops: [once, map]\n",
	  1, 13, 21, "map is not allowed on sensitive region 'a' (only once and poll)" },
	{ "bulk-on-sensitive",
	  V SIM_A "    sensitive: true\n"
		  "clients:\n  - name: c\n    uid: 1000\n    grants:\n      - "
		  "region: a\n        access: r\n        ops: [bulk]\n",
	  1, 13, 15, "bulk is not allowed on sensitive region 'a'" },
	{ "fill-on-sensitive",
	  V SIM_A "    sensitive: true\n"
		  "clients:\n  - name: c\n    uid: 1000\n    grants:\n      - "
		  "region: a\n        access: w\n        ops: [once, fill]\n",
	  1, 13, 21, "fill is not allowed on sensitive region 'a'" },
	{ "fill-needs-write", V SIM_A CLIENT_C "        access: r\n        ops: [fill]\n", 1, 12,
	  15, "fill needs write access (access is 'r')" },
	{ "poll-needs-read", V SIM_A CLIENT_C "        access: w\n        ops: [once, poll]\n", 1,
	  12, 21, "poll needs read access (access is 'w')" },
	{ "map-needs-read", V SIM_A CLIENT_C "        access: w\n        ops: [map]\n", 1, 12, 15,
	  "map needs read access: a mapping cannot be write-only" },
	{ "width-3", V SIM_A CLIENT_C GRANT_BODY "        widths: [4, 3]\n", 1, 13, 21,
	  "width 3 is not an access width (1, 2, 4 or 8 bytes)" },
	{ "width-16", V SIM_A CLIENT_C GRANT_BODY "        widths: [16]\n", 1, 13, 18,
	  "width 16 is not an access width" },
	{ "width-twice", V SIM_A CLIENT_C GRANT_BODY "        widths: [4, 4]\n", 1, 13, 21,
	  "width 4 is listed twice" },
	{ "widths-empty", V SIM_A CLIENT_C GRANT_BODY "        widths: []\n", 1, 13, 17,
	  "widths is empty" },
	{ "width-octal", V SIM_A CLIENT_C GRANT_BODY "        widths: [04]\n", 1, 13, 18,
	  "width '04': leading zero" },
	{ "op-unknown", V SIM_A CLIENT_C "        access: r\n        ops: [once, peek]\n", 1, 12,
	  21, "unknown op 'peek' (ops are once, bulk, fill, poll, map, irq)" },
	{ "irq-on-sim", V SIM_A CLIENT_C "        access: r\n        ops: [once, irq]\n", 1, 12, 21,
	  "irq needs a pci region: region 'a' is sim, which has no interrupt" },
	{ "irq-on-phys",
	  V "regions:\n  - name: a\n    phys: 0xfe000000\n    size: 0x1000\n" CLIENT_C
	    "        access: r\n        ops: [irq]\n",
	  1, 12, 15, "irq needs a pci region: region 'a' is phys, which has no interrupt" },
	{ "op-twice", V SIM_A CLIENT_C "        access: r\n        ops: [once, once]\n", 1, 12, 21,
	  "op 'once' is listed twice" },
	{ "ops-empty", V SIM_A CLIENT_C "        access: r\n        ops: []\n", 1, 12, 14,
	  "ops is empty" },
	{ "access-rx", V SIM_A CLIENT_C "        access: rx\n        ops: [once]\n", 1, 11, 17,
	  "access 'rx': write r, w or rw" },
	{ "exclusive-yes", V SIM_A CLIENT_C GRANT_BODY "        exclusive: yes\n", 1, 13, 20,
	  "exclusive 'yes': write true or false" },
	{ "exclusive-overlap",
	  V SIM_A CLIENT_C
	  "        size: 0x100\n" GRANT_BODY "        exclusive: true\n"
	  "  - name: d\n    uid: 1001\n    grants:\n      - region: a\n        offset: 0xff\n"
	  "        access: r\n        ops: [once]\n        exclusive: true\n",
	  1, 18, 9,
	  "exclusive grant of client 'd' on region 'a' overlaps the exclusive grant of client 'c' "
	  "(line 10)" },

	/* Clients. */
	{ "client-no-identity",
	  V SIM_A "clients:\n  - name: c\n    grants:\n      - region: a\n" GRANT_BODY, 1, 7, 5,
	  "client 'c' has no identity: give uid, gid, user or group" },
	{ "duplicate-client-name",
	  V SIM_A "clients:\n  - name: c\n    uid: 1\n  - name: c\n    uid: 2\n", 1, 9, 11,
	  "duplicate client name 'c' (first at line 7, column 5)" },
	{ "client-name-charset", V "clients:\n  - name: c/d\n    uid: 1\n", 1, 3, 11,
	  "client name 'c/d' has a character outside" },
	{ "uid-out-of-range", V "clients:\n  - name: c\n    uid: 4294967295\n", 1, 4, 10,
	  "uid 4294967295 is out of range (0 to 4294967294)" },
	{ "uid-octal", V "clients:\n  - name: c\n    uid: 0644\n", 1, 4, 10,
	  "uid '0644': leading zero" },
	{ "uid-suffix", V "clients:\n  - name: c\n    uid: 1KiB\n", 1, 4, 10,
	  "uid '1KiB': a size suffix" },
	{ "gid-negative", V "clients:\n  - name: c\n    gid: -1\n", 1, 4, 10,
	  "gid '-1': negative numbers are not allowed" },
	{ "unknown-user", V "clients:\n  - name: c\n    user: no-such-user-mmio\n", 1, 4, 11,
	  "unknown user 'no-such-user-mmio' (not in the passwd database)" },
	{ "unknown-group", V "clients:\n  - name: c\n    group: no-such-group-mmio\n", 1, 4, 12,
	  "unknown group 'no-such-group-mmio' (not in the group database)" },
	{ "user-uid-conflict", V "clients:\n  - name: c\n    uid: 4242\n    user: root\n", 1, 5, 11,
	  "user 'root' is uid 0 but uid is 4242: no peer can match both" },

	/* server: */
	{ "listen-tcp", V "server:\n  listen: tcp://127.0.0.1:5555\n", 1, 3, 11,
	  "listen 'tcp://127.0.0.1:5555' must be an ipc:// URL" },
	{ "listen-no-path", V "server:\n  listen: ipc://\n", 1, 3, 11,
	  "has no socket path after ipc://" },
	{ "listen-path-too-long", V "server:\n  listen: ipc:///" X100 "xxxxxxx\n", 1, 3, 11,
	  "listen socket path is 108 bytes; a Unix socket path holds at most 107" },
	{ "listen-path-longest", V "server:\n  listen: ipc:///" X100 "xxxxxx\n  socket_mode: 8\n",
	  1, 4, 16, "socket_mode '8'" },
	{ "socket-mode-not-octal", V "server:\n  socket_mode: \"0888\"\n", 1, 3, 16,
	  "socket_mode '0888': not an octal permission (digits 0-7 only)" },
	{ "socket-mode-too-big", V "server:\n  socket_mode: \"01777\"\n", 1, 3, 16,
	  "socket_mode '01777': not a permission of at most 0777" },
	{ "socket-mode-hex", V "server:\n  socket_mode: 0x1b0\n", 1, 3, 16,
	  "socket_mode '0x1b0': not an octal permission" },
	{ "socket-group-unknown", V "server:\n  socket_group: no-such-group-mmio\n", 1, 3, 17,
	  "unknown group 'no-such-group-mmio'" },
	{ "max-message-small", V "server:\n  max_message: 1KiB\n", 1, 3, 16,
	  "max_message 1KiB is out of range (4KiB to 256MiB)" },
	{ "max-message-big", V "server:\n  max_message: 1GiB\n", 1, 3, 16,
	  "max_message 1GiB is out of range" },
	{ "windows-unknown", V "server:\n  windows: maybe\n", 1, 3, 12,
	  "windows 'maybe' is not one of auto, required, off" },
	{ "limits-zero-sessions", V "server:\n  limits:\n    max_sessions: 0\n", 1, 4, 19,
	  "max_sessions 0 is out of range (1 to 65536)" },
	{ "limits-unknown-key", V "server:\n  limits:\n    max_clients: 5\n", 1, 4, 5,
	  "unknown key 'max_clients' in limits (allowed: max_sessions, max_handles, max_poll_us, "
	  "max_requests, max_buffers, max_buffer_bytes, max_sessions_per_uid, ungranted_sessions, "
	  "max_requests_per_uid, max_requests_total, ungranted_requests, max_polls_per_uid, "
	  "max_polls_total)" },
	{ "limits-requests-low", V "server:\n  limits:\n    max_requests: 31\n", 1, 4, 19,
	  "max_requests 31 is out of range (32 to 64)" },
	{ "limits-requests-high", V "server:\n  limits:\n    max_requests: 65\n", 1, 4, 19,
	  "max_requests 65 is out of range (32 to 64)" },
	{ "limits-buffers-high", V "server:\n  limits:\n    max_buffers: 65\n", 1, 4, 18,
	  "max_buffers 65 is out of range (0 to 64)" },
	{ "limits-buffers-negative", V "server:\n  limits:\n    max_buffers: -1\n", 1, 4, 18,
	  "max_buffers" },
	{ "limits-buffer-bytes-small", V "server:\n  limits:\n    max_buffer_bytes: 1KiB\n", 1, 4,
	  23, "max_buffer_bytes 1KiB is out of range (4KiB to 64GiB)" },
	{ "limits-buffer-bytes-big", V "server:\n  limits:\n    max_buffer_bytes: 65GiB\n", 1, 4,
	  23, "max_buffer_bytes 65GiB is out of range" },
	{ "limits-buffer-bytes-junk", V "server:\n  limits:\n    max_buffer_bytes: 1 GiB\n", 1, 4,
	  23, "max_buffer_bytes" },
	{ "limits-sessions-per-uid-zero", V "server:\n  limits:\n    max_sessions_per_uid: 0\n", 1,
	  4, 27, "max_sessions_per_uid 0 is out of range (1 to 65536)" },
	{ "limits-sessions-per-uid-above-total",
	  V "server:\n  limits:\n    max_sessions: 8\n    max_sessions_per_uid: 9\n", 1, 5, 27,
	  "max_sessions_per_uid 9 is above max_sessions 8: one uid could take every session" },
	{ "limits-ungranted-sessions-high", V "server:\n  limits:\n    ungranted_sessions: 17\n", 1,
	  4, 25, "ungranted_sessions 17 is out of range (0 to 16)" },
	{ "limits-requests-per-uid-high", V "server:\n  limits:\n    max_requests_per_uid: 97\n", 1,
	  4, 27, "max_requests_per_uid 97 is out of range (1 to 96)" },
	{ "limits-requests-total-high", V "server:\n  limits:\n    max_requests_total: 113\n", 1, 4,
	  25, "max_requests_total 113 is out of range (1 to 112)" },
	{ "limits-ungranted-requests-zero", V "server:\n  limits:\n    ungranted_requests: 0\n", 1,
	  4, 25, "ungranted_requests 0 is out of range (1 to 16)" },
	{ "limits-polls-per-uid-high", V "server:\n  limits:\n    max_polls_per_uid: 97\n", 1, 4,
	  24, "max_polls_per_uid 97 is out of range (0 to 96)" },
	{ "limits-polls-total-junk", V "server:\n  limits:\n    max_polls_total: 1KiB\n", 1, 4, 22,
	  "max_polls_total" },
};

#define BAD_CASE_COUNT (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* Lines 11-14: a grant body with registers; the register entries start on
 * line 15 at column 11 ("- "), their first key at column 13. */
#define REG_GRANT(access, ops)                                                                     \
	V SIM_A CLIENT_C "        access: " access "\n        ops: " ops                           \
			 "\n        widths: [2, 4]\n        registers:\n"
#define REG(body) "          - { " body " }\n"

/* Hostile register rules (issue 22): each breaks one rule of POLICY.md. */
static const struct bad_case reg_bad_cases[] = {
	{ "reg-bulk", REG_GRANT("rw", "[once, bulk]") REG("offset: 0, access: r"), 1, 12, 21,
	  "bulk is not allowed on a grant with registers" },
	{ "reg-fill", REG_GRANT("rw", "[once, fill]") REG("offset: 0, access: r"), 1, 12, 21,
	  "fill is not allowed on a grant with registers" },
	{ "reg-map", REG_GRANT("r", "[once, map]") REG("offset: 0, access: r"), 1, 12, 21,
	  "map is not allowed on a grant with registers" },
	{ "reg-empty", V SIM_A CLIENT_C GRANT_BODY "        registers: []\n", 1, 13, 20,
	  "registers is empty" },
	{ "reg-missing-access", REG_GRANT("rw", "[once]") REG("offset: 0"), 1, 15, 13,
	  "register is missing the required key 'access'" },
	{ "reg-unknown-key", REG_GRANT("rw", "[once]") REG("offset: 0, access: r, mask: 1"), 1, 15,
	  37, "unknown key 'mask' in register" },
	{ "reg-overlap",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: r")
		  REG("offset: 2, widths: [2], access: r"),
	  1, 16, 13, "register at 0x2 overlaps the register at 0x0 (line 15)" },
	{ "reg-array-interleave",
	  REG_GRANT("rw", "[once]") REG("offset: 0x104, count: 4, stride: 16, access: r")
		  REG("offset: 0x100, count: 4, stride: 16, access: r"),
	  1, 15, 13, "register at 0x104 overlaps the register at 0x100 (line 16)" },
	{ "reg-array-overlaps-next",
	  REG_GRANT("rw", "[once]") REG("offset: 0x100, count: 4, access: r")
		  REG("offset: 0x10c, access: r"),
	  1, 16, 13, "register at 0x10c overlaps the register at 0x100" },
	{ "reg-outside-grant",
	  V SIM_A CLIENT_C
	  "        size: 0x100\n        access: r\n        ops: [once]\n"
	  "        registers:\n" REG("offset: 0xfc, count: 2, widths: [4], access: r"),
	  1, 15, 13, "register [0xfc, 0x104) is outside the grant [0x0, 0x100)" },
	{ "reg-below-grant",
	  V SIM_A CLIENT_C "        offset: 0x100\n        access: r\n        ops: [once]\n"
			   "        registers:\n" REG("offset: 0x0, access: r"),
	  1, 15, 13, "is outside the grant [0x100, 0x2000)" },
	{ "reg-past-64-bits",
	  REG_GRANT("rw", "[once]") REG("offset: 0xfffffffffffffffc, access: r"), 1, 15, 13,
	  "reaches beyond 64 bits" },
	{ "reg-misaligned", REG_GRANT("rw", "[once]") REG("offset: 2, access: r"), 1, 15, 23,
	  "register at 0x2 is not aligned to its width 4" },
	{ "reg-stride-short",
	  REG_GRANT("rw", "[once]") REG("offset: 0, count: 2, stride: 2, access: r"), 1, 15, 44,
	  "stride 2 is not a multiple of the register's largest width 4" },
	{ "reg-count-zero", REG_GRANT("rw", "[once]") REG("offset: 0, count: 0, access: r"), 1, 15,
	  33, "count 0 is out of range (1 to 65536)" },
	/* Registers on a sensitive region: bulk is refused once, not twice. */
	{ "reg-bulk-on-sensitive",
	  V "regions:\n  - name: a\n    sim: true\n    size: 0x2000\n    sensitive: true\n"
	    "clients:\n  - name: c\n    uid: 1000\n    grants:\n      - region: a\n"
	    "        access: rw\n        ops: [once, bulk]\n        registers:\n" REG(
		    "offset: 0, access: r"),
	  1, 13, 21, "bulk is not allowed on a grant with registers" },
	{ "reg-width-not-granted",
	  REG_GRANT("rw", "[once]") REG("offset: 0, widths: [8], access: r"), 1, 15, 34,
	  "register widths must be some of the grant's widths: [8] is not in [2, 4]" },
	{ "reg-access-above-grant",
	  V SIM_A CLIENT_C GRANT_BODY "        registers:\n" REG("offset: 0, access: rw"), 1, 14,
	  34, "register access 'rw' is more than the grant's 'r'" },
	{ "reg-mask-too-wide",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: w, write_mask: 0x1ffffffff"), 1, 15, 49,
	  "write_mask 0x1ffffffff is wider than the register (4 bytes)" },
	{ "reg-fixed-too-wide",
	  REG_GRANT("rw", "[once]") REG("offset: 0, widths: [2], access: w, "
					"write_mask: 0xff, write_fixed: 0x10000"),
	  1, 15, 81, "write_fixed 0x10000 is wider than the register (2 bytes)" },
	{ "reg-mask-read-only",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: r, write_mask: 0xff"), 1, 15, 49,
	  "write_mask on a read-only register" },
	{ "reg-fixed-read-only",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: r, write_fixed: 0"), 1, 15, 50,
	  "write_fixed on a read-only register" },
	{ "reg-fixed-in-mask",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: w, write_mask: 0xff, "
					"write_fixed: 0x3"),
	  1, 15, 68, "write_fixed 0x3 sets bits of write_mask 0xff" },
	{ "reg-fixed-without-mask",
	  REG_GRANT("rw", "[once]") REG("offset: 0, access: w, write_fixed: 0x100"), 1, 15, 50,
	  "write_fixed without write_mask" },
	{ "reg-bad-name", REG_GRANT("rw", "[once]") REG("name: \"a b\", offset: 0, access: r"), 1,
	  15, 21, "register name 'a b' has a character outside" },
};

static void check_bad_case(const struct bad_case *c);

START_TEST(test_bad_register_rule)
{
	check_bad_case(&reg_bad_cases[_i]);
}
END_TEST

/* A good register table: sorted by offset, defaults filled in, names kept. */
START_TEST(test_good_registers)
{
	static const char yaml[] = REG_GRANT("rw", "[once, poll]")
		REG("name: CTRL, offset: 0x10, access: w, write_mask: 0xff00, write_fixed: 0x1")
			REG("name: STATUS, offset: 0x4, widths: [2], access: r")
				REG("offset: 0x100, count: 8, stride: 16, access: rw");
	cfg_policy *p = load_ok(yaml);
	const struct cfg_grant *g = &cfg_policy_client(p, 0)->grants[0];

	ck_assert_uint_eq(g->register_count, 3);
	ck_assert_uint_eq(g->registers[0].offset, 0x4);
	ck_assert_str_eq(g->register_names[0], "STATUS");
	ck_assert_uint_eq(g->registers[0].widths, 2);
	ck_assert_uint_eq(g->registers[0].count, 1);
	ck_assert_uint_eq(g->registers[0].stride, 2);
	ck_assert_uint_eq(g->registers[0].write_mask, UINT64_MAX);
	ck_assert_uint_eq(g->registers[1].offset, 0x10);
	ck_assert_str_eq(g->register_names[1], "CTRL");
	ck_assert_uint_eq(g->registers[1].widths, 6);
	ck_assert_uint_eq(g->registers[1].access, MMIO_ACCESS_WRITE);
	ck_assert_uint_eq(g->registers[1].write_mask, 0xff00);
	ck_assert_uint_eq(g->registers[1].write_fixed, 0x1);
	ck_assert_uint_eq(g->registers[2].count, 8);
	ck_assert_uint_eq(g->registers[2].stride, 16);
	ck_assert_ptr_null(g->register_names[2]);
	ck_assert_uint_eq(g->ops, MMIO_OPS_ONCE | MMIO_OPS_POLL);
	cfg_policy_free(p);
}
END_TEST

/* @c's policy is refused with its problem at its position, and only its. */
static void check_bad_case(const struct bad_case *c)
{
	struct diags ds;
	cfg_policy *p = (cfg_policy *)&ds;
	bool found = false;
	int rc = load(c->yaml, &ds, &p);

	ck_assert_msg(rc == MMIO_EINVAL, "%s: load returned %d:%s", c->name, rc, dump(&ds));
	ck_assert_msg(p == NULL, "%s: a policy despite the error", c->name);
	for (unsigned i = 0; i < ds.count && i < MAX_DIAGS; i++) {
		ck_assert_str_eq(ds.d[i].file, "t.yaml");
		if (ds.d[i].line == c->line && ds.d[i].column == c->column &&
		    strstr(ds.d[i].message, c->phrase) != NULL)
			found = true;
	}
	ck_assert_msg(found, "%s: no error at %u:%u containing \"%s\"; got:%s", c->name, c->line,
		      c->column, c->phrase, dump(&ds));
	ck_assert_msg(ds.count == c->count, "%s: %u errors, want %u:%s", c->name, ds.count,
		      c->count, dump(&ds));
}

START_TEST(test_bad_policy)
{
	check_bad_case(&bad_cases[_i]);
}
END_TEST

/* Every problem of a file is reported, in file order, not just the first. */
START_TEST(test_all_errors_collected_in_order)
{
	static const char yaml[] =
		V "clients:\n"
		  "  - name: c\n"
		  "    user: no-such-user-mmio\n" /* 4:11, reported second by the code */
		  "    uid: 0644\n"		  /* 5:10 */
		  "regions:\n"
		  "  - name: a\n"
		  "    sim: true\n"
		  "    size: 0\n"	   /* 9:11 */
		  "    cache: uncached\n"; /* 10:12 */
	struct diags ds;
	cfg_policy *p;

	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 4, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 4);
	ck_assert_uint_eq(ds.d[0].column, 11);
	ck_assert_uint_eq(ds.d[1].line, 5);
	ck_assert_uint_eq(ds.d[1].column, 10);
	ck_assert_uint_eq(ds.d[2].line, 9);
	ck_assert_uint_eq(ds.d[2].column, 11);
	ck_assert_uint_eq(ds.d[3].line, 10);
	ck_assert_uint_eq(ds.d[3].column, 12);
	ck_assert_ptr_nonnull(strstr(ds.d[3].message, "cache uncached is not possible"));
}
END_TEST

/* Structure problems everywhere in the file are all reported too. */
START_TEST(test_all_structure_errors_collected)
{
	static const char yaml[] = V "server:\n"
				     "  bogus: 1\n" /* 3:3 */
				     "regions:\n"
				     "  - name: a\n"
				     "    sim: true\n"
				     "    size: 16\n"
				     "    size: 32\n"	  /* 8:5 */
				     "  - &x {name: b}\n" /* 9:5 anchor */
				     "clients: 5\n";	  /* 10:10 */
	struct diags ds;
	cfg_policy *p;

	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 4, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 3);
	ck_assert_uint_eq(ds.d[1].line, 8);
	ck_assert_uint_eq(ds.d[2].line, 9);
	ck_assert_uint_eq(ds.d[3].line, 10);
	ck_assert_uint_eq(ds.d[3].column, 10);
}
END_TEST

/* The error count is bounded: 100 problems, then one "too many". */
START_TEST(test_too_many_errors)
{
	size_t cap = 200 * 64 + 64, o = 0;
	char *yaml = malloc(cap);
	struct diags ds;
	cfg_policy *p;

	ck_assert_ptr_nonnull(yaml);
	o += (size_t)snprintf(yaml + o, cap - o, "version: 1\nregions:\n");
	for (int i = 0; i < 150; i++)
		o += (size_t)snprintf(yaml + o, cap - o,
				      "  - name: r%d\n    sim: true\n    size: 0%d\n", i, i + 1);
	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_uint_eq(ds.count, CFG_MAX_ERRORS + 1);
	ck_assert_uint_eq(ds.d[0].line, 5);
	ck_assert_ptr_nonnull(strstr(ds.d[CFG_MAX_ERRORS].message, "too many errors"));
	free(yaml);
}
END_TEST

/* A list longer than its limit is a structure error at the list. */
START_TEST(test_too_many_regions)
{
	size_t cap = (CFG_MAX_REGIONS + 1) * 64 + 64, o = 0;
	char *yaml = malloc(cap);
	struct diags ds;
	cfg_policy *p;

	ck_assert_ptr_nonnull(yaml);
	o += (size_t)snprintf(yaml + o, cap - o, "version: 1\nregions:\n");
	for (int i = 0; i <= CFG_MAX_REGIONS; i++)
		o += (size_t)snprintf(yaml + o, cap - o, "  - {name: r%d, sim: true, size: 16}\n",
				      i);
	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 3);
	ck_assert_uint_eq(ds.d[0].column, 3);
	ck_assert_str_eq(ds.d[0].message, "regions has 1025 entries; at most 1024 are allowed");
	free(yaml);
}
END_TEST

/* Grants of all clients together are bounded too (the exclusivity check is
 * pairwise). */
START_TEST(test_too_many_grants)
{
	size_t cap = 5 * (64 + 1000 * 64), o = 0;
	char *yaml = malloc(cap);
	struct diags ds;
	cfg_policy *p;

	ck_assert_ptr_nonnull(yaml);
	o += (size_t)snprintf(yaml + o, cap - o,
			      "version: 1\nregions: [{name: a, sim: true, size: 16}]\nclients:\n");
	for (int c = 0; c < 5; c++) {
		o += (size_t)snprintf(yaml + o, cap - o,
				      "  - name: c%d\n    uid: %d\n    grants:\n", c, c);
		for (int g = 0; g < 1000; g++)
			o += (size_t)snprintf(yaml + o, cap - o,
					      "      - {region: a, access: r, ops: [once]}\n");
	}
	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 4);
	ck_assert_uint_eq(ds.d[0].column, 3);
	ck_assert_str_eq(ds.d[0].message,
			 "the clients have 5000 grants in all; at most 4096 are allowed");
	free(yaml);
}
END_TEST

START_TEST(test_scalar_too_long)
{
	size_t cap = 5000, o = 0;
	char *yaml = malloc(cap);
	struct diags ds;
	cfg_policy *p;

	ck_assert_ptr_nonnull(yaml);
	o += (size_t)snprintf(yaml + o, cap - o, "version: 1\nserver:\n  listen: ");
	memset(yaml + o, 'x', 4097);
	o += 4097;
	yaml[o] = '\0';
	ck_assert_int_eq(load(yaml, &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 3);
	ck_assert_uint_eq(ds.d[0].column, 11);
	ck_assert_str_eq(ds.d[0].message, "listen is longer than 4096 bytes");
	free(yaml);
}
END_TEST

START_TEST(test_load_file_errors)
{
	struct diags ds = { 0 };
	cfg_policy *p = (cfg_policy *)&ds;

	ck_assert_int_eq(cfg_policy_load_file("/nonexistent/mmio/policy.yaml", collect, &ds, &p),
			 MMIO_ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_uint_eq(ds.d[0].line, 0);
	ck_assert_str_eq(ds.d[0].file, "/nonexistent/mmio/policy.yaml");
	ck_assert_str_eq(ds.d[0].message, "cannot open: No such file or directory");

	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(cfg_policy_load_file("/", collect, &ds, &p), MMIO_ENOENT);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_str_eq(ds.d[0].message, "is a directory, not a regular file");
}
END_TEST

/*
 * Issue 18, defect 10: a FIFO at the policy path blocked open() until a
 * writer came (the server loads on the thread that takes SIGTERM). Only a
 * regular file is read; anything else is named and refused at once.
 */
START_TEST(test_load_file_not_regular)
{
	char dir[] = "/tmp/check_config_XXXXXX", path[64];
	struct diags ds = { 0 };
	cfg_policy *p;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(cfg_policy_load_file(path, collect, &ds, &p), MMIO_ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_str_eq(ds.d[0].file, path);
	ck_assert_str_eq(ds.d[0].message, "is a FIFO, not a regular file");
	unlink(path);
	rmdir(dir);

	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(cfg_policy_load_file("/dev/zero", collect, &ds, &p), MMIO_ENOENT);
	ck_assert_str_eq(ds.d[0].message, "is a character device, not a regular file");
}
END_TEST

/* The secret the next test hides behind a policy path. */
#define SECRET_HASH "$6$s3cr3tSalt$Zm9vYmFyYmF6cXV4"

/* True if any message of @ds holds a byte sequence of the secret file. */
static bool diags_leak(const struct diags *ds)
{
	static const char *const parts[] = { "s3cr3t", "Zm9v",	"$6$",	"root:",
					     "daemon", "19000", "AKIA", "hunter" };

	for (unsigned i = 0; i < ds->count && i < MAX_DIAGS; i++)
		for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
			if (strstr(ds->d[i].message, parts[k]))
				return true;
	return false;
}

/*
 * Issue 18, defect 11: a policy path that is a symlink to a secret file
 * (/etc/shadow's lines end in ':', so YAML reads each as a key) had every
 * line reported as "unknown key '...'", into the server's log. The loader
 * names the file and quotes nothing of it.
 */
START_TEST(test_load_file_foreign_secrets)
{
	static const char *const files[] = {
		/* shadow(5): each line a key with no value */
		"root:" SECRET_HASH ":19000:0:99999:7:::\n"
		"daemon:*:19000:0:99999:7:::\n",
		/* a policy-looking first key, then the secrets */
		"version: 1\nroot:" SECRET_HASH ":19000:0:99999:7:::\n",
		/* credentials as keys and values, anchors and tags named after them */
		"AKIAIOSFODNN7EXAMPLE: hunter2\nhunter2_pass: &hunter2$x y\n",
		"version: 1\nregions: &Zm9v$6$ []\n",
		"version: hunter2\n",
	};
	char dir[] = "/tmp/check_config_XXXXXX", secret[64], link[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(secret, sizeof(secret), "%s/shadow", dir);
	snprintf(link, sizeof(link), "%s/policy.yaml", dir);
	ck_assert_int_eq(symlink(secret, link), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct diags ds = { 0 };
		cfg_policy *p;
		FILE *f = fopen(secret, "w");

		ck_assert_ptr_nonnull(f);
		/* Many lines: each one would have been a message of its own. */
		for (int k = 0; k < (i == 0 ? 60 : 1); k++)
			fputs(files[i], f);
		fclose(f);
		ck_assert_int_eq(cfg_policy_load_file(link, collect, &ds, &p), MMIO_EINVAL);
		ck_assert_uint_ge(ds.count, 1);
		ck_assert_msg(!diags_leak(&ds), "file %zu leaked:%s", i, dump(&ds));
		ck_assert_str_eq(ds.d[0].file, link);
	}
	unlink(link);
	unlink(secret);
	rmdir(dir);
}
END_TEST

/* A file of keys none of which is a policy key is one error, not one per line. */
START_TEST(test_not_a_policy_is_one_error)
{
	struct diags ds = { 0 };
	cfg_policy *p;

	ck_assert_int_eq(load("user: a\npassword: b\nhost: c\n", &ds, &p), MMIO_EINVAL);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_ptr_nonnull(strstr(ds.d[0].message, "not a policy"));
}
END_TEST

START_TEST(test_load_file_too_large)
{
	char path[] = "/tmp/check_config_XXXXXX";
	int fd = mkstemp(path);
	struct diags ds = { 0 };
	cfg_policy *p;
	char *big = calloc(1, CFG_MAX_FILE + 1);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', CFG_MAX_FILE + 1);
	ck_assert_int_eq(write(fd, big, CFG_MAX_FILE + 1), CFG_MAX_FILE + 1);
	close(fd);
	ck_assert_int_eq(cfg_policy_load_file(path, collect, &ds, &p), MMIO_EINVAL);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_ptr_nonnull(strstr(ds.d[0].message, "larger than"));
	unlink(path);
	free(big);
}
END_TEST

/* Loading from a buffer never reads past its length (no NUL needed). */
START_TEST(test_load_buffer_exact_length)
{
	static const char text[] = "version: 1\nregions: []\nXXXX";
	struct diags ds = { 0 };
	cfg_policy *p;

	ck_assert_int_eq(cfg_policy_load_buffer(text, sizeof(text) - 5, "b", collect, &ds, &p),
			 MMIO_OK);
	cfg_policy_free(p);
	cfg_policy_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Good policies: the loaded structures, field by field.
 * ------------------------------------------------------------------------ */

static const char full_policy[] = "version: 1\n"
				  "server:\n"
				  "  listen: \"ipc:///tmp/mmio-test.sock\"\n"
				  "  socket_mode: \"0640\"\n"
				  "  socket_group: root\n"
				  "  max_message: 64KiB\n"
				  "  limits:\n"
				  "    max_sessions: 8\n"
				  "    max_handles: 0x10\n"
				  "    max_poll_us: 250000\n"
				  "regions:\n"
				  "  - name: edu\n" /* line 12 */
				  "    pci: \"0000:00:03.0\"\n"
				  "    bar: 0\n"
				  "    size: 0x100\n"
				  "    cache: uncached\n"
				  "  - name: shm\n" /* line 17 */
				  "    pci_id: \"1af4:1110\"\n"
				  "    pci_index: 1\n"
				  "    bar: 2\n"
				  "    offset: 1MiB\n"
				  "    cache: write-combining\n"
				  "  - name: scratch\n" /* line 23 */
				  "    sim: true\n"
				  "    size: 64KiB\n"
				  "  - name: timer.0\n" /* line 26 */
				  "    phys: 0xfed00000\n"
				  "    size: 0x400\n"
				  "    sensitive: true\n"
				  "clients:\n"
				  "  - name: edu-driver\n" /* line 31 */
				  "    uid: 1000\n"
				  "    grants:\n"
				  "      - region: edu\n" /* line 34 */
				  "        offset: 0x10\n"
				  "        size: 0x20\n"
				  "        access: rw\n"
				  "        ops: [once, poll, irq]\n"
				  "        widths: [4, 8]\n"
				  "        exclusive: true\n"
				  "      - region: scratch\n" /* line 41 */
				  "        access: r\n"
				  "        ops: [bulk, map, once]\n"
				  "  - name: admins\n" /* line 44 */
				  "    user: root\n"
				  "    group: root\n"
				  "    gid: 0\n"
				  "    grants:\n"
				  "      - region: timer.0\n"
				  "        access: r\n"
				  "        ops: [once, poll]\n"
				  "      - region: shm\n"
				  "        offset: 0x2000\n"
				  "        access: w\n"
				  "        ops: [fill, bulk]\n"
				  "        exclusive: false\n";

/* irq: on a pci region says which interrupt op irq hands out. */
START_TEST(test_good_irq_kind)
{
	static const char *const kinds[] = { "auto", "msi", "intx" };
	static const enum cfg_irq_mode modes[] = { CFG_IRQ_AUTO, CFG_IRQ_MSI, CFG_IRQ_INTX };
	char text[256];

	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof(text),
			 "version: 1\nregions:\n  - name: a\n    pci: \"00:03.0\"\n    bar: 0\n"
			 "    irq: %s\n",
			 kinds[i]);
		cfg_policy *p = load_ok(text);
		ck_assert_int_eq(cfg_policy_region(p, 0)->irq_mode, modes[i]);
		cfg_policy_free(p);
	}
}
END_TEST

START_TEST(test_good_full_policy)
{
	cfg_policy *p = load_ok(full_policy);
	const struct cfg_server *s = cfg_policy_server(p);
	const struct cfg_region *r;
	const struct cfg_client *c;
	const struct cfg_grant *g;
	struct group *root_group = getgrnam("root");
	struct passwd *root_user = getpwnam("root");

	ck_assert_ptr_nonnull(root_group);
	ck_assert_ptr_nonnull(root_user);
	ck_assert_str_eq(cfg_policy_file(p), "t.yaml");

	ck_assert_str_eq(s->listen, "ipc:///tmp/mmio-test.sock");
	ck_assert_uint_eq(s->socket_mode, 0640);
	ck_assert(s->has_socket_group);
	ck_assert_str_eq(s->socket_group, "root");
	ck_assert_uint_eq(s->socket_gid, root_group->gr_gid);
	ck_assert_uint_eq(s->max_message, 65536);
	ck_assert_uint_eq(s->max_sessions, 8);
	ck_assert_uint_eq(s->max_handles, 16);
	ck_assert_uint_eq(s->max_poll_us, 250000);

	ck_assert_uint_eq(cfg_policy_region_count(p), 4);
	ck_assert_ptr_null(cfg_policy_region(p, 4));
	r = cfg_policy_region(p, 0);
	ck_assert_str_eq(r->name, "edu");
	ck_assert_int_eq(r->source, CFG_SOURCE_PCI);
	ck_assert_uint_eq(r->pci.domain, 0);
	ck_assert_uint_eq(r->pci.bus, 0);
	ck_assert_uint_eq(r->pci.device, 3);
	ck_assert_uint_eq(r->pci.function, 0);
	ck_assert_uint_eq(r->bar, 0);
	ck_assert_uint_eq(r->offset, 0);
	ck_assert_uint_eq(r->size, 0x100);
	ck_assert_int_eq(r->cache, MMIO_CACHE_UNCACHED);
	ck_assert(!r->sensitive);
	ck_assert_int_eq(r->irq_mode, CFG_IRQ_AUTO);
	ck_assert_uint_eq(r->line, 12);
	ck_assert_uint_eq(r->column, 5);

	r = cfg_policy_region(p, 1);
	ck_assert_str_eq(r->name, "shm");
	ck_assert_int_eq(r->source, CFG_SOURCE_PCI_ID);
	ck_assert_uint_eq(r->vendor_id, 0x1af4);
	ck_assert_uint_eq(r->device_id, 0x1110);
	ck_assert_uint_eq(r->pci_index, 1);
	ck_assert(r->pci_index_given);
	ck_assert_uint_eq(r->bar, 2);
	ck_assert_uint_eq(r->offset, 1u << 20);
	ck_assert_uint_eq(r->size, 0); /* whole BAR, unresolved */
	ck_assert_int_eq(r->cache, MMIO_CACHE_WRITE_COMBINING);

	r = cfg_policy_region(p, 2);
	ck_assert(!r->pci_index_given);
	ck_assert_str_eq(r->name, "scratch");
	ck_assert_int_eq(r->source, CFG_SOURCE_SIM);
	ck_assert_uint_eq(r->size, 65536);
	ck_assert_int_eq(r->cache, MMIO_CACHE_WRITE_BACK); /* the sim default */
	ck_assert_str_eq(cfg_source_backend(r->source), "sim");

	r = cfg_policy_region(p, 3);
	ck_assert_str_eq(r->name, "timer.0");
	ck_assert_int_eq(r->source, CFG_SOURCE_PHYS);
	ck_assert_uint_eq(r->phys, 0xfed00000);
	ck_assert_uint_eq(r->size, 0x400);
	ck_assert_int_eq(r->cache, MMIO_CACHE_UNCACHED);
	ck_assert(r->sensitive);
	ck_assert_str_eq(cfg_source_backend(r->source), "devmem");

	ck_assert_uint_eq(cfg_policy_client_count(p), 2);
	ck_assert_ptr_null(cfg_policy_client(p, 2));
	c = cfg_policy_client(p, 0);
	ck_assert_str_eq(c->name, "edu-driver");
	ck_assert_uint_eq(c->match, CFG_MATCH_UID);
	ck_assert_uint_eq(c->uid, 1000);
	ck_assert_ptr_null(c->user_name);
	ck_assert_uint_eq(c->grant_count, 2);
	ck_assert_uint_eq(c->line, 31);
	g = &c->grants[0];
	ck_assert_ptr_eq(g->region, cfg_policy_region(p, 0));
	ck_assert_ptr_eq(g->client, c);
	ck_assert_uint_eq(g->offset, 0x10);
	ck_assert_uint_eq(g->size, 0x20);
	ck_assert(!g->size_from_region);
	ck_assert_uint_eq(g->access, MMIO_ACCESS_READ | MMIO_ACCESS_WRITE);
	ck_assert_uint_eq(g->ops, MMIO_OPS_ONCE | MMIO_OPS_POLL | MMIO_OPS_IRQ);
	ck_assert_uint_eq(g->widths, 4 | 8);
	ck_assert(g->exclusive);
	ck_assert_uint_eq(g->line, 34);
	ck_assert_uint_eq(g->column, 9);
	g = &c->grants[1];
	ck_assert_ptr_eq(g->region, cfg_policy_region(p, 2));
	ck_assert_uint_eq(g->offset, 0);
	ck_assert_uint_eq(g->size, 65536);
	ck_assert(g->size_from_region);
	ck_assert_uint_eq(g->access, MMIO_ACCESS_READ);
	ck_assert_uint_eq(g->ops, MMIO_OPS_BULK | MMIO_OPS_MAP | MMIO_OPS_ONCE);
	ck_assert_uint_eq(g->widths, MMIO_WIDTHS_ALL);
	ck_assert(!g->exclusive);

	c = cfg_policy_client(p, 1);
	ck_assert_str_eq(c->name, "admins");
	ck_assert_uint_eq(c->match, CFG_MATCH_UID | CFG_MATCH_GID | CFG_MATCH_GROUP);
	ck_assert_uint_eq(c->uid, root_user->pw_uid);
	ck_assert_str_eq(c->user_name, "root");
	ck_assert_uint_eq(c->group, root_group->gr_gid);
	ck_assert_str_eq(c->group_name, "root");
	ck_assert_uint_eq(c->gid, 0);
	ck_assert_uint_eq(c->grant_count, 2);
	g = &c->grants[1];
	ck_assert_ptr_eq(g->region, cfg_policy_region(p, 1));
	ck_assert_uint_eq(g->offset, 0x2000);
	ck_assert_uint_eq(g->size, 0); /* to the end of an unresolved BAR */
	ck_assert(g->size_from_region);
	ck_assert_uint_eq(g->access, MMIO_ACCESS_WRITE);
	ck_assert_uint_eq(g->ops, MMIO_OPS_FILL | MMIO_OPS_BULK);
	cfg_policy_free(p);
}
END_TEST

/* The per-client limits, at the ends of their ranges. */
START_TEST(test_good_client_limits)
{
	cfg_policy *p = load_ok("version: 1\nserver:\n  limits:\n    max_requests: 64\n"
				"    max_buffers: 0\n    max_buffer_bytes: 64GiB\n");
	const struct cfg_server *s = cfg_policy_server(p);

	ck_assert_uint_eq(s->max_requests, 64);
	ck_assert_uint_eq(s->max_buffers, 0);
	ck_assert_uint_eq(s->max_buffer_bytes, (uint64_t)64 << 30);
	cfg_policy_free(p);
	p = load_ok("version: 1\nserver:\n  limits:\n    max_requests: 32\n"
		    "    max_buffers: 64\n    max_buffer_bytes: 0x1000\n");
	s = cfg_policy_server(p);
	ck_assert_uint_eq(s->max_requests, 32);
	ck_assert_uint_eq(s->max_buffers, 64);
	ck_assert_uint_eq(s->max_buffer_bytes, 4096);
	cfg_policy_free(p);
}
END_TEST

/* The per-uid and total caps, at the ends of their ranges, and their defaults. */
START_TEST(test_good_caps)
{
	cfg_policy *p = load_ok("version: 1\nserver:\n  limits:\n    max_sessions: 10\n"
				"    max_sessions_per_uid: 10\n    ungranted_sessions: 0\n"
				"    max_requests_per_uid: 96\n    max_requests_total: 112\n"
				"    ungranted_requests: 16\n    max_polls_per_uid: 0\n"
				"    max_polls_total: 112\n");
	const struct cfg_server *s = cfg_policy_server(p);

	ck_assert_uint_eq(s->max_sessions_per_uid, 10);
	ck_assert_uint_eq(s->ungranted_sessions, 0);
	ck_assert_uint_eq(s->max_requests_per_uid, 96);
	ck_assert_uint_eq(s->max_requests_total, 112);
	ck_assert_uint_eq(s->ungranted_requests, 16);
	ck_assert_uint_eq(s->max_polls_per_uid, 0);
	ck_assert_uint_eq(s->max_polls_total, 112);
	cfg_policy_free(p);
	/* Without a per-uid session cap: half of max_sessions. */
	p = load_ok("version: 1\nserver:\n  limits:\n    max_sessions: 9\n");
	ck_assert_uint_eq(cfg_policy_server(p)->max_sessions_per_uid, 4);
	cfg_policy_free(p);
	p = load_ok("version: 1\nserver:\n  limits:\n    max_sessions: 1\n");
	ck_assert_uint_eq(cfg_policy_server(p)->max_sessions_per_uid, 1);
	cfg_policy_free(p);
	p = load_ok("version: 1\n");
	s = cfg_policy_server(p);
	ck_assert_uint_eq(s->max_sessions_per_uid, 32);
	ck_assert_uint_eq(s->ungranted_sessions, 0);
	ck_assert_uint_eq(s->max_requests_per_uid, 64);
	ck_assert_uint_eq(s->max_requests_total, 112);
	ck_assert_uint_eq(s->ungranted_requests, 2);
	ck_assert_uint_eq(s->max_polls_per_uid, 32);
	ck_assert_uint_eq(s->max_polls_total, 64);
	cfg_policy_free(p);
}
END_TEST

/* server.windows: each word is its mode. */
START_TEST(test_good_windows)
{
	static const char *const words[] = { "auto", "required", "off" };
	static const enum cfg_windows modes[] = { CFG_WINDOWS_AUTO, CFG_WINDOWS_REQUIRED,
						  CFG_WINDOWS_OFF };
	char yaml[64];

	for (size_t i = 0; i < 3; i++) {
		snprintf(yaml, sizeof(yaml), "version: 1\nserver:\n  windows: %s\n", words[i]);
		cfg_policy *p = load_ok(yaml);
		ck_assert_uint_eq(cfg_policy_server(p)->windows, modes[i]);
		ck_assert_str_eq(cfg_windows_name(modes[i]), words[i]);
		cfg_policy_free(p);
	}
}
END_TEST

/* Defaults of an almost empty policy. */
START_TEST(test_good_defaults)
{
	cfg_policy *p = load_ok("version: 1\n");
	const struct cfg_server *s = cfg_policy_server(p);

	ck_assert_str_eq(s->listen, "ipc:///run/mmio/mmio.sock");
	ck_assert_uint_eq(s->socket_mode, 0660);
	ck_assert(!s->has_socket_group);
	ck_assert_ptr_null(s->socket_group);
	ck_assert_uint_eq(s->max_message, 1u << 20);
	ck_assert_uint_eq(s->max_sessions, 64);
	ck_assert_uint_eq(s->max_handles, 256);
	ck_assert_uint_eq(s->max_poll_us, 1000000);
	ck_assert_uint_eq(s->windows, CFG_WINDOWS_AUTO);
	ck_assert_uint_eq(s->max_requests, 32);
	ck_assert_uint_eq(s->max_buffers, 8);
	ck_assert_uint_eq(s->max_buffer_bytes, 1u << 30);
	ck_assert_uint_eq(cfg_policy_region_count(p), 0);
	ck_assert_uint_eq(cfg_policy_client_count(p), 0);
	cfg_policy_free(p);
}
END_TEST

/* YAML spellings that must all mean the same policy. */
START_TEST(test_good_yaml_styles)
{
	static const char *const styles[] = {
		"version: 1\nregions: [{name: a, sim: true, size: 4096}]\n",
		"version: \"1\"\nregions:\n- name: 'a'\n  sim: \"true\"\n  size: \"0x1000\"\n",
		("%YAML 1.1\n---\nversion: 1\nregions:\n  - name: a # comment\n    sim: true\n"
		 "    size: 4KiB\n...\n"),
		"{version: 1, regions: [{size: 0X1000, sim: true, name: a}]}",
	};

	for (size_t i = 0; i < sizeof(styles) / sizeof(styles[0]); i++) {
		cfg_policy *p = load_ok(styles[i]);
		const struct cfg_region *r = cfg_policy_region(p, 0);

		ck_assert_uint_eq(cfg_policy_region_count(p), 1);
		ck_assert_str_eq(r->name, "a");
		ck_assert_int_eq(r->source, CFG_SOURCE_SIM);
		ck_assert_uint_eq(r->size, 4096);
		cfg_policy_free(p);
	}
}
END_TEST

static cfg_policy *load_example(const char *name)
{
	char path[4096];
	struct diags ds = { 0 };
	cfg_policy *p = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/config/examples/%s", MMIO_SOURCE_DIR, name);
	rc = cfg_policy_load_file(path, collect, &ds, &p);
	ck_assert_msg(rc == MMIO_OK, "%s: %d%s", path, rc, dump(&ds));
	return p;
}

START_TEST(test_example_qemu_guest)
{
	cfg_policy *p = load_example("qemu-guest.yaml");
	const struct cfg_region *edu = cfg_policy_region(p, region_index(p, "edu"));
	const struct cfg_region *shm = cfg_policy_region(p, region_index(p, "shm"));
	const struct cfg_client *c;

	ck_assert_int_eq(edu->source, CFG_SOURCE_PCI_ID);
	ck_assert_uint_eq(edu->vendor_id, 0x1234);
	ck_assert_uint_eq(edu->device_id, 0x11e8);
	ck_assert_uint_eq(edu->bar, 0);
	ck_assert_uint_eq(edu->size, 0); /* the whole BAR, so that it can be mapped */
	ck_assert_int_eq(edu->cache, MMIO_CACHE_UNCACHED);
	ck_assert_int_eq(shm->source, CFG_SOURCE_PCI_ID);
	ck_assert_uint_eq(shm->vendor_id, 0x1af4);
	ck_assert_uint_eq(shm->device_id, 0x1110);
	ck_assert_uint_eq(shm->bar, 2);
	ck_assert_uint_eq(shm->size, 0);
	ck_assert_int_eq(shm->cache, MMIO_CACHE_WRITE_COMBINING);
	ck_assert_uint_eq(cfg_policy_server(p)->socket_mode, 0666);

	c = cfg_policy_client(p, 0);
	ck_assert_str_eq(c->name, "edu-driver");
	ck_assert_uint_eq(c->uid, 1000);
	ck_assert_uint_eq(c->grant_count, 1);
	ck_assert_ptr_eq(c->grants[0].region, edu);
	ck_assert_uint_eq(c->grants[0].widths, 4 | 8);
	ck_assert_uint_eq(c->grants[0].ops,
			  MMIO_OPS_ONCE | MMIO_OPS_POLL | MMIO_OPS_MAP | MMIO_OPS_IRQ);
	ck_assert_uint_eq(c->grants[0].access, MMIO_ACCESS_READ | MMIO_ACCESS_WRITE);

	/* The server learns the BAR sizes when it opens the devices. */
	ck_assert_int_eq(cfg_policy_resolve_size(p, region_index(p, "edu"), 1u << 20, NULL, NULL),
			 MMIO_OK);
	ck_assert_uint_eq(edu->size, 1u << 20);
	ck_assert_int_eq(cfg_policy_resolve_size(p, region_index(p, "shm"), 64u << 20, NULL, NULL),
			 MMIO_OK);
	ck_assert_uint_eq(shm->size, 64u << 20);
	ck_assert_uint_eq(cfg_policy_client(p, 1)->grants[0].size, 64u << 20);
	/* Complementary register rules on edu's factorial register (issue 22):
	 * the clients after the display driver's. */
	for (size_t i = 3; i < 5; i++) {
		const struct cfg_grant *g = &cfg_policy_client(p, i)->grants[0];

		ck_assert_uint_eq(cfg_policy_client(p, i)->uid, 1002 + (i - 3));
		ck_assert_uint_eq(g->register_count, 1);
		ck_assert_uint_eq(g->registers[0].offset, 0x8);
		ck_assert_uint_eq(g->registers[0].widths, 4);
		ck_assert_uint_eq(g->registers[0].access,
				  i == 3 ? MMIO_ACCESS_WRITE : MMIO_ACCESS_READ);
		ck_assert_uint_eq(g->ops, MMIO_OPS_ONCE);
	}
	cfg_policy_free(p);
}
END_TEST

/* bochs-display has the PCI ID of QEMU's standard VGA (1234:1111): its
 * regions name the function by address, the registers 16-bit only. */
START_TEST(test_example_qemu_guest_display)
{
	cfg_policy *p = load_example("qemu-guest.yaml");
	const struct cfg_region *regs = cfg_policy_region(p, region_index(p, "dispi"));
	const struct cfg_region *fb = cfg_policy_region(p, region_index(p, "fb"));
	const struct cfg_client *c = cfg_policy_client(p, 2);

	for (int i = 0; i < 2; i++) {
		const struct cfg_region *r = i ? fb : regs;

		ck_assert_int_eq(r->source, CFG_SOURCE_PCI);
		ck_assert_uint_eq(r->pci.domain, 0);
		ck_assert_uint_eq(r->pci.bus, 0);
		ck_assert_uint_eq(r->pci.device, 6);
		ck_assert_uint_eq(r->pci.function, 0);
	}
	ck_assert_uint_eq(regs->bar, 2);
	ck_assert_uint_eq(regs->offset, 0x500);
	ck_assert_uint_eq(regs->size, 11 * 2); /* ID .. VIDEO_MEMORY_64K */
	ck_assert_uint_eq(fb->bar, 0);
	ck_assert_uint_eq(fb->size, 0);
	ck_assert_int_eq(fb->cache, MMIO_CACHE_WRITE_COMBINING);

	ck_assert_str_eq(c->name, "display-driver");
	ck_assert_uint_eq(c->uid, 1000);
	ck_assert_uint_eq(c->grant_count, 2);
	ck_assert_ptr_eq(c->grants[0].region, regs);
	ck_assert_uint_eq(c->grants[0].widths, 2);
	ck_assert_uint_eq(c->grants[0].ops, MMIO_OPS_ONCE);
	ck_assert_ptr_eq(c->grants[1].region, fb);
	ck_assert_uint_eq(c->grants[1].ops,
			  MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL | MMIO_OPS_MAP);
	cfg_policy_free(p);
}
END_TEST

START_TEST(test_example_host_demo)
{
	cfg_policy *p = load_example("host-demo.yaml");
	struct group *users = getgrnam("users");

	ck_assert_ptr_nonnull(users);
	ck_assert_uint_eq(cfg_policy_region_count(p), 4);
	ck_assert_uint_eq(cfg_policy_client_count(p), 2);
	for (size_t i = 0; i < cfg_policy_region_count(p); i++) {
		ck_assert_int_eq(cfg_policy_region(p, i)->source, CFG_SOURCE_SIM);
		ck_assert_int_eq(cfg_policy_region(p, i)->cache, MMIO_CACHE_WRITE_BACK);
	}
	ck_assert(cfg_policy_region(p, region_index(p, "keys"))->sensitive);
	ck_assert_uint_eq(cfg_policy_client(p, 1)->match, CFG_MATCH_GROUP);
	ck_assert_uint_eq(cfg_policy_client(p, 1)->group, users->gr_gid);
	cfg_policy_free(p);
}
END_TEST

/* ------------------------------------------------------------------------
 * Numbers.
 * ------------------------------------------------------------------------ */

struct number_case {
	const char *text;
	unsigned flags;
	enum cfg_num_error want;
	uint64_t value;
};

static const struct number_case number_cases[] = {
	/* Accepted. */
	{ "0", 0, CFG_NUM_OK, 0 },
	{ "1", 0, CFG_NUM_OK, 1 },
	{ "4096", 0, CFG_NUM_OK, 4096 },
	{ "18446744073709551615", 0, CFG_NUM_OK, UINT64_MAX },
	{ "0x0", 0, CFG_NUM_OK, 0 },
	{ "0x00ff", 0, CFG_NUM_OK, 0xff },
	{ "0X10", 0, CFG_NUM_OK, 16 },
	{ "0xdeadBEEF", 0, CFG_NUM_OK, 0xdeadbeef },
	{ "0xffffffffffffffff", 0, CFG_NUM_OK, UINT64_MAX },
	{ "64KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 65536 },
	{ "1MiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 1u << 20 },
	{ "2GiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 2ull << 30 },
	{ "0KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 0 },
	{ "0x10KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 16384 },
	{ "17179869183GiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, UINT64_MAX - ((1ull << 30) - 1) },
	{ "4096", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OK, 4096 },
	/* Empty. */
	{ "", 0, CFG_NUM_EMPTY, 0 },
	/* Signs. */
	{ "-1", 0, CFG_NUM_NEGATIVE, 0 },
	{ "-0", 0, CFG_NUM_NEGATIVE, 0 },
	{ "-0x10", CFG_NUM_SIZE_SUFFIX, CFG_NUM_NEGATIVE, 0 },
	{ "+1", 0, CFG_NUM_SIGN, 0 },
	/* Not a number at all. */
	{ "x10", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	{ " 1", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	{ "KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_NOT_A_NUMBER, 0 },
	{ "0x", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	{ "0xg", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	{ "0xKiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_NOT_A_NUMBER, 0 },
	{ "true", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	{ ".5", 0, CFG_NUM_NOT_A_NUMBER, 0 },
	/* Octal surprises. */
	{ "0644", 0, CFG_NUM_LEADING_ZERO, 0 },
	{ "00", 0, CFG_NUM_LEADING_ZERO, 0 },
	{ "08", 0, CFG_NUM_LEADING_ZERO, 0 },
	{ "010KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_LEADING_ZERO, 0 },
	/* Trailing junk. */
	{ "0x1000junk", 0, CFG_NUM_JUNK, 0 },
	{ "12abc", 0, CFG_NUM_JUNK, 0 },
	{ "1 ", 0, CFG_NUM_JUNK, 0 },
	{ "1.5", 0, CFG_NUM_JUNK, 0 },
	{ "1e3", 0, CFG_NUM_JUNK, 0 },
	{ "1_000", 0, CFG_NUM_JUNK, 0 },
	{ "0x1g", 0, CFG_NUM_JUNK, 0 },
	{ "0b101", 0, CFG_NUM_JUNK, 0 },
	{ "4KB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	{ "4kib", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	{ "4 KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	{ "4KiBs", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	{ "4TiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	{ "4KiBKiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_JUNK, 0 },
	/* A suffix where none is allowed. */
	{ "4KiB", 0, CFG_NUM_SUFFIX, 0 },
	/* Overflow. */
	{ "18446744073709551616", 0, CFG_NUM_OVERFLOW, 0 },
	{ "99999999999999999999999", 0, CFG_NUM_OVERFLOW, 0 },
	{ "0x10000000000000000", 0, CFG_NUM_OVERFLOW, 0 },
	{ "17179869184GiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OVERFLOW, 0 },
	{ "0x40000000000000KiB", CFG_NUM_SIZE_SUFFIX, CFG_NUM_OVERFLOW, 0 },
};

START_TEST(test_number_parse)
{
	const struct number_case *c = &number_cases[_i];
	uint64_t v = 0xabababababababab;
	enum cfg_num_error e = cfg_number_parse(c->text, c->flags, &v);

	ck_assert_msg(e == c->want, "'%s': got %d (%s), want %d", c->text, e,
		      cfg_number_error_text(e), c->want);
	if (c->want == CFG_NUM_OK)
		ck_assert_msg(v == c->value, "'%s': got %llu", c->text, (unsigned long long)v);
	else
		ck_assert_msg(v == 0xabababababababab, "'%s': value written on error", c->text);
	ck_assert_ptr_nonnull(cfg_number_error_text(e));
	ck_assert(c->want == CFG_NUM_OK || cfg_number_error_text(e)[0] != '\0');
}
END_TEST

struct mode_case {
	const char *text;
	enum cfg_num_error want;
	unsigned value;
};

static const struct mode_case mode_cases[] = {
	{ "0660", CFG_NUM_OK, 0660 },
	{ "660", CFG_NUM_OK, 0660 },
	{ "0", CFG_NUM_OK, 0 },
	{ "0777", CFG_NUM_OK, 0777 },
	{ "777", CFG_NUM_OK, 0777 },
	{ "0000", CFG_NUM_OK, 0 },
	{ "", CFG_NUM_EMPTY, 0 },
	{ "-660", CFG_NUM_NEGATIVE, 0 },
	{ "+660", CFG_NUM_SIGN, 0 },
	{ "0888", CFG_NUM_NOT_OCTAL, 0 },
	{ "0x1b0", CFG_NUM_NOT_OCTAL, 0 },
	{ "u+rw", CFG_NUM_NOT_OCTAL, 0 },
	{ "0660 ", CFG_NUM_NOT_OCTAL, 0 },
	{ "01777", CFG_NUM_MODE_RANGE, 0 },
	{ "1000", CFG_NUM_MODE_RANGE, 0 },
	{ "00660", CFG_NUM_MODE_RANGE, 0 },
	{ "77777777777777", CFG_NUM_MODE_RANGE, 0 },
};

START_TEST(test_mode_parse)
{
	const struct mode_case *c = &mode_cases[_i];
	unsigned v = 12345;
	enum cfg_num_error e = cfg_mode_parse(c->text, &v);

	ck_assert_msg(e == c->want, "'%s': got %d, want %d", c->text, e, c->want);
	ck_assert_uint_eq(v, c->want == CFG_NUM_OK ? c->value : 12345);
}
END_TEST

/* ------------------------------------------------------------------------
 * Authorization.
 * ------------------------------------------------------------------------ */

static const char auth_policy[] =
	"version: 1\n"
	"regions:\n"
	"  - {name: dev, sim: true, size: 0x3000}\n"
	"  - {name: sens, sim: true, size: 0x100, sensitive: true}\n"
	"  - {name: huge, sim: true, size: 0xffffffffffffffff}\n"
	"  - {name: bar, pci_id: \"1af4:1110\", bar: 2}\n"
	"  - {name: other, sim: true, size: 0x1000}\n"
	"  - {name: full, sim: true, size: 0x3000}\n"
	"  - {name: hidden, sim: true, size: 0x1000}\n"
	"clients:\n"
	"  - name: drv\n"
	"    uid: 1000\n"
	"    grants:\n"
	"      - {region: dev, offset: 0x1000, size: 0x1000, access: rw,\n"
	"         ops: [once, bulk, fill, poll, map], widths: [4]}\n"
	"      - {region: dev, size: 0x100, access: r, ops: [once, bulk]}\n"
	"      - {region: sens, offset: 0x10, size: 0x10, access: r, ops: [once, poll],\n"
	"         widths: [4, 8]}\n"
	"      - {region: huge, offset: 0xfffffffffffff000, access: rw, ops: [once, bulk, fill]}\n"
	"      - {region: bar, offset: 0x2000, access: rw, ops: [bulk, map]}\n"
	"      - {region: full, offset: 0x1000, size: 0x1000, access: rw,\n"
	"         ops: [once, bulk, fill, poll, map]}\n"
	"  - name: grp\n"
	"    gid: 2000\n"
	"    grants:\n"
	"      - {region: other, access: r, ops: [once]}\n"
	"  - name: both\n"
	"    uid: 1001\n"
	"    group: root\n"
	"    grants:\n"
	"      - {region: other, access: w, ops: [once]}\n"
	"  - name: by-name\n"
	"    user: root\n"
	"    grants:\n"
	"      - {region: full, access: r, ops: [once], widths: [1]}\n"
	"  - name: wo\n"
	"    uid: 1002\n"
	"    grants:\n"
	"      - {region: full, offset: 0x1000, size: 0x1000, access: w, ops: [once, bulk]}\n";

static cfg_policy *auth;

static void auth_setup(void)
{
	struct diags ds;

	ck_assert_int_eq(load(auth_policy, &ds, &auth), MMIO_OK);
}

static void auth_teardown(void)
{
	cfg_policy_free(auth);
	auth = NULL;
}

static const struct cfg_peer peer_drv = { .uid = 1000, .gid = 1000 };

/* cfg_policy_open_grant() for a plain OPEN, by region name. */
static int open_at(const struct cfg_peer *peer, const char *region, uint64_t offset, uint64_t len)
{
	const struct cfg_grant *g = NULL;

	return cfg_policy_open_grant(auth, peer, region_index(auth, region), offset, len, 0, &g);
}

/* What a handle opened on [offset, offset + 8) may then do: the one rights
 * check on the rights of the grant the open chose. */
static int handle_may(const struct cfg_peer *peer, const char *region, uint64_t offset,
		      unsigned need_ops, unsigned need_access, unsigned width)
{
	const struct cfg_grant *g = NULL;
	int rc = cfg_policy_open_grant(auth, peer, region_index(auth, region), offset, 8, 0, &g);

	if (rc != MMIO_OK)
		return rc;
	return mmio_rights_check(g->ops, g->access, g->widths, need_ops, need_access, width);
}

/* The one rights check (<mmio/rights.h>): classes, then access, then width. */
struct rights_case {
	unsigned ops, access, widths;	       /* what the grant gives */
	unsigned need_ops, need_access, width; /* what the operation needs */
	int want;
};

static const struct rights_case rights_cases[] = {
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, MMIO_WIDTHS_ALL, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 4,
	  MMIO_OK },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, MMIO_WIDTHS_ALL, MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, 4,
	  MMIO_EACCES },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_ALL, MMIO_WIDTHS_ALL, MMIO_OPS_POLL, MMIO_ACCESS_READ, 4,
	  MMIO_EACCES },
	{ MMIO_OPS_BULK, MMIO_ACCESS_WRITE, 4, MMIO_OPS_BULK, MMIO_ACCESS_WRITE, 0, MMIO_OK },
	{ MMIO_OPS_BULK, MMIO_ACCESS_WRITE, 4, MMIO_OPS_FILL, MMIO_ACCESS_WRITE, 0, MMIO_EACCES },
	/* The class is missing: MMIO_EACCES before a bad width is looked at. */
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, 4, MMIO_OPS_POLL, MMIO_ACCESS_READ, 3, MMIO_EACCES },
	/* Widths the grant does not allow, and widths that are none. */
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, 4 | 8, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 2, MMIO_EINVAL },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, 4 | 8, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 8, MMIO_OK },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, MMIO_WIDTHS_ALL, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 3,
	  MMIO_EINVAL },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, MMIO_WIDTHS_ALL, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 16,
	  MMIO_EINVAL },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, ~0u, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 0x80000000u,
	  MMIO_EINVAL },
	/* Needing nothing (an OPEN) passes any grant; needing two classes, both. */
	{ MMIO_OPS_MAP, MMIO_ACCESS_READ, 1, 0, 0, 0, MMIO_OK },
	{ MMIO_OPS_ONCE, MMIO_ACCESS_READ, 1, MMIO_OPS_ONCE | MMIO_OPS_MAP, 0, 0, MMIO_EACCES },
	{ MMIO_OPS_ALL, MMIO_ACCESS_READ, 1, MMIO_OPS_MAP, MMIO_ACCESS_ALL, 0, MMIO_EACCES },
};

START_TEST(test_rights_check)
{
	const struct rights_case *c = &rights_cases[_i];

	ck_assert_int_eq(mmio_rights_check(c->ops, c->access, c->widths, c->need_ops,
					   c->need_access, c->width),
			 c->want);
}
END_TEST

START_TEST(test_width_rule)
{
	for (unsigned w = 0; w <= 64; w++)
		ck_assert_int_eq(mmio_width_valid(w) != 0, w == 1 || w == 2 || w == 4 || w == 8);
	ck_assert(!mmio_width_valid(UINT32_MAX));
	ck_assert(mmio_width_aligned(0x1000, 8) && mmio_width_aligned(0x1004, 4));
	ck_assert(!mmio_width_aligned(0x1004, 8) && !mmio_width_aligned(0x1001, 2));
	ck_assert(mmio_width_aligned(UINT64_MAX, 1) && !mmio_width_aligned(UINT64_MAX, 2));
}
END_TEST

/* The one vocabulary: the policy's names of ops and accesses, the lists
 * mmioctl and mmio-policy print, and a parse of each name back. */
START_TEST(test_rights_vocabulary)
{
	char buf[64], small[8];

	ck_assert_str_eq(mmio_ops_text(MMIO_OPS_ALL, buf, sizeof(buf)),
			 "once,bulk,fill,poll,map,irq");
	ck_assert_str_eq(mmio_ops_text(MMIO_OPS_ONCE | MMIO_OPS_POLL, buf, sizeof(buf)),
			 "once,poll");
	ck_assert_str_eq(mmio_ops_text(0, buf, sizeof(buf)), "-");
	ck_assert_str_eq(mmio_widths_text(MMIO_WIDTHS_ALL, buf, sizeof(buf)), "1,2,4,8");
	ck_assert_str_eq(mmio_widths_text(MMIO_WIDTH_BIT(2) | MMIO_WIDTH_BIT(8), buf, sizeof(buf)),
			 "2,8");
	ck_assert_str_eq(mmio_widths_text(0, buf, sizeof(buf)), "-");
	/* Cut, never past the buffer, always terminated. */
	ck_assert_str_eq(mmio_ops_text(MMIO_OPS_ALL, small, sizeof(small)), "once,bu");
	ck_assert_str_eq(mmio_ops_name(MMIO_OPS_MAP), "map");
	ck_assert_str_eq(mmio_ops_name(MMIO_OPS_ONCE | MMIO_OPS_MAP), "?");
	ck_assert_str_eq(mmio_access_name(MMIO_ACCESS_READ), "r");
	ck_assert_str_eq(mmio_access_name(MMIO_ACCESS_ALL), "rw");
	ck_assert_str_eq(mmio_access_name(0), "-");
}
END_TEST

START_TEST(test_open_grant_boundaries)
{
	const struct cfg_grant *g = NULL;
	size_t full = region_index(auth, "full");

	ck_assert_int_eq(cfg_policy_open_grant(auth, &peer_drv, full, 0x1000, 0x1000, 0, &g),
			 MMIO_OK);
	ck_assert_ptr_eq(g, &cfg_policy_client(auth, 0)->grants[5]);
	ck_assert_int_eq(open_at(&peer_drv, "full", 0x1fff, 1), MMIO_OK);
	/* Out of grant, empty, reversed (wrapping): MMIO_EACCES. */
	ck_assert_int_eq(open_at(&peer_drv, "full", 0x1fff, 2), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "full", 0xfff, 1), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "full", 0x1000, 0), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "full", 0x2000, 0), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "full", 0x1800, UINT64_MAX), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "full", UINT64_MAX, 1), MMIO_EACCES);
	/* Not visible at all: MMIO_ENOENT. */
	ck_assert_int_eq(open_at(&peer_drv, "hidden", 0, 1), MMIO_ENOENT);
	/* An OPEN that needs a class takes the first grant that has it. */
	ck_assert_int_eq(
		cfg_policy_open_grant(auth, &peer_drv, full, 0x1000, 0x1000, MMIO_OPS_MAP, &g),
		MMIO_OK);
	ck_assert_int_eq(cfg_policy_open_grant(auth, &peer_drv, region_index(auth, "sens"), 0x10, 4,
					       MMIO_OPS_MAP, &g),
			 MMIO_EACCES);
}
END_TEST

/* Offsets and lengths near UINT64_MAX on a grant that ends at 2^64 - 1. */
START_TEST(test_open_grant_near_size_max)
{
	const uint64_t start = 0xfffffffffffff000u, end = UINT64_MAX;

	ck_assert_int_eq(open_at(&peer_drv, "huge", start, end - start), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "huge", start, end - start + 1), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "huge", end - 1, 1), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "huge", end - 1, 2), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "huge", end, 1), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "huge", start - 1, 1), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "huge", end - 1, UINT64_MAX), MMIO_EACCES);
}
END_TEST

/* A grant on a whole BAR is unbounded until the size is known, then exact. */
START_TEST(test_auth_unresolved_bar)
{
	size_t bar = region_index(auth, "bar");
	struct diags ds = { 0 };

	ck_assert_int_eq(open_at(&peer_drv, "bar", UINT64_MAX - 10, 10), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x1fff, 1), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x2000, 0x1000), MMIO_OK);

	/* Too small for the region's grant: refused with the grant's position. */
	ck_assert_int_eq(cfg_policy_resolve_size(auth, bar, 0x2000, collect, &ds), MMIO_EINVAL);
	ck_assert_msg(ds.count == 1, "%s", dump(&ds));
	ck_assert_uint_eq(ds.d[0].line, 20);
	ck_assert_uint_eq(ds.d[0].column, 9);
	ck_assert_ptr_nonnull(strstr(ds.d[0].message, "grant offset 0x2000 is past the end of "
						      "region 'bar' (size 0x2000)"));
	auth_teardown();
	auth_setup();

	ck_assert_int_eq(cfg_policy_resolve_size(auth, bar, 0x4000, NULL, NULL), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x3fff, 1), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x3fff, 2), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "bar", UINT64_MAX - 10, 10), MMIO_EACCES);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x2000, 0x2000), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "bar", 0x2000, 0x3000), MMIO_EACCES);

	/* Only PCI regions have a size to resolve. */
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(
		cfg_policy_resolve_size(auth, region_index(auth, "dev"), 0x4000, collect, &ds),
		MMIO_EINVAL);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_int_eq(cfg_policy_resolve_size(auth, 1000, 0x4000, NULL, NULL), MMIO_ENOENT);
}
END_TEST

/* A resolved BAR size can also break map alignment of a to-the-end grant. */
/* A whole-BAR grant's registers are checked again once the BAR's size is known. */
START_TEST(test_resolve_size_register_outside)
{
	static const char yaml[] =
		"version: 1\n"
		"regions:\n"
		"  - {name: b, pci: \"00:04.0\", bar: 1}\n"
		"clients:\n"
		"  - {name: c, uid: 1, grants: [{region: b, access: r, ops: [once], widths: [4],"
		" registers: [{offset: 0xff0, count: 4, access: r}]}]}\n";
	cfg_policy *p = load_ok(yaml);
	struct diags ds = { 0 };

	/* The array's last register is [0xffc, 0x1000): a 4 KiB BAR holds it. */
	ck_assert_int_eq(cfg_policy_resolve_size(p, 0, 0x1000, collect, &ds), MMIO_OK);
	cfg_policy_free(p);
	p = load_ok(yaml);
	ck_assert_int_eq(cfg_policy_resolve_size(p, 0, 0xffc, collect, &ds), MMIO_EINVAL);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_uint_eq(ds.d[0].line, 5);
	ck_assert_ptr_nonnull(strstr(ds.d[0].message, "register at 0xff0 of the grant is outside"));
	cfg_policy_free(p);
}
END_TEST

START_TEST(test_resolve_size_map_alignment)
{
	cfg_policy *p =
		load_ok("version: 1\n"
			"regions:\n"
			"  - {name: b, pci: \"00:04.0\", bar: 1}\n"
			"clients:\n"
			"  - {name: c, uid: 1, grants: [{region: b, access: r, ops: [map]}]}\n");
	struct diags ds = { 0 };

	ck_assert_int_eq(cfg_policy_resolve_size(p, 0, 0x1800, collect, &ds), MMIO_EINVAL);
	ck_assert_uint_eq(ds.count, 1);
	ck_assert_uint_eq(ds.d[0].line, 5);
	ck_assert_uint_eq(ds.d[0].column, 32); /* the grant: op positions are not kept */
	ck_assert_ptr_nonnull(strstr(ds.d[0].message, "map needs a page-aligned range"));
	cfg_policy_free(p);
}
END_TEST

START_TEST(test_auth_visibility)
{
	const struct cfg_grant *g = NULL;
	size_t n = 0;

	/* Visible where a matching client has a grant. */
	ck_assert_int_eq(open_at(&peer_drv, "dev", 0x1000, 4), MMIO_OK);
	ck_assert_int_eq(open_at(&peer_drv, "other", 0, 4), MMIO_ENOENT);
	ck_assert_int_eq(open_at(&peer_drv, "hidden", 0, 4), MMIO_ENOENT);
	ck_assert_int_eq(cfg_policy_open_grant(auth, &peer_drv, 1000, 0, 4, 0, &g), MMIO_ENOENT);
	ck_assert_int_eq(cfg_policy_open_grant(auth, &peer_drv, SIZE_MAX, 0, 4, 0, &g),
			 MMIO_ENOENT);
	/* The iterator: drv has 6 grants, 2 of them on dev. */
	for (const struct cfg_grant *i =
		     cfg_policy_next_grant(auth, &peer_drv, CFG_ANY_REGION, NULL);
	     i != NULL; i = cfg_policy_next_grant(auth, &peer_drv, CFG_ANY_REGION, i))
		n++;
	ck_assert_uint_eq(n, 6);
	n = 0;
	for (const struct cfg_grant *i =
		     cfg_policy_next_grant(auth, &peer_drv, region_index(auth, "dev"), NULL);
	     i != NULL; i = cfg_policy_next_grant(auth, &peer_drv, region_index(auth, "dev"), i))
		n++;
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(cfg_policy_next_grant(auth, &peer_drv, 1000, NULL));
	ck_assert_int_eq(cfg_policy_region_find(auth, "nope", &n), MMIO_ENOENT);
}
END_TEST

/* Identity: uid, gid (primary or supplementary), user and group names; all
 * given keys must match; several matching clients add up. */
START_TEST(test_auth_identity)
{
	const gid_t sup_2000[] = { 7, 2000 };
	const gid_t sup_0[] = { 0 };
	const struct cfg_peer both_grp = {
		.uid = 1001, .gid = 2000, .groups = sup_0, .group_count = 1
	};
	struct passwd *root = getpwnam("root");
	size_t n = 0;

	ck_assert_ptr_nonnull(root);
	/* gid 2000 as primary or supplementary group. */
	ck_assert_int_eq(open_at(&(struct cfg_peer){ .uid = 5, .gid = 2000 }, "other", 0, 4),
			 MMIO_OK);
	ck_assert_int_eq(open_at(
				 &(struct cfg_peer){
					 .uid = 5, .gid = 7, .groups = sup_2000, .group_count = 2 },
				 "other", 0, 4),
			 MMIO_OK);
	ck_assert_int_eq(open_at(
				 &(struct cfg_peer){
					 .uid = 5, .gid = 7, .groups = sup_2000, .group_count = 1 },
				 "other", 0, 4),
			 MMIO_ENOENT);
	ck_assert_int_eq(open_at(&(struct cfg_peer){ .uid = 5, .gid = 7 }, "other", 0, 4),
			 MMIO_ENOENT);
	/* uid 1001 AND group root: both must match. */
	ck_assert_int_eq(handle_may(&(struct cfg_peer){ .uid = 1001, .gid = 0 }, "other", 0,
				    MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, 4),
			 MMIO_OK);
	ck_assert_int_eq(handle_may(
				 &(struct cfg_peer){
					 .uid = 1001, .gid = 9, .groups = sup_0, .group_count = 1 },
				 "other", 0, MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, 4),
			 MMIO_OK);
	ck_assert_int_eq(open_at(&(struct cfg_peer){ .uid = 1001, .gid = 9 }, "other", 0, 4),
			 MMIO_ENOENT);
	ck_assert_int_eq(open_at(&(struct cfg_peer){ .uid = 1000, .gid = 0 }, "other", 0, 4),
			 MMIO_ENOENT);
	/* Two clients match (grp by gid, both by uid+group): both their grants
	 * are the peer's, read from one, write from the other. */
	for (const struct cfg_grant *g =
		     cfg_policy_next_grant(auth, &both_grp, region_index(auth, "other"), NULL);
	     g != NULL; g = cfg_policy_next_grant(auth, &both_grp, region_index(auth, "other"), g))
		n += g->access;
	ck_assert_uint_eq(n, MMIO_ACCESS_READ + MMIO_ACCESS_WRITE);
	/* Only what was granted: the grp client alone cannot write. */
	ck_assert_int_eq(handle_may(&(struct cfg_peer){ .uid = 5, .gid = 2000 }, "other", 0,
				    MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, 4),
			 MMIO_EACCES);
	/* user: root, resolved at load; root gets nothing beyond its grant. */
	ck_assert_int_eq(handle_may(&(struct cfg_peer){ .uid = root->pw_uid, .gid = 12345 }, "full",
				    0, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 1),
			 MMIO_OK);
	ck_assert_int_eq(handle_may(&(struct cfg_peer){ .uid = root->pw_uid, .gid = 12345 }, "full",
				    0, MMIO_OPS_ONCE, MMIO_ACCESS_READ, 4),
			 MMIO_EINVAL);
	ck_assert_int_eq(handle_may(&(struct cfg_peer){ .uid = root->pw_uid, .gid = 12345 }, "full",
				    0, MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, 1),
			 MMIO_EACCES);
	ck_assert_int_eq(
		open_at(&(struct cfg_peer){ .uid = root->pw_uid, .gid = 12345 }, "dev", 0, 4),
		MMIO_ENOENT);
	ck_assert(!cfg_client_matches(cfg_policy_client(auth, 0),
				      &(struct cfg_peer){ .uid = 1001, .gid = 1000 }));
	ck_assert(cfg_client_matches(cfg_policy_client(auth, 0),
				     &(struct cfg_peer){ .uid = 1000, .gid = 1 }));
}
END_TEST

/* With several grants holding an OPEN's range, the first in file order wins. */
START_TEST(test_auth_first_grant_wins)
{
	cfg_policy *p =
		load_ok("version: 1\n"
			"regions:\n"
			"  - {name: r, sim: true, size: 0x2000}\n"
			"clients:\n"
			"  - name: a\n"
			"    uid: 7\n"
			"    grants:\n"
			"      - {region: r, size: 0x100, access: r, ops: [once]}\n"
			"      - {region: r, offset: 0x100, size: 0x100, access: r, ops: [once]}\n"
			"      - {region: r, access: rw, ops: [once], exclusive: true}\n"
			"  - name: b\n"
			"    gid: 7\n"
			"    grants:\n"
			"      - {region: r, access: r, ops: [once, bulk]}\n");
	const struct cfg_client *a = cfg_policy_client(p, 0), *b = cfg_policy_client(p, 1);
	const struct cfg_peer peer = { .uid = 7, .gid = 7 };
	const struct cfg_grant *g = NULL;

	ck_assert_int_eq(cfg_policy_open_grant(p, &peer, 0, 0, 4, 0, &g), MMIO_OK);
	ck_assert_ptr_eq(g, &a->grants[0]);
	ck_assert_int_eq(cfg_policy_open_grant(p, &peer, 0, 0x100, 4, 0, &g), MMIO_OK);
	ck_assert_ptr_eq(g, &a->grants[1]);
	/* A range across the first two is theirs only whole in the third. */
	ck_assert_int_eq(cfg_policy_open_grant(p, &peer, 0, 0x80, 0x100, 0, &g), MMIO_OK);
	ck_assert_ptr_eq(g, &a->grants[2]);
	ck_assert_int_eq(cfg_policy_open_grant(p, &peer, 0, 0x100, 4, MMIO_OPS_BULK, &g), MMIO_OK);
	ck_assert_ptr_eq(g, &b->grants[0]);
	/* Not stitched together: without the third grant, no grant holds it. */
	ck_assert_int_eq(cfg_policy_open_grant(p, &(struct cfg_peer){ .uid = 7, .gid = 1 }, 0, 0x80,
					       0x100, MMIO_OPS_BULK, &g),
			 MMIO_EACCES);
	ck_assert(a->grants[2].exclusive);
	cfg_policy_free(p);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(mmio_cache_name(MMIO_CACHE_UNCACHED), "uncached");
	ck_assert_str_eq(mmio_cache_name(MMIO_CACHE_WRITE_COMBINING), "write-combining");
	ck_assert_str_eq(mmio_cache_name(MMIO_CACHE_WRITE_THROUGH), "write-through");
	ck_assert_str_eq(mmio_cache_name(MMIO_CACHE_WRITE_BACK), "write-back");
	ck_assert_str_eq(mmio_cache_name((unsigned)9), "?");
	ck_assert_str_eq(cfg_source_name(CFG_SOURCE_PCI_ID), "pci_id");
	ck_assert_str_eq(cfg_source_backend(CFG_SOURCE_PCI_ID), "pci");
	ck_assert_str_eq(cfg_source_name((enum cfg_source)9), "?");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad_policy, 0, (int)BAD_CASE_COUNT);
	tcase_add_test(tc, test_all_errors_collected_in_order);
	tcase_add_test(tc, test_all_structure_errors_collected);
	tcase_add_test(tc, test_too_many_errors);
	tcase_add_test(tc, test_too_many_regions);
	tcase_add_test(tc, test_too_many_grants);
	tcase_add_test(tc, test_scalar_too_long);
	tcase_add_test(tc, test_load_file_errors);
	tcase_add_test(tc, test_load_file_too_large);
	tcase_add_test(tc, test_load_file_not_regular);
	tcase_add_test(tc, test_load_file_foreign_secrets);
	tcase_add_test(tc, test_not_a_policy_is_one_error);
	tcase_add_loop_test(tc, test_bad_register_rule, 0,
			    (int)(sizeof(reg_bad_cases) / sizeof(reg_bad_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("good");
	tcase_add_test(tc, test_load_buffer_exact_length);
	tcase_add_test(tc, test_good_full_policy);
	tcase_add_test(tc, test_good_irq_kind);
	tcase_add_test(tc, test_good_defaults);
	tcase_add_test(tc, test_good_windows);
	tcase_add_test(tc, test_good_client_limits);
	tcase_add_test(tc, test_good_caps);
	tcase_add_test(tc, test_good_yaml_styles);
	tcase_add_test(tc, test_example_qemu_guest);
	tcase_add_test(tc, test_example_qemu_guest_display);
	tcase_add_test(tc, test_example_host_demo);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_good_registers);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_add_loop_test(tc, test_number_parse, 0,
			    (int)(sizeof(number_cases) / sizeof(number_cases[0])));
	tcase_add_loop_test(tc, test_mode_parse, 0,
			    (int)(sizeof(mode_cases) / sizeof(mode_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("authorize");
	tcase_add_checked_fixture(tc, auth_setup, auth_teardown);
	tcase_add_test(tc, test_open_grant_boundaries);
	tcase_add_test(tc, test_open_grant_near_size_max);
	tcase_add_test(tc, test_auth_unresolved_bar);
	tcase_add_test(tc, test_auth_visibility);
	tcase_add_test(tc, test_auth_identity);
	suite_add_tcase(s, tc);

	tc = tcase_create("authorize-own");
	tcase_add_loop_test(tc, test_rights_check, 0,
			    (int)(sizeof(rights_cases) / sizeof(rights_cases[0])));
	tcase_add_test(tc, test_width_rule);
	tcase_add_test(tc, test_rights_vocabulary);
	tcase_add_test(tc, test_auth_first_grant_wins);
	tcase_add_test(tc, test_resolve_size_map_alignment);
	tcase_add_test(tc, test_resolve_size_register_outside);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
