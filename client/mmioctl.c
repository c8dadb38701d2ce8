/* SPDX-License-Identifier: MIT */
/*
 * mmioctl: poke device registers through mmio-server from a shell, like
 * busybox devmem, but within what the policy grants.
 *
 * Exit status: 0 success; 1 the server or the library refused (the status
 * name and its sentence are printed); 2 a usage error.
 */
#include <mmio/client.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_STATUS 1
#define EXIT_USAGE  2

/* Bytes a dump reads per request; a multiple of the 16-byte line. */
#define DUMP_CHUNK (64u * 1024u)

static const char usage_text[] =
	"Usage: mmioctl [-s URL] [-d] COMMAND [ARG...]\n"
	"\n"
	"Commands:\n"
	"  list [-v]                         regions this client may see (-v: also the\n"
	"                                    width bulk copies use, and where each lies:\n"
	"                                    PCI function, BAR, physical range)\n"
	"  read REGION OFFSET [WIDTH]        read one register and print it\n"
	"  write REGION OFFSET [WIDTH] VALUE write one register\n"
	"  poll REGION OFFSET WIDTH MASK WANT [TIMEOUT_US]\n"
	"                                    read one register until (value & MASK) == WANT\n"
	"                                    (default 1000000 us) and print the last value\n"
	"  dump REGION OFFSET LEN            print LEN bytes like hexdump -C\n"
	"  fill REGION OFFSET LEN [BYTE]     store BYTE (default 0) to LEN bytes\n"
	"  save REGION OFFSET LEN FILE       copy LEN bytes into FILE ('-': stdout)\n"
	"  load REGION OFFSET FILE           copy FILE ('-': stdin) into the region\n"
	"  irq REGION [COUNT]                hold the interrupt of REGION's device and\n"
	"                                    wait for COUNT (default 1) interrupts,\n"
	"                                    printing the total after each; it unmasks\n"
	"                                    after each one, so a device not acknowledged\n"
	"                                    by then counts again at once\n"
	"  stats                             the server's counters\n"
	"\n"
	"Options:\n"
	"  -s, --server URL   the server (default: $MMIO_SERVER, else " MMIO_DEFAULT_URL ")\n"
	"  -d, --direct       access through a direct mapping (the grant must allow\n"
	"                     it: `map`, the whole device); default: messages\n"
	"  -h, --help         print this help and exit\n"
	"\n"
	"OFFSET and LEN count bytes from the start of REGION; the range must lie\n"
	"inside one grant. WIDTH is in bits: 8, 16, 32 or 64; by default the one\n"
	"width the grant allows, else 32. Numbers are C constants: 42, 0x2a, 052.\n"
	"A read prints 0x and WIDTH/4 hex digits.\n"
	"\n"
	"Exit status: 0 success, 1 the operation failed (its status and the reason\n"
	"the server gave are printed),\n"
	"2 usage error.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mmioctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mmioctl --help'.\n", stderr);
	return EXIT_USAGE;
}

/* The connection, for the reason of a refusal (mmio_last_error()). */
static mmio_client *conn;

static int fail(int status, const char *what)
{
	char why[320];

	if (conn && mmio_last_error(conn, why, sizeof(why)) == status)
		fprintf(stderr, "mmioctl: %s: %s\n", what, why);
	else
		fprintf(stderr, "mmioctl: %s: %s: %s\n", what, mmio_status_name(status),
			mmio_strerror(status));
	return EXIT_STATUS;
}

/* A C integer constant (decimal, 0x hex, 0 octal) and nothing else. */
static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_size(const char *s, size_t *out)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

/* WIDTH in bits into bytes. */
static bool parse_width(const char *s, unsigned *bytes)
{
	uint64_t v;

	if (!parse_u64(s, &v) || (v != 8 && v != 16 && v != 32 && v != 64))
		return false;
	*bytes = (unsigned)(v / 8);
	return true;
}

/* ---- list ---- */

/* Names of the set bits of @bits, comma-separated, "-" if none. */
static const char *bit_names(char *buf, size_t len, unsigned bits, const char *const names[],
			     const unsigned values[], size_t n)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (bits & values[i]) {
			int w = snprintf(buf + pos, len - pos, "%s%s", pos ? "," : "", names[i]);

			if (w < 0 || (size_t)w >= len - pos)
				break;
			pos += (size_t)w;
		}
	}
	return pos ? buf : "-";
}

static const char *flags_text(char *buf, size_t len, unsigned flags)
{
	static const char *const names[] = { "sensitive", "exclusive", "mappable" };
	static const unsigned values[] = { MMIO_REGION_SENSITIVE, MMIO_REGION_EXCLUSIVE,
					   MMIO_REGION_MAPPABLE };

	return bit_names(buf, len, flags, names, values, 3);
}

static const char *access_text(unsigned access)
{
	return mmio_access_name(access);
}

/* -v: where each region lies, and the width its bulk copies use. */
static bool verbose;

/* The WHERE column: function and BAR, and the physical range; "-" for sim. */
static const char *where_text(char *buf, size_t len, const struct mmio_region_info *e)
{
	if (e->phys)
		snprintf(buf, len, "%s [0x%" PRIx64 ", 0x%" PRIx64 ")", e->where, e->phys,
			 e->phys + e->size);
	else
		snprintf(buf, len, "%s", e->where[0] ? e->where : "-");
	return buf;
}

static int cmd_list(mmio_client *c)
{
	struct mmio_region_info *list;
	size_t n;
	int namew = 4;
	int status = mmio_list(c, &list, &n);

	if (status != MMIO_OK)
		return fail(status, "list");
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(list[i].name);

		if (l > namew)
			namew = l;
	}
	printf("%-*s  %-18s  %-6s  %-24s  %-7s  %-15s  %s%s\n", namew, "NAME", "SIZE", "ACCESS",
	       "OPS", "WIDTHS", "CACHE", verbose ? "FLAGS                     BULK  " : "FLAGS",
	       verbose ? "WHERE" : "");
	for (size_t i = 0; i < n; i++) {
		const struct mmio_region_info *e = &list[i];
		char size[24], ops[64], widths[16], flags[48], where[128];

		snprintf(size, sizeof(size), "0x%" PRIx64, e->size);
		printf("%-*s  %-18s  %-6s  %-24s  %-7s  %-15s  ", namew, e->name, size,
		       access_text(e->access), mmio_ops_text(e->ops, ops, sizeof(ops)),
		       mmio_widths_text(e->widths, widths, sizeof(widths)),
		       mmio_cache_name(e->cache));
		if (verbose)
			printf("%-24s  %-4u  %s\n", flags_text(flags, sizeof(flags), e->flags),
			       e->bulk_width, where_text(where, sizeof(where), e));
		else
			printf("%s\n", flags_text(flags, sizeof(flags), e->flags));
	}
	mmio_list_free(list);
	return 0;
}

/* ---- stats ---- */

static int cmd_stats(mmio_client *c)
{
	struct mmio_stat *stats;
	size_t n, cap;
	int namew = 0;
	int status = mmio_stats(c, NULL, 0, &n);

	if (status != MMIO_OK)
		return fail(status, "stats");
	cap = n ? n : 1;
	stats = calloc(cap, sizeof(*stats));
	if (!stats)
		return fail(MMIO_ENOMEM, "stats");
	status = mmio_stats(c, stats, cap, &n);
	if (status != MMIO_OK) {
		free(stats);
		return fail(status, "stats");
	}
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(stats[i].name);

		if (l > namew)
			namew = l;
	}
	for (size_t i = 0; i < n; i++)
		printf("%-*s  %" PRIu64 "\n", namew, stats[i].name, stats[i].value);
	free(stats);
	return 0;
}

/* ---- read, write, fill ---- */

static bool direct_mode;

/*
 * [@off, +@len) of @region: proxied, a handle on just that range; direct
 * (-d), a mapping of the whole region and a slice of it (a mapping is of a
 * whole device, whose offsets are the region's).
 */
static int open_range(mmio_client *c, const char *region, size_t off, size_t len, mmio_region **r,
		      const char *what)
{
	mmio_region *whole;
	int status;

	if (!direct_mode) {
		status = mmio_open_range(c, region, off, len, MMIO_OPEN_PROXIED, r);
		return status == MMIO_OK ? 0 : fail(status, what);
	}
	status = mmio_open(c, region, MMIO_OPEN_REQUIRE_DIRECT, &whole);
	if (status != MMIO_OK)
		return fail(status, what);
	/* Past the region: the library's check, whose reason names its size. */
	status = mmio_slice(whole, off, len, r);
	mmio_close(whole); /* the slice keeps the mapping */
	return status == MMIO_OK ? 0 : fail(status, what);
}

static int cmd_read(mmio_client *c, const char *region, size_t off, unsigned width)
{
	char what[128];
	mmio_region *r;
	uint64_t v = 0;
	int status, rc;

	snprintf(what, sizeof(what), "read %s 0x%zx", region, off);
	rc = open_range(c, region, off, width, &r, what);
	if (rc)
		return rc;
	switch (width) {
	case 1: {
		uint8_t x;
		status = mmio_read8(r, 0, &x);
		v = x;
		break;
	}
	case 2: {
		uint16_t x;
		status = mmio_read16(r, 0, &x);
		v = x;
		break;
	}
	case 4: {
		uint32_t x;
		status = mmio_read32(r, 0, &x);
		v = x;
		break;
	}
	default:
		status = mmio_read64(r, 0, &v);
		break;
	}
	mmio_close(r);
	if (status != MMIO_OK)
		return fail(status, what);
	printf("0x%0*" PRIX64 "\n", (int)width * 2, v);
	return 0;
}

static int cmd_write(mmio_client *c, const char *region, size_t off, unsigned width, uint64_t v)
{
	char what[128];
	mmio_region *r;
	int status, rc;

	snprintf(what, sizeof(what), "write %s 0x%zx", region, off);
	rc = open_range(c, region, off, width, &r, what);
	if (rc)
		return rc;
	switch (width) {
	case 1:
		status = mmio_write8(r, 0, (uint8_t)v);
		break;
	case 2:
		status = mmio_write16(r, 0, (uint16_t)v);
		break;
	case 4:
		status = mmio_write32(r, 0, (uint32_t)v);
		break;
	default:
		status = mmio_write64(r, 0, v);
		break;
	}
	mmio_close(r);
	return status == MMIO_OK ? 0 : fail(status, what);
}

static int cmd_fill(mmio_client *c, const char *region, size_t off, size_t len, uint8_t byte)
{
	char what[128];
	mmio_region *r;
	size_t done;
	int status, rc;

	snprintf(what, sizeof(what), "fill %s 0x%zx", region, off);
	rc = open_range(c, region, off, len, &r, what);
	if (rc)
		return rc;
	status = mmio_fill(r, 0, len, byte, &done);
	mmio_close(r);
	if (status != MMIO_OK) {
		fprintf(stderr, "mmioctl: %s: %zu of %zu bytes written\n", what, done, len);
		return fail(status, what);
	}
	return 0;
}

/* ---- dump: the layout of hexdump -C (util-linux / BSD) ---- */

struct hexdump {
	uint8_t prev[16];
	bool have_prev; /* prev holds the last full line */
	bool squeezing; /* a "*" line was printed for repeats of prev */
};

static void hexdump_line(struct hexdump *h, uint64_t addr, const uint8_t *p, size_t n)
{
	if (n == 16 && h->have_prev && memcmp(p, h->prev, 16) == 0) {
		if (!h->squeezing)
			puts("*");
		h->squeezing = true;
		return;
	}
	h->squeezing = false;
	if (n == 16) {
		memcpy(h->prev, p, 16);
		h->have_prev = true;
	}
	printf("%08" PRIx64 " ", addr);
	for (size_t i = 0; i < 16; i++) {
		if (i % 8 == 0)
			putchar(' ');
		if (i < n)
			printf("%02x ", p[i]);
		else
			fputs("   ", stdout);
	}
	fputs(" |", stdout);
	for (size_t i = 0; i < n; i++)
		putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
	fputs("|\n", stdout);
}

static int cmd_dump(mmio_client *c, const char *region, size_t off, size_t len)
{
	struct hexdump h = { .have_prev = false };
	char what[128];
	mmio_region *r;
	uint8_t *buf;
	size_t pos = 0;
	int status = MMIO_OK, rc;

	snprintf(what, sizeof(what), "dump %s 0x%zx", region, off);
	rc = open_range(c, region, off, len, &r, what);
	if (rc)
		return rc;
	buf = malloc(len < DUMP_CHUNK ? len : DUMP_CHUNK);
	if (!buf) {
		mmio_close(r);
		return fail(MMIO_ENOMEM, what);
	}
	while (pos < len && status == MMIO_OK) {
		size_t n = len - pos < DUMP_CHUNK ? len - pos : DUMP_CHUNK;
		size_t done = 0;

		status = mmio_read(r, pos, buf, n, &done);
		for (size_t i = 0; i < done; i += 16)
			hexdump_line(&h, (uint64_t)off + pos + i, buf + i,
				     done - i < 16 ? done - i : 16);
		pos += done;
	}
	free(buf);
	mmio_close(r);
	printf("%08" PRIx64 "\n", (uint64_t)off + pos);
	if (status != MMIO_OK) {
		fflush(stdout);
		fprintf(stderr, "mmioctl: %s: %zu of %zu bytes read\n", what, pos, len);
		return fail(status, what);
	}
	return 0;
}

/* ---- save, load: bulk copies between a region and a file ---- */

static int cmd_save(mmio_client *c, const char *region, size_t off, size_t len, const char *file)
{
	char what[128];
	mmio_region *r;
	uint8_t *buf;
	size_t pos = 0;
	int status = MMIO_OK, rc;
	FILE *f;

	snprintf(what, sizeof(what), "save %s 0x%zx", region, off);
	f = strcmp(file, "-") == 0 ? stdout : fopen(file, "wb");
	if (!f) {
		fprintf(stderr, "mmioctl: %s: %s\n", file, strerror(errno));
		return EXIT_STATUS;
	}
	rc = open_range(c, region, off, len, &r, what);
	if (rc)
		goto out;
	buf = malloc(len < DUMP_CHUNK ? len : DUMP_CHUNK);
	if (!buf) {
		mmio_close(r);
		rc = fail(MMIO_ENOMEM, what);
		goto out;
	}
	while (pos < len && status == MMIO_OK) {
		size_t n = len - pos < DUMP_CHUNK ? len - pos : DUMP_CHUNK, done = 0;

		status = mmio_read(r, pos, buf, n, &done);
		if (fwrite(buf, 1, done, f) != done) {
			fprintf(stderr, "mmioctl: %s: %s\n", file, strerror(errno));
			rc = EXIT_STATUS;
			break;
		}
		pos += done;
	}
	free(buf);
	mmio_close(r);
	if (!rc && status != MMIO_OK) {
		fprintf(stderr, "mmioctl: %s: %zu of %zu bytes read\n", what, pos, len);
		rc = fail(status, what);
	}
out:
	if (f != stdout && fclose(f) != 0 && !rc) {
		fprintf(stderr, "mmioctl: %s: %s\n", file, strerror(errno));
		rc = EXIT_STATUS;
	}
	return rc;
}

/* All of @f in memory (a region is mapped memory: it fits). */
static uint8_t *slurp(FILE *f, size_t *len)
{
	size_t cap = 1u << 16, n = 0;
	uint8_t *buf = malloc(cap);

	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			uint8_t *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);

			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static int cmd_load(mmio_client *c, const char *region, size_t off, const char *file)
{
	char what[128];
	mmio_region *r;
	uint8_t *buf;
	size_t len = 0, done = 0;
	int status, rc;
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");

	snprintf(what, sizeof(what), "load %s 0x%zx", region, off);
	if (!f || !(buf = slurp(f, &len))) {
		fprintf(stderr, "mmioctl: %s: %s\n", file, strerror(errno ? errno : ENOMEM));
		if (f && f != stdin)
			fclose(f);
		return EXIT_STATUS;
	}
	if (f != stdin)
		fclose(f);
	if (len == 0) {
		free(buf);
		return 0;
	}
	rc = open_range(c, region, off, len, &r, what);
	if (!rc) {
		status = mmio_write(r, 0, buf, len, &done);
		mmio_close(r);
		if (status != MMIO_OK) {
			fprintf(stderr, "mmioctl: %s: %zu of %zu bytes written\n", what, done, len);
			rc = fail(status, what);
		}
	}
	free(buf);
	return rc;
}

/* ---- main ---- */

/* A command line, checked completely before anything is sent. */
struct command {
	enum {
		CMD_LIST,
		CMD_STATS,
		CMD_READ,
		CMD_WRITE,
		CMD_POLL,
		CMD_DUMP,
		CMD_FILL,
		CMD_SAVE,
		CMD_LOAD,
		CMD_IRQ
	} kind;
	const char *region;
	const char *file; /* save, load */
	size_t off, len;
	unsigned width; /* bytes */
	uint64_t value; /* write: the value; fill: the byte; poll: the mask */
	uint64_t want;	/* poll */
	uint32_t timeout_us;
};

/* @value fits @width bytes (0: not known yet, any value). */
static bool value_fits(unsigned width, uint64_t value)
{
	return width == 0 || (value & ~mmio_width_bits(width)) == 0;
}

/* poll REGION OFFSET WIDTH MASK WANT [TIMEOUT_US] (@argc, @argv from the command's name). */
static int parse_poll(int argc, char **argv, struct command *cmd)
{
	uint64_t t = 1000000;

	if (argc < 6 || argc > 7)
		return usage_error("%s", "usage: poll REGION OFFSET WIDTH MASK WANT [TIMEOUT_US]");
	if (!parse_width(argv[3], &cmd->width))
		return usage_error("bad WIDTH '%s' (8, 16, 32 or 64)", argv[3]);
	if (!parse_u64(argv[4], &cmd->value) || !value_fits(cmd->width, cmd->value))
		return usage_error("bad MASK '%s' (a C integer constant that fits WIDTH)", argv[4]);
	if (!parse_u64(argv[5], &cmd->want) || !value_fits(cmd->width, cmd->want))
		return usage_error("bad WANT '%s' (a C integer constant that fits WIDTH)", argv[5]);
	if (argc == 7 && (!parse_u64(argv[6], &t) || t > UINT32_MAX))
		return usage_error("bad TIMEOUT_US '%s' (0 to 4294967295)", argv[6]);
	cmd->timeout_us = (uint32_t)t;
	cmd->kind = CMD_POLL;
	return 0;
}

/* One poll of the command's width; the last value read goes to *@last. */
static int poll_once(mmio_region *r, const struct command *cmd, uint64_t *last)
{
	int status;

	switch (cmd->width) {
	case 1: {
		uint8_t v = 0;
		status = mmio_poll8(r, 0, (uint8_t)cmd->value, (uint8_t)cmd->want, cmd->timeout_us,
				    &v);
		*last = v;
		return status;
	}
	case 2: {
		uint16_t v = 0;
		status = mmio_poll16(r, 0, (uint16_t)cmd->value, (uint16_t)cmd->want,
				     cmd->timeout_us, &v);
		*last = v;
		return status;
	}
	case 4: {
		uint32_t v = 0;
		status = mmio_poll32(r, 0, (uint32_t)cmd->value, (uint32_t)cmd->want,
				     cmd->timeout_us, &v);
		*last = v;
		return status;
	}
	default:
		return mmio_poll64(r, 0, cmd->value, cmd->want, cmd->timeout_us, last);
	}
}

/* Prints the last value read, on success and on a timeout. */
static int cmd_poll(mmio_client *c, const struct command *cmd)
{
	char what[128];
	mmio_region *r;
	uint64_t v = 0;
	int status, rc;

	snprintf(what, sizeof(what), "poll %s 0x%zx", cmd->region, cmd->off);
	rc = open_range(c, cmd->region, cmd->off, cmd->width, &r, what);
	if (rc)
		return rc;
	status = poll_once(r, cmd, &v);
	mmio_close(r);
	if (status == MMIO_OK || status == MMIO_ETIMEDOUT)
		printf("0x%0*" PRIX64 "\n", (int)cmd->width * 2, v);
	return status == MMIO_OK ? 0 : fail(status, what);
}

/* Hold REGION's interrupt until COUNT interrupts came; prints the total
 * after each wait. */
static int cmd_irq(mmio_client *c, const struct command *cmd)
{
	char what[128];
	uint64_t total = 0, n = 0;
	mmio_irq *irq;
	int status;

	snprintf(what, sizeof(what), "irq %s", cmd->region);
	status = mmio_irq_open(c, cmd->region, &irq);
	if (status != MMIO_OK)
		return fail(status, what);
	while (total < cmd->len) {
		status = mmio_irq_wait(irq, -1, &n);
		if (status != MMIO_OK)
			break;
		total += n;
		printf("%" PRIu64 "\n", total);
		fflush(stdout);
		if (total < cmd->len)
			status = mmio_irq_unmask(irq);
		if (status != MMIO_OK)
			break;
	}
	mmio_irq_close(irq);
	return status == MMIO_OK ? 0 : fail(status, what);
}

static int parse_command(int argc, char **argv, struct command *cmd)
{
	const char *name = argv[0];

	memset(cmd, 0, sizeof(*cmd));
	if (strcmp(name, "irq") == 0) {
		if (argc < 2 || argc > 3)
			return usage_error("%s", "usage: irq REGION [COUNT]");
		cmd->len = 1;
		if (argc == 3 && (!parse_size(argv[2], &cmd->len) || cmd->len == 0))
			return usage_error("bad COUNT '%s' (a C integer constant, at least 1)",
					   argv[2]);
		cmd->region = argv[1];
		cmd->kind = CMD_IRQ;
		return 0;
	}
	if (strcmp(name, "list") == 0 && argc == 2 && strcmp(argv[1], "-v") == 0) {
		verbose = true;
		cmd->kind = CMD_LIST;
		return 0;
	}
	if (strcmp(name, "list") == 0 || strcmp(name, "stats") == 0) {
		if (argc != 1)
			return usage_error("%s", name[0] == 'l' ? "usage: list [-v]"
								: "stats takes no arguments");
		cmd->kind = name[0] == 'l' ? CMD_LIST : CMD_STATS;
		return 0;
	}
	if (strcmp(name, "read") == 0) {
		if (argc < 3 || argc > 4)
			return usage_error("%s", "usage: read REGION OFFSET [WIDTH]");
		if (argc == 4 && !parse_width(argv[3], &cmd->width))
			return usage_error("bad WIDTH '%s' (8, 16, 32 or 64)", argv[3]);
		cmd->kind = CMD_READ;
	} else if (strcmp(name, "write") == 0) {
		const char *value = argv[argc - 1];

		if (argc != 4 && argc != 5)
			return usage_error("%s", "usage: write REGION OFFSET [WIDTH] VALUE");
		if (argc == 5 && !parse_width(argv[3], &cmd->width))
			return usage_error("bad WIDTH '%s' (8, 16, 32 or 64)", argv[3]);
		if (!parse_u64(value, &cmd->value) || !value_fits(cmd->width, cmd->value))
			return usage_error("bad VALUE '%s' (a C integer constant that fits WIDTH)",
					   value);
		cmd->kind = CMD_WRITE;
	} else if (strcmp(name, "poll") == 0) {
		int rc = parse_poll(argc, argv, cmd);

		if (rc)
			return rc;
	} else if (strcmp(name, "dump") == 0 || strcmp(name, "fill") == 0) {
		bool fill = name[0] == 'f';

		if (argc < 4 || argc > (fill ? 5 : 4))
			return usage_error("%s", fill ? "usage: fill REGION OFFSET LEN [BYTE]"
						      : "usage: dump REGION OFFSET LEN");
		if (!parse_size(argv[3], &cmd->len) || cmd->len == 0)
			return usage_error("bad LEN '%s' (a C integer constant, at least 1)",
					   argv[3]);
		if (argc == 5 && (!parse_u64(argv[4], &cmd->value) || cmd->value > 0xff))
			return usage_error("bad BYTE '%s' (0 to 0xff)", argv[4]);
		cmd->kind = fill ? CMD_FILL : CMD_DUMP;
	} else if (strcmp(name, "save") == 0) {
		if (argc != 5)
			return usage_error("%s", "usage: save REGION OFFSET LEN FILE");
		if (!parse_size(argv[3], &cmd->len) || cmd->len == 0)
			return usage_error("bad LEN '%s' (a C integer constant, at least 1)",
					   argv[3]);
		cmd->file = argv[4];
		cmd->kind = CMD_SAVE;
	} else if (strcmp(name, "load") == 0) {
		if (argc != 4)
			return usage_error("%s", "usage: load REGION OFFSET FILE");
		cmd->file = argv[3];
		cmd->kind = CMD_LOAD;
	} else {
		return usage_error("unknown command '%s'", name);
	}
	cmd->region = argv[1];
	if (!parse_size(argv[2], &cmd->off))
		return usage_error("bad OFFSET '%s' (a C integer constant)", argv[2]);
	return 0;
}

/*
 * The width of a read or write given none: the one width the client's
 * grant on @region allows (mmio_list(): its first grant, the one an open
 * takes), else 4 bytes.
 */
static unsigned default_width(mmio_client *c, const char *region)
{
	struct mmio_region_info *list;
	unsigned width = 4;
	size_t n;

	if (mmio_list(c, &list, &n) == MMIO_OK) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(list[i].name, region) == 0) {
				if (mmio_width_valid(list[i].widths))
					width = list[i].widths;
				break;
			}
		}
		mmio_list_free(list);
	}
	return width;
}

static int run_command(mmio_client *c, const struct command *cmd)
{
	unsigned width = cmd->width;

	if ((cmd->kind == CMD_READ || cmd->kind == CMD_WRITE) && width == 0) {
		width = default_width(c, cmd->region);
		if (!value_fits(width, cmd->value))
			return usage_error("VALUE 0x%" PRIx64 " does not fit %u bits, the default "
					   "WIDTH on %s (give a WIDTH)",
					   cmd->value, width * 8, cmd->region);
	}
	switch (cmd->kind) {
	case CMD_LIST:
		return cmd_list(c);
	case CMD_STATS:
		return cmd_stats(c);
	case CMD_READ:
		return cmd_read(c, cmd->region, cmd->off, width);
	case CMD_WRITE:
		return cmd_write(c, cmd->region, cmd->off, width, cmd->value);
	case CMD_POLL:
		return cmd_poll(c, cmd);
	case CMD_IRQ:
		return cmd_irq(c, cmd);
	case CMD_DUMP:
		return cmd_dump(c, cmd->region, cmd->off, cmd->len);
	case CMD_SAVE:
		return cmd_save(c, cmd->region, cmd->off, cmd->len, cmd->file);
	case CMD_LOAD:
		return cmd_load(c, cmd->region, cmd->off, cmd->file);
	default:
		return cmd_fill(c, cmd->region, cmd->off, cmd->len, (uint8_t)cmd->value);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "direct", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL;
	struct command cmd;
	mmio_client *c;
	int opt, status, rc;

	while ((opt = getopt_long(argc, argv, "+s:dh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			url = optarg;
			break;
		case 'd':
			direct_mode = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("Try 'mmioctl --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no command given");
	rc = parse_command(argc - optind, argv + optind, &cmd);
	if (rc)
		return rc;

	status = mmio_connect(url, &c);
	if (status != MMIO_OK) {
		const char *env = getenv("MMIO_SERVER");
		char what[600];

		snprintf(what, sizeof(what), "connect to %s",
			 url		 ? url
			 : env && env[0] ? env
					 : MMIO_DEFAULT_URL);
		rc = fail(status, what);
		if (mmio_connect_error()[0] != '\0')
			fprintf(stderr, "mmioctl: %s\n", mmio_connect_error());
		return rc;
	}
	conn = c;
	rc = run_command(c, &cmd);
	conn = NULL;
	mmio_disconnect(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mmioctl: writing the output: %s\n", strerror(errno));
		return EXIT_STATUS;
	}
	return rc;
}
