/* SPDX-License-Identifier: MIT */
/*
 * Direct mode of libmmio against a real mmio-server: the mapping is granted
 * where the policy says and nowhere else, every call gives what the proxied
 * call gives (a differential run on twin sim regions), faults under the
 * mapping report the same counts, and closing, disconnecting and reloading
 * do what docs/DIRECT.md says.
 */
#include "direct_intel.h"
#include "server_harness.h"
#include "watch.h"

#include <mmio/client.h>

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TWIN_SIZE (64u * 1024)
/* The boundary libmmio places device mappings at (SHIM_MAP_ALIGN). */
#define MAP_ALIGN   (2u << 20)
#define PINNED_SIZE (16u * 1024)
#define RO_SIZE	    (8u * 1024)
#define DIFF_OPS    4000
#define BUF_SIZE    (80u * 1024) /* above one message (max_message 64 KiB) */

/*
 * Twins: each pair of sim regions has the same size and the same grant;
 * one is used proxied, the other direct. "*-noma" grants everything but map.
 */
static const char policy_head[] = "version: 1\n"
				  "server:\n"
				  "  listen: \"%SOCK%\"\n"
				  "  socket_mode: \"0666\"\n"
				  "  max_message: 64KiB\n"
				  "regions:\n";
static const char *const regions[] = {
	"tw-p",	 "64KiB", "tw-d",  "64KiB", "tw-s", "64KiB", "pin-p", "16KiB",
	"pin-d", "16KiB", "pin-s", "16KiB", "ro-p", "8KiB",  "ro-d",  "8KiB",
	"excl",	 "8KiB",  "noma",  "8KiB",  "sens", "4KiB",  "p8-d",  "8KiB",
	"regs",	 "4KiB",  "w24",   "8KiB",  "w48",  "8KiB",  NULL,
};
static const char policy_grants[] =
	"clients:\n"
	"  - name: root\n"
	"    uid: 0\n"
	"    grants:\n"
	"      - { region: tw-p, access: rw, ops: [once, bulk, fill, poll, map] }\n"
	"      - { region: tw-d, access: rw, ops: [once, bulk, fill, poll, map] }\n"
	"      - { region: pin-p, access: rw, ops: [once, bulk, fill, poll, map],"
	" widths: [4] }\n"
	"      - { region: pin-s, access: rw, ops: [once, bulk, fill, poll],"
	" widths: [4] }\n"
	"      - { region: tw-s, access: rw, ops: [once, bulk, fill, poll] }\n"
	"      - { region: pin-d, access: rw, ops: [once, bulk, fill, poll, map],"
	" widths: [4] }\n"
	"      - { region: ro-p, access: r, ops: [once, poll, map],"
	" widths: [2, 4, 8] }\n"
	"      - { region: ro-d, access: r, ops: [once, poll, map],"
	" widths: [2, 4, 8] }\n"
	"      - { region: excl, access: rw, ops: [once, bulk, map],"
	" exclusive: true }\n"
	"      - { region: noma, access: rw, ops: [once, bulk, fill, poll] }\n"
	"      - { region: sens, access: rw, ops: [once] }\n"
	"      - { region: p8-d, access: rw, ops: [once, bulk, map], widths: [8] }\n"
	"      - { region: regs, access: rw, ops: [once, poll], widths: [4],"
	" registers: [{ offset: 0x10, access: rw, write_mask: 0xff }] }\n"
	"      - { region: w24, access: rw, ops: [once, bulk, fill, map], widths: [2, 4] }\n"
	"      - { region: w48, access: rw, ops: [once, bulk, fill, map], widths: [4, 8] }\n";

static mmio_client *client;
/* The same server, as two more clients: one whose proxied copies always go
 * through messages, one whose copies always go through shared memory. */
static mmio_client *inline_client, *shared_client;

enum policy_variant {
	POLICY_FULL,
	POLICY_NO_TWD,	   /* the grant on tw-d removed */
	POLICY_TWD_READ,   /* the grant on tw-d narrowed to read-only */
	POLICY_TWD_NO_MAP, /* the grant on tw-d without map */
};

static void write_policy(enum policy_variant variant)
{
	static const char twd_line[] =
		"      - { region: tw-d, access: rw, ops: [once, bulk, fill, poll, map] }\n";
	char yaml[4096], grants[sizeof(policy_grants) + 64];
	char *line;
	size_t n = 0;

	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s", policy_head);
	for (size_t i = 0; regions[i]; i += 2)
		n += (size_t)snprintf(
			yaml + n, sizeof(yaml) - n, "  - name: %s\n    sim: true\n    size: %s\n%s",
			regions[i], regions[i + 1],
			strcmp(regions[i], "sens") == 0 ? "    sensitive: true\n" : "");
	/* Everything but the tw-d line, then that line as the variant has it. */
	line = strstr(policy_grants, twd_line);
	ck_assert_ptr_nonnull(line);
	snprintf(grants, sizeof(grants), "%.*s%s%s", (int)(line - policy_grants), policy_grants,
		 variant == POLICY_FULL		? twd_line
		 : variant == POLICY_TWD_READ	? "      - { region: tw-d, access: r, ops: [once, "
						  "bulk, poll, map] }\n"
		 : variant == POLICY_TWD_NO_MAP ? "      - { region: tw-d, access: rw, ops: [once, "
						  "bulk, fill, poll] }\n"
						: "",
		 line + strlen(twd_line));
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s", grants);
	ck_assert_uint_lt(n, sizeof(yaml));
	harness_policy(yaml);
}

static uint64_t stat_of(mmio_client *c, const char *name);

static void setup(void)
{
	harness_init();
	write_policy(POLICY_FULL);
	/* Faults are injected by shrinking the server's sim memory. */
	setenv("MMIO_SIM_RESIZABLE", "1", 1);
	harness_server_start();
	ck_assert_int_eq(mmio_connect(H.url, &client), MMIO_OK);
	/* The reference path is the socket alone; the others carry their
	 * requests in a mailbox (the default). */
	setenv("MMIO_SHARED_MIN", "18446744073709551615", 1);
	setenv("MMIO_MAILBOX", "0", 1);
	ck_assert_int_eq(mmio_connect(H.url, &inline_client), MMIO_OK);
	unsetenv("MMIO_MAILBOX");
	setenv("MMIO_SHARED_MIN", "0", 1);
	ck_assert_int_eq(mmio_connect(H.url, &shared_client), MMIO_OK);
	unsetenv("MMIO_SHARED_MIN");
	/* Every client but the reference has its mailbox running. */
	ck_assert_uint_eq(stat_of(client, "mailboxes"), 2);
	ck_assert_int_eq(mmio_has_mailbox(client), 1);
	ck_assert_int_eq(mmio_has_mailbox(shared_client), 1);
	ck_assert_int_eq(mmio_has_mailbox(inline_client), 0);
	ck_assert_int_eq(mmio_has_mailbox(NULL), 0);
}

static void teardown(void)
{
	mmio_disconnect(shared_client);
	mmio_disconnect(inline_client);
	mmio_disconnect(client);
	harness_cleanup();
}

static uint64_t stat_of(mmio_client *c, const char *name)
{
	struct mmio_stat st[64];
	size_t n = 0;

	ck_assert_int_eq(mmio_stats(c, st, 64, &n), MMIO_OK);
	for (size_t i = 0; i < n && i < 64; i++) {
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	}
	ck_abort_msg("no counter %s", name);
	return 0;
}

/* The permissions of this process's mapping of memfd @name ("" if none). */
static void mapping_perms(const char *name, char perms[5])
{
	char line[512], want[96];
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	perms[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strlen(line) >= strlen(want) &&
		    strcmp(line + strlen(line) - strlen(want), want) == 0) {
			char *sp = strchr(line, ' ');

			ck_assert_ptr_nonnull(sp);
			memcpy(perms, sp + 1, 4);
			perms[4] = '\0';
		}
	}
	fclose(f);
}

/*
 * The accesses of every thread of process @pid (0: this thread alone) to
 * the two 8-byte words at @addr and @addr + 8, counted while they are
 * open: hardware breakpoints, one per thread (watch.h).
 */
struct watch_set {
	int fd[2][64];
	unsigned n;
	uint64_t base[2];
};

static void watch_set_open(struct watch_set *ws, pid_t pid, uintptr_t addr)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	memset(ws, 0, sizeof(*ws));
	if (pid == 0) {
		ws->fd[0][0] = watch_open((void *)addr);
		ws->fd[1][0] = watch_open((void *)(addr + 8));
		ck_assert_msg(ws->fd[0][0] >= 0 && ws->fd[1][0] >= 0, "no hardware breakpoints");
		ws->n = 1;
	} else {
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		d = opendir(path);
		ck_assert_ptr_nonnull(d);
		while ((e = readdir(d)) != NULL && ws->n < 64) {
			struct perf_event_attr a;
			pid_t tid = (pid_t)atoi(e->d_name);

			if (tid <= 0)
				continue;
			for (int k = 0; k < 2; k++) {
				memset(&a, 0, sizeof(a));
				a.type = PERF_TYPE_BREAKPOINT;
				a.size = sizeof(a);
				a.bp_type = HW_BREAKPOINT_RW;
				a.bp_addr = addr + 8 * (unsigned)k;
				a.bp_len = HW_BREAKPOINT_LEN_8;
				a.exclude_kernel = 1;
				ws->fd[k][ws->n] =
					(int)syscall(SYS_perf_event_open, &a, tid, -1, -1, 0);
				ck_assert_msg(ws->fd[k][ws->n] >= 0, "no hardware breakpoints");
			}
			ws->n++;
		}
		closedir(d);
	}
	for (int k = 0; k < 2; k++)
		for (unsigned i = 0; i < ws->n; i++)
			ws->base[k] += watch_count(ws->fd[k][i]);
}

/* Accesses to word @k since the open. */
static uint64_t watch_set_count(const struct watch_set *ws, int k)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < ws->n; i++)
		n += watch_count(ws->fd[k][i]);
	return n - ws->base[k];
}

static void watch_set_close(struct watch_set *ws)
{
	for (int k = 0; k < 2; k++)
		for (unsigned i = 0; i < ws->n; i++)
			close(ws->fd[k][i]);
}

/* Where process @pid maps sim region @name (its memfd), the @nth mapping. */
static uintptr_t sim_address(pid_t pid, const char *name, unsigned nth)
{
	char path[64], line[512], want[96];
	uintptr_t at = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (at == 0 && fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strlen(line) >= strlen(want) &&
		    strcmp(line + strlen(line) - strlen(want), want) == 0 && nth-- == 0)
			at = (uintptr_t)strtoull(line, NULL, 16);
	}
	fclose(f);
	return at;
}

/* A copy or fill of @len bytes at @off of region @region, and the accesses
 * it makes to the device's words 0 and 8: one per access of 8 bytes, two
 * of 4, four of 2. */
struct width_case {
	const char *region;
	size_t off, len;
	uint64_t word0, word8;
};

static const struct width_case width_cases[] = {
	/* [2, 4]: 2 at the 2-aligned head and tail, 4 between (every step
	 * the narrowest, as before: 3 and 4). */
	{ "w24", 2, 16, 2, 2 },
	{ "w24", 0, 16, 2, 2 },
	{ "w24", 6, 10, 1, 2 },
	/* [4, 8]: 4 to reach the 8-aligned address, then 8 (before: 2 a word). */
	{ "w48", 4, 20, 1, 1 },
	{ "w48", 0, 16, 1, 1 },
};

/* Case @c as a copy from, a copy to and a fill of @r, counted in every
 * mapping of the device by process @pid (0: this thread). */
static void widths_counted(mmio_region *r, pid_t pid, const struct width_case *c)
{
	uint8_t buf[32] = { 0 };
	struct watch_set ws[4];
	size_t done = 0;

	for (int kind = 0; kind < 3; kind++) {
		uint64_t n0 = 0, n8 = 0;
		unsigned maps = 0;
		int status;

		/* Every mapping of the device (a direct handle and its views). */
		for (uintptr_t at;
		     maps < 4 && (at = sim_address(pid ? pid : getpid(), c->region, maps)) != 0;)
			watch_set_open(&ws[maps++], pid, at);
		ck_assert_uint_gt(maps, 0);
		if (kind == 0)
			status = mmio_read(r, c->off, buf, c->len, &done);
		else if (kind == 1)
			status = mmio_write(r, c->off, buf, c->len, &done);
		else
			status = mmio_fill(r, c->off, c->len, 0x3C, &done);
		for (unsigned m = 0; m < maps; m++) {
			n0 += watch_set_count(&ws[m], 0);
			n8 += watch_set_count(&ws[m], 1);
			watch_set_close(&ws[m]);
		}
		ck_assert_int_eq(status, MMIO_OK);
		ck_assert_uint_eq(done, c->len);
		ck_assert_msg(n0 == c->word0 && n8 == c->word8,
			      "%s %s, %zu bytes at %zu, kind %d: %llu and %llu accesses to words "
			      "0 and 8, not %llu and %llu",
			      mmio_is_direct(r) ? "direct" : "proxied", c->region, c->len, c->off,
			      kind, (unsigned long long)n0, (unsigned long long)n8,
			      (unsigned long long)c->word0, (unsigned long long)c->word8);
	}
}

/* Copies and fills take the widest width the grant allows at each aligned
 * step, proxied (in the server) and direct (here), and say so. */
START_TEST(copies_take_the_widest_allowed_width)
{
	const struct width_case *c = &width_cases[_i];
	bool w24 = strcmp(c->region, "w24") == 0;
	struct mmio_region_info info;
	mmio_region *r;

	ck_assert_int_eq(mmio_open(client, c->region, MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_int_eq(mmio_describe(r, &info), MMIO_OK);
	ck_assert_uint_eq(info.width, w24 ? 2 : 4);
	ck_assert_uint_eq(info.bulk_width, w24 ? 4 : 8);
	widths_counted(r, H.server, c);
	mmio_close(r);

	ck_assert_int_eq(mmio_open(client, c->region, MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_describe(r, &info), MMIO_OK);
	ck_assert_uint_eq(info.bulk_width, w24 ? 4 : 8);
	widths_counted(r, 0, c);
	mmio_close(r);
}
END_TEST

/* One poll of @width bytes on @r at @off through mmio_poll8..64. */
static int poll_at(mmio_region *r, size_t off, unsigned width, uint64_t mask, uint64_t want,
		   uint32_t timeout_us, uint64_t *last)
{
	int status;

	switch (width) {
	case 1: {
		uint8_t v = 0xA5;
		status = mmio_poll8(r, off, (uint8_t)mask, (uint8_t)want, timeout_us, &v);
		*last = v;
		break;
	}
	case 2: {
		uint16_t v = 0xA5;
		status = mmio_poll16(r, off, (uint16_t)mask, (uint16_t)want, timeout_us, &v);
		*last = v;
		break;
	}
	case 4: {
		uint32_t v = 0xA5;
		status = mmio_poll32(r, off, (uint32_t)mask, (uint32_t)want, timeout_us, &v);
		*last = v;
		break;
	}
	default:
		*last = 0xA5;
		status = mmio_poll64(r, off, mask, want, timeout_us, last);
		break;
	}
	return status;
}

/* Polls at every width, proxied and direct, alone and in a batch: one
 * access of that width, its value, its timeout; refused where the grant
 * refuses the width. */
START_TEST(polls_at_every_width)
{
	static const char *const names[] = { "tw-p", "tw-d" };
	static const uint64_t value = 0x8877665544332211u;

	for (int d = 0; d < 2; d++) {
		mmio_region *r, *pin;
		mmio_batch *b;
		uint64_t last, v;

		ck_assert_int_eq(mmio_open(client, names[d],
					   d ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED, &r),
				 MMIO_OK);
		ck_assert_int_eq(mmio_write64(r, 0x40, value), MMIO_OK);
		for (unsigned w = 1; w <= 8; w <<= 1) {
			uint64_t mask = w == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * w)) - 1;
			uint64_t expect = value & mask;

			ck_assert_int_eq(poll_at(r, 0x40, w, mask, expect, 1000, &last), MMIO_OK);
			ck_assert_uint_eq(last, expect);
			ck_assert_int_eq(poll_at(r, 0x40, w, mask, expect ^ 1, 2000, &last),
					 MMIO_ETIMEDOUT);
			ck_assert_uint_eq(last, expect);
			if (w > 1)
				ck_assert_int_eq(poll_at(r, 0x41, w, mask, 0, 0, &last),
						 MMIO_EINVAL);
			ck_assert_int_eq(mmio_batch_new(client, &b), MMIO_OK);
			ck_assert_int_eq(mmio_batch_poll(b, r, 0x40, w, mask, expect, 1000), 0);
			ck_assert_int_eq(mmio_batch_run(b, NULL), MMIO_OK);
			ck_assert_int_eq(mmio_batch_value(b, 0, &v), MMIO_OK);
			ck_assert_uint_eq(v, expect);
			mmio_batch_free(b);
		}
		mmio_close(r);
		/* A grant of [4] refuses the other widths, and untouched *last. */
		ck_assert_int_eq(mmio_open(client, d ? "pin-d" : "pin-p", MMIO_OPEN_PROXIED, &pin),
				 MMIO_OK);
		ck_assert_int_eq(poll_at(pin, 0, 2, 0, 0, 0, &last), MMIO_EINVAL);
		ck_assert_uint_eq(last, 0xA5);
		ck_assert_int_eq(poll_at(pin, 0, 8, 0, 0, 0, &last), MMIO_EINVAL);
		mmio_close(pin);
	}
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(direct_where_granted_proxied_otherwise)
{
	mmio_region *r, *p;
	char perms[5];
	uint32_t v;

	/* Granted: mapped, and the memory is the server's. */
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(r), 1);
	ck_assert_uint_eq(mmio_size(r), TWIN_SIZE);
	ck_assert_uint_eq(stat_of(client, "mappings"), 1);
	mapping_perms("tw-d", perms);
	ck_assert_str_eq(perms, "rw-s");
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_PROXIED, &p), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 0x100, 0xC0FFEE01), MMIO_OK);
	ck_assert_int_eq(mmio_read32(p, 0x100, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xC0FFEE01);
	ck_assert_int_eq(mmio_write32(p, 0x104, 0xC0FFEE02), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 0x104, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xC0FFEE02);
	mmio_close(p);
	/* Closing unmaps, here and in the server's count. */
	mmio_close(r);
	mapping_perms("tw-d", perms);
	ck_assert_str_eq(perms, "");
	ck_assert_uint_eq(stat_of(client, "mappings"), 0);

	/* No `map` in the grant: DIRECT falls back, REQUIRE_DIRECT refuses. */
	ck_assert_int_eq(mmio_open(client, "noma", MMIO_OPEN_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(r), 0);
	ck_assert_int_eq(mmio_write32(r, 0, 7), MMIO_OK);
	mmio_close(r);
	ck_assert_int_eq(mmio_open(client, "noma", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_EACCES);
	ck_assert_ptr_null(r);
	/* Part of a device: the descriptor would give all of it. */
	ck_assert_int_eq(mmio_open_range(client, "tw-d", 4096, 4096, MMIO_OPEN_DIRECT, &r),
			 MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(r), 0);
	mmio_close(r);
	ck_assert_int_eq(mmio_open_range(client, "tw-d", 4096, 4096, MMIO_OPEN_REQUIRE_DIRECT, &r),
			 MMIO_EACCES);
	/* Sensitive: never mapped. */
	ck_assert_int_eq(mmio_open(client, "sens", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_EACCES);
	ck_assert_uint_eq(stat_of(client, "mappings"), 0);
	ck_assert_uint_eq(stat_of(client, "handles"), 0);
}
END_TEST

/* Issue 23: a direct handle's refusals tell the same reason as proxied ones. */
START_TEST(direct_refusals_say_why_like_proxied)
{
	static const char *names[] = { "pin-d", "ro-d" };
	char direct[256], proxied[256];
	mmio_region *r[2];
	uint8_t buf[8];
	size_t done;
	uint16_t v16;

	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(mmio_open(client, names[i], MMIO_OPEN_REQUIRE_DIRECT, &r[0]),
				 MMIO_OK);
		ck_assert_int_eq(mmio_open(client, names[i], MMIO_OPEN_PROXIED, &r[1]), MMIO_OK);
		for (int k = 0; k < 2; k++) {
			char *why = k == 0 ? direct : proxied;
			int want = i == 0 ? MMIO_EINVAL : MMIO_EACCES;

			if (i == 0)
				ck_assert_int_eq(mmio_read16(r[k], 0, &v16), want);
			else
				ck_assert_int_eq(mmio_write32(r[k], 0, 1), want);
			ck_assert_int_eq(mmio_last_error(client, why, 256), want);
		}
		ck_assert_str_eq(direct, proxied);
		ck_assert_str_eq(direct, i == 0 ? "MMIO_EINVAL: a 2-byte access; the grant allows "
						  "4-byte accesses only"
						: "MMIO_EACCES: the grant gives no write access "
						  "(mmio_write8/16/32/64 needs it)");
		if (i == 0) {
			/* Misaligned, and past the end: the same words both ways. */
			uint32_t v32;
			size_t end = mmio_size(r[0]);

			ck_assert_int_eq(mmio_read32(r[0], 2, &v32), MMIO_EINVAL);
			mmio_last_error(client, direct, sizeof(direct));
			ck_assert_int_eq(mmio_read32(r[1], 2, &v32), MMIO_EINVAL);
			mmio_last_error(client, proxied, sizeof(proxied));
			ck_assert_str_eq(direct, proxied);
			ck_assert_str_eq(direct, "MMIO_EINVAL: offset 0x2 of the region is not a "
						 "multiple of 4 (a 4-byte access must be aligned)");
			ck_assert_int_eq(mmio_read32(r[0], end, &v32), MMIO_EINVAL);
			mmio_last_error(client, direct, sizeof(direct));
			ck_assert_int_eq(mmio_read32(r[1], end, &v32), MMIO_EINVAL);
			mmio_last_error(client, proxied, sizeof(proxied));
			ck_assert_str_eq(direct, proxied);
			ck_assert_ptr_nonnull(strstr(direct, "past its 0x"));
		}
		if (i == 1) {
			/* A copy without `bulk`, both ways. */
			ck_assert_int_eq(mmio_read(r[0], 0, buf, sizeof(buf), &done), MMIO_EACCES);
			mmio_last_error(client, direct, sizeof(direct));
			ck_assert_int_eq(mmio_read(r[1], 0, buf, sizeof(buf), &done), MMIO_EACCES);
			mmio_last_error(client, proxied, sizeof(proxied));
			ck_assert_str_eq(direct, proxied);
			ck_assert_str_eq(
				direct,
				"MMIO_EACCES: the grant has no `bulk` op (mmio_read needs it)");
		}
		mmio_close(r[0]);
		mmio_close(r[1]);
	}
}
END_TEST

/*
 * Issue 22: a grant with register rules is never mapped, so a direct
 * handle never needs them; through libmmio on the socket and on the
 * mailbox, every call on it gets the server's one answer.
 */
START_TEST(register_grant_is_proxied_and_checked_alike_on_every_path)
{
	mmio_client *clients[2] = { client, inline_client };
	mmio_region *r;
	uint32_t v = 0;
	uint16_t v16;
	uint8_t buf[4];
	size_t done = 0, failed = 0;

	ck_assert_int_eq(mmio_open(client, "regs", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_EACCES);
	for (int i = 0; i < 2; i++) {
		mmio_batch *b;

		ck_assert_int_eq(mmio_open(clients[i], "regs", MMIO_OPEN_DIRECT, &r), MMIO_OK);
		ck_assert_int_eq(mmio_is_direct(r), 0);
		ck_assert_int_eq(mmio_write32(r, 0x10, 0x12u + (unsigned)i), MMIO_OK);
		ck_assert_int_eq(mmio_write32(r, 0x10, 0x112), MMIO_EACCES);
		ck_assert_int_eq(mmio_read32(r, 0x10, &v), MMIO_OK);
		ck_assert_uint_eq(v, 0x12u + (unsigned)i);
		ck_assert_int_eq(mmio_read32(r, 0x14, &v), MMIO_EACCES);
		ck_assert_int_eq(mmio_read16(r, 0x10, &v16), MMIO_EINVAL);
		ck_assert_int_eq(mmio_read(r, 0x10, buf, sizeof(buf), &done), MMIO_EACCES);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(mmio_batch_new(clients[i], &b), MMIO_OK);
		ck_assert_int_ge(mmio_batch_write(b, r, 0x10, 4, 0x34), 0);
		ck_assert_int_ge(mmio_batch_read(b, r, 0x14, 4), 0);
		ck_assert_int_ge(mmio_batch_write(b, r, 0x10, 4, 0x56), 0);
		ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_EACCES);
		ck_assert_uint_eq(failed, 1);
		mmio_batch_free(b);
		ck_assert_int_eq(mmio_read32(r, 0x10, &v), MMIO_OK);
		ck_assert_uint_eq(v, 0x34);
		mmio_close(r);
	}
	ck_assert_uint_eq(stat_of(client, "mappings"), 0);
}
END_TEST

START_TEST(read_only_grant_maps_read_only)
{
	mmio_region *r;
	char perms[5];
	uint32_t v = 1;
	size_t done = 9;
	uint8_t buf[8] = { 0 };

	ck_assert_int_eq(mmio_open(client, "ro-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(r), 1);
	mapping_perms("ro-d", perms);
	ck_assert_str_eq(perms, "r--s");
	ck_assert_int_eq(mmio_read32(r, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0);
	/* The grant's rights, as the server would answer them. */
	ck_assert_int_eq(mmio_write32(r, 0, 1), MMIO_EACCES);
	ck_assert_int_eq(mmio_write(r, 0, buf, sizeof(buf), &done), MMIO_EACCES);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_read(r, 0, buf, sizeof(buf), &done), MMIO_EACCES);
	ck_assert_int_eq(mmio_fill(r, 0, 8, 0xFF, &done), MMIO_EACCES);
	/* A width the grant does not allow. */
	uint8_t v8;
	ck_assert_int_eq(mmio_read8(r, 0, &v8), MMIO_EINVAL);
	mmio_close(r);
}
END_TEST

/* Calls of the library's side of the inline once-ops from this file (the
 * link wraps them, tests/CMakeLists.txt): made only when the header's checks
 * send an access there. */
static _Thread_local unsigned library_once_ops;

struct mmio_once_result __real_mmio_inline_read(mmio_region *r, size_t off, unsigned width);
int __real_mmio_inline_write(mmio_region *r, size_t off, unsigned width, uint64_t v);
struct mmio_once_result __wrap_mmio_inline_read(mmio_region *r, size_t off, unsigned width);
int __wrap_mmio_inline_write(mmio_region *r, size_t off, unsigned width, uint64_t v);

struct mmio_once_result __wrap_mmio_inline_read(mmio_region *r, size_t off, unsigned width)
{
	library_once_ops++;
	return __real_mmio_inline_read(r, off, width);
}

int __wrap_mmio_inline_write(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	library_once_ops++;
	return __real_mmio_inline_write(r, off, width, v);
}

/* A NULL region or value pointer: MMIO_EINVAL from the header's inline
 * once-ops as from the library's functions, and nothing written through a
 * NULL region. The inline code does not test the region: its comparison's
 * load faults, and the fault handler sends the access to the library (one
 * call each, counted below). The NULL is read at run time, so that no
 * compiler sees it. */
static mmio_region *volatile nowhere;

START_TEST(once_ops_refuse_null_inline_and_called)
{
	mmio_region *r, *none = nowhere;
	uint8_t v8 = 7;
	uint16_t v16 = 7;
	uint32_t v32 = 7;
	uint64_t v64 = 7;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	library_once_ops = 0;
	ck_assert_int_eq(mmio_read8(none, 0, &v8), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read16(none, 0, &v16), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(none, 0, &v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read64(none, 0, &v64), MMIO_EINVAL);
	ck_assert_int_eq(intel_read32(none, 4, &v32), MMIO_EINVAL);
#ifdef MMIO_INLINE_ONCE
	ck_assert_uint_eq(library_once_ops, 5);
#endif
	ck_assert_int_eq((mmio_read32)(none, 0, &v32), MMIO_EINVAL);
	/* The values are left alone. */
	ck_assert_uint_eq(v8 + v16 + v32 + v64, 28);
	ck_assert_int_eq(mmio_read8(r, 0, NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read16(r, 0, NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(r, 0, NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read64(r, 0, NULL), MMIO_EINVAL);
	ck_assert_int_eq((mmio_read32)(r, 0, NULL), MMIO_EINVAL);
	library_once_ops = 0;
	ck_assert_int_eq(mmio_write8(none, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write16(none, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write32(none, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write64(none, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(intel_write32(none, 4, 1), MMIO_EINVAL);
#ifdef MMIO_INLINE_ONCE
	ck_assert_uint_eq(library_once_ops, 5);
#endif
	ck_assert_int_eq((mmio_write32)(none, 0, 1), MMIO_EINVAL);
	/* The region itself still works, inline. */
	ck_assert_int_eq(mmio_write32(r, 0, 0x5A5A5A5A), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 0, &v32), MMIO_OK);
	ck_assert_uint_eq(v32, 0x5A5A5A5A);
	mmio_close(r);
}
END_TEST

/*
 * One read and one write of each width at @off of @r, inline: @want_status
 * for both, and @want_calls calls of the library between them. An access
 * that passes leaves the value the library reads back.
 */
#define ONCE_CASE(bits, r, off, want_status, want_calls)                                           \
	do {                                                                                       \
		uint##bits##_t put = (uint##bits##_t)(0x8877665544332211ull + (off)), got = 0,     \
			       back = 0;                                                           \
		library_once_ops = 0;                                                              \
		ck_assert_int_eq(mmio_write##bits((r), (off), put), (want_status));                \
		ck_assert_int_eq(mmio_read##bits((r), (off), &got), (want_status));                \
		ck_assert_msg(library_once_ops == 2 * (want_calls),                                \
			      "read%d/write%d at %zu: %u library calls, expected %u", (bits),      \
			      (bits), (size_t)(off), library_once_ops, 2 * (want_calls));          \
		if ((want_status) == MMIO_OK) {                                                    \
			ck_assert_uint_eq(got, put);                                               \
			ck_assert_int_eq((mmio_read##bits)((r), (off), &back), MMIO_OK);           \
			ck_assert_uint_eq(back, put);                                              \
		}                                                                                  \
	} while (0)

#define ONCE_CASES(bits, r)                                                                        \
	do {                                                                                       \
		size_t w = (bits) / 8, size = mmio_size(r);                                        \
		ONCE_CASE(bits, r, 0, MMIO_OK, 0u);                                                \
		ONCE_CASE(bits, r, 8 * w, MMIO_OK, 0u);                                            \
		ONCE_CASE(bits, r, size - w, MMIO_OK, 0u);                                         \
		ONCE_CASE(bits, r, size, MMIO_EINVAL, 1u);                                         \
		ONCE_CASE(bits, r, SIZE_MAX - w + 1, MMIO_EINVAL, 1u);                             \
		if (w > 1) {                                                                       \
			ONCE_CASE(bits, r, size - w + 1, MMIO_EINVAL, 1u);                         \
			ONCE_CASE(bits, r, 1, MMIO_EINVAL, 1u);                                    \
		}                                                                                  \
	} while (0)

/*
 * The header reads and writes a view's bytes at MMIO__WINDOW_AT past its
 * handle, once-ops and copies, in both syntaxes, and reads them at each
 * access: played on a view laid out by hand, whose bytes change between
 * reads at one address with nothing between them the compiler cannot see.
 * The base field is left pointing nowhere: the header's code does not read
 * it (modules built before the fixed layout do, and the library keeps it
 * right for them). Nothing here may reach the library, which would find
 * no handle behind this view.
 */
static struct {
	_Alignas(4096) struct mmio_region_fast fast;
	unsigned char pad[MMIO__WINDOW_AT - sizeof(struct mmio_region_fast)];
	uint32_t bytes[32];
} laid_out;

START_TEST(inline_once_ops_read_the_view_at_each_access)
{
	mmio_region *r = (mmio_region *)(void *)&laid_out;
	uint32_t a = 0, b = 0, c = 0;

#ifndef MMIO_INLINE_ONCE
	ck_abort_msg("this compiler does not get the header's inline once-ops");
#endif
	ck_assert_ptr_eq((void *)laid_out.bytes, (unsigned char *)r + MMIO__WINDOW_AT);
	library_once_ops = 0;
	laid_out.fast.base = NULL;
	laid_out.fast.read_end[2] = sizeof(laid_out.bytes) - 3;
	laid_out.fast.write_end[2] = sizeof(laid_out.bytes) - 3;
	laid_out.bytes[1] = 0x11111111;
	ck_assert_int_eq(mmio_read32(r, 4, &a), MMIO_OK);
	laid_out.bytes[1] = 0x22222222;
	ck_assert_int_eq(mmio_read32(r, 4, &b), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 12, 0x33333333), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 12, &c), MMIO_OK);
	ck_assert_uint_eq(a, 0x11111111);
	ck_assert_uint_eq(b, 0x22222222);
	ck_assert_uint_eq(c, 0x33333333);
	ck_assert_uint_eq(laid_out.bytes[3], 0x33333333);
	ck_assert_int_eq(intel_write32(r, 8, 0x44444444), MMIO_OK);
	ck_assert_int_eq(intel_read32(r, 8, &a), MMIO_OK);
	ck_assert_uint_eq(laid_out.bytes[2], 0x44444444);
	ck_assert_uint_eq(a, 0x44444444);
	ck_assert_uint_eq(library_once_ops, 0);

	/* Copies: one step, and a pair and two groups (72 bytes). */
	uint8_t out[72], in[72];
	size_t done = 0;
	laid_out.fast.copy_read_end = sizeof(laid_out.bytes);
	laid_out.fast.copy_write_end = sizeof(laid_out.bytes);
	for (unsigned i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(0xA0 + i);
	ck_assert_int_eq(mmio_write(r, 8, out, 8, &done), MMIO_OK);
	ck_assert_uint_eq(done, 8);
	ck_assert_int_eq(memcmp((unsigned char *)laid_out.bytes + 8, out, 8), 0);
	ck_assert_int_eq(mmio_write(r, 16, out, sizeof(out), &done), MMIO_OK);
	ck_assert_int_eq(memcmp((unsigned char *)laid_out.bytes + 16, out, sizeof(out)), 0);
	ck_assert_int_eq(mmio_read(r, 16, in, sizeof(in), &done), MMIO_OK);
	ck_assert_uint_eq(done, sizeof(in));
	ck_assert_int_eq(memcmp(in, out, sizeof(in)), 0);
	memset(laid_out.bytes, 0, sizeof(laid_out.bytes));
	ck_assert_int_eq(intel_write_bytes(r, 24, out, sizeof(out), &done), MMIO_OK);
	ck_assert_int_eq(memcmp((unsigned char *)laid_out.bytes + 24, out, sizeof(out)), 0);
	memset(in, 0, sizeof(in));
	ck_assert_int_eq(intel_read_bytes(r, 24, in, sizeof(in), &done), MMIO_OK);
	ck_assert_int_eq(memcmp(in, out, sizeof(in)), 0);
}
END_TEST

/* How many mappings of memfd @name this process has. */
static unsigned mappings_of(const char *name)
{
	char line[512], want[96];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned n = 0;

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strlen(line) >= strlen(want) &&
		    strcmp(line + strlen(line) - strlen(want), want) == 0)
			n++;
	}
	fclose(f);
	return n;
}

/* Whether view @r is placed for the header: its bytes at MMIO__WINDOW_AT
 * past it, and an end for 4-byte reads. */
static bool placed(mmio_region *r)
{
	const struct mmio_region_fast *f = (const void *)r;

	return f->base == (unsigned char *)r + MMIO__WINDOW_AT && f->read_end[2] != 0;
}

/* Whether view @r has the ends of its second try, through its base. */
static bool inline_at_base(mmio_region *r)
{
	const struct mmio_region_fast *f = (const void *)r;

	return f->base != NULL && f->any_read_end[2] != 0 && f->any_write_end[2] != 0;
}

/*
 * Each direct view, region or slice, is mapped on its own with its handle
 * MMIO__WINDOW_AT before its bytes, wherever it starts in a page (on either
 * side of a page boundary, at its end); a slice whose base is not aligned
 * to 8 cannot be, and the header reaches it through its base instead, with
 * the same results. No read reaches the library. Closing a view takes its
 * mapping.
 */
START_TEST(direct_views_lie_at_a_fixed_distance_from_their_handles)
{
	static const struct {
		size_t off, len;
		bool placed;
	} views[] = {
		{ 0, 64, true },    { 8, 8, true },	    { 64, 4096, true },
		{ 4088, 16, true }, { 4096 + 16, 4, true }, { TWIN_SIZE - 8, 8, true },
		{ 4, 64, false },   { 4094, 2, false },
	};
	unsigned before = mappings_of("tw-d");
	mmio_region *r, *s[sizeof(views) / sizeof(views[0])];
	uint32_t v;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ck_assert(placed(r));
	/* The handle's own mapping (the library's calls) and the region's. */
	ck_assert_uint_eq(mappings_of("tw-d"), before + 2);
	for (uint32_t k = 0; k < TWIN_SIZE / 4; k++)
		ck_assert_int_eq(mmio_write32(r, k * 4, 0xA0000000 + k), MMIO_OK);
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		ck_assert_int_eq(mmio_slice(r, views[i].off, views[i].len, &s[i]), MMIO_OK);
		ck_assert_int_eq(mmio_is_direct(s[i]), 1);
		ck_assert_msg(placed(s[i]) == views[i].placed, "slice at %zu: placed %d",
			      views[i].off, placed(s[i]));
		ck_assert(views[i].len < 4 || inline_at_base(s[i]));
		for (size_t at = 0; at + 4 <= views[i].len; at += 4) {
			size_t dev = views[i].off + at;
			uint32_t want = 0xA0000000 + (uint32_t)(dev / 4);

			if (dev % 4)
				continue;
			library_once_ops = 0;
			ck_assert_int_eq(mmio_read32(s[i], at, &v), MMIO_OK);
			ck_assert_uint_eq(v, want);
			ck_assert_uint_eq(library_once_ops, 0);
		}
	}
	ck_assert_uint_eq(mappings_of("tw-d"), before + 2 + 6);
	/* Views smaller than a MAP_ALIGN boundary's span start at the pages
	 * past one in turn, their handles past the boundary's first two: no
	 * two views' first pages share a slot of a direct-mapped TLB of 512
	 * entries. (Handles may: one page apart, a handle's page is two or
	 * three before its view's.) */
	unsigned slot[2 * (sizeof(views) / sizeof(views[0]) + 1)], n = 0;
	for (size_t i = 0; i <= sizeof(views) / sizeof(views[0]); i++) {
		mmio_region *view = i < sizeof(views) / sizeof(views[0]) ? s[i] : r;
		uintptr_t pages[2] = { (uintptr_t)view / 4096,
				       ((uintptr_t)view + MMIO__WINDOW_AT) / 4096 };

		if (!placed(view))
			continue;
		for (unsigned k = 0; k < 2; k++) {
			unsigned page = (unsigned)(pages[k] % (MAP_ALIGN / 4096));

			ck_assert_uint_ge(page, 2);
			for (unsigned j = 1; k == 1 && j < n; j += 2)
				ck_assert_msg(slot[j] != page, "view %zu shares TLB slot %u", i,
					      page);
			slot[n++] = page;
		}
	}
	ck_assert_uint_eq(n, 2 * 7);
	/* Writes through a slice land where the region reads them. */
	ck_assert_int_eq(mmio_write32(s[3], 4, 0x5EED5EED), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 4092, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x5EED5EED);
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		mmio_close(s[i]);
	ck_assert_uint_eq(mappings_of("tw-d"), before + 2);
	mmio_close(r);
	ck_assert_uint_eq(mappings_of("tw-d"), before);
}
END_TEST

/*
 * Views whose handles would share an L1 cache set with 8 placed ones (all
 * views that start at one offset in a page) are malloc'd: they cost no
 * mapping, and the header reaches them through their base, inline all the
 * same, with the same results. Closing placed views makes room again. A
 * program with many slices keeps the kernel's mappings for its threads.
 */
START_TEST(views_past_eight_in_a_cache_set_are_inline_through_their_base)
{
	enum { VIEWS = 1100 };
	mmio_region *r, *s[VIEWS], *again;
	unsigned n_placed = 0, before = mappings_of("tw-d");
	uint32_t v;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 64, 0x600DF00D), MMIO_OK);
	for (int i = 0; i < VIEWS; i++) {
		ck_assert_int_eq(mmio_slice(r, 64, 8, &s[i]), MMIO_OK);
		n_placed += placed(s[i]);
		ck_assert(inline_at_base(s[i]));
	}
	/* The region is placed (in another set), and 8 of the slices. */
	ck_assert(placed(r));
	ck_assert_uint_eq(n_placed, 8);
	ck_assert_uint_eq(mappings_of("tw-d"), before + 2 + n_placed);
	ck_assert(!placed(s[VIEWS - 1]));
	library_once_ops = 0;
	ck_assert_int_eq(mmio_read32(s[VIEWS - 1], 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x600DF00D);
	ck_assert_int_eq(mmio_write32(s[VIEWS - 1], 4, 0x1234), MMIO_OK);
	ck_assert_int_eq(mmio_read32(s[0], 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x1234);
	ck_assert_uint_eq(library_once_ops, 0);
	for (int i = 0; i < VIEWS; i++)
		mmio_close(s[i]);
	ck_assert_int_eq(mmio_slice(r, 64, 8, &again), MMIO_OK);
	ck_assert(placed(again));
	mmio_close(again);
	mmio_close(r);
	ck_assert_uint_eq(mappings_of("tw-d"), before);
}
END_TEST

/* The descriptors of memfd @name open in this process, as a bit set of
 * their numbers below 1024. */
static void fds_of(const char *name, uint64_t set[16])
{
	char want[96], link[128], path[300];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	memset(set, 0, 16 * sizeof(set[0]));
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0 || fd >= 1024)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			set[fd / 64] |= 1ull << (fd % 64);
	}
	closedir(d);
}

/*
 * The library keeps a direct handle's descriptor to map its views. A
 * program that closes descriptors it does not own, and gets the number
 * back for another file, has that file neither mapped as the device nor
 * closed by the library: new views are served through the handle's own
 * mapping, with the device's bytes, and the file stays open.
 */
START_TEST(a_descriptor_taken_from_the_library_is_left_alone)
{
	uint64_t before[16], after[16];
	mmio_region *r, *s;
	int fd = -1, decoy;
	uint32_t v;

	fds_of("tw-d", before);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	fds_of("tw-d", after);
	for (int i = 0; i < 1024 && fd < 0; i++)
		if ((after[i / 64] & ~before[i / 64]) & (1ull << (i % 64)))
			fd = i;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mmio_write32(r, 64, 0xD15C0DE5), MMIO_OK);

	/* The program's mistake: the number now names another file. */
	decoy = memfd_create("decoy", MFD_CLOEXEC);
	ck_assert_int_ge(decoy, 0);
	ck_assert_int_eq(ftruncate(decoy, TWIN_SIZE), 0);
	ck_assert_int_eq(dup2(decoy, fd), fd);
	close(decoy);

	ck_assert_int_eq(mmio_slice(r, 64, 64, &s), MMIO_OK);
	ck_assert(!placed(s));
	ck_assert_uint_eq(mappings_of("decoy"), 0);
	library_once_ops = 0;
	ck_assert_int_eq(mmio_read32(s, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xD15C0DE5);
	ck_assert_uint_eq(library_once_ops, 0);
	mmio_close(s);
	mmio_close(r);
	/* Still open: the library did not close the program's file. */
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	close(fd);
}
END_TEST

/* Inline reads that alternate between a region and slices of it, made and
 * freed in turn, each read at its own view's base, and none reaches the
 * library. */
START_TEST(inline_once_ops_on_slices_read_at_their_base)
{
	mmio_region *r, *s;
	uint32_t a, b;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	for (uint32_t k = 0; k < 64; k++)
		ck_assert_int_eq(mmio_write32(r, k * 4, 0x1000 + k), MMIO_OK);
	for (uint32_t at = 2; at <= 8; at += 2) {
		ck_assert_int_eq(mmio_slice(r, at * 4, 64, &s), MMIO_OK);
		ck_assert_int_eq(mmio_is_direct(s), 1);
		library_once_ops = 0;
		for (uint32_t k = 0; k < 16; k++) {
			ck_assert_int_eq(mmio_read32(r, k * 4, &a), MMIO_OK);
			ck_assert_int_eq(mmio_read32(s, k * 4, &b), MMIO_OK);
			ck_assert_uint_eq(a, 0x1000 + k);
			ck_assert_uint_eq(b, 0x1000 + k + at);
		}
		ck_assert_uint_eq(library_once_ops, 0);
		mmio_close(s);
	}
	mmio_close(r);
}
END_TEST

/* On a direct region the once-ops are the header's up to the region's last
 * byte, and reach the library only for what its checks refuse: past the
 * end, wrapping, misaligned, or a region that is not direct; the same in
 * the Intel-syntax templates. */
START_TEST(once_ops_inline_reach_the_library_only_when_refused)
{
	mmio_region *r, *p;
	uint32_t v;

#ifndef MMIO_INLINE_ONCE
	ck_abort_msg("this compiler does not get the header's inline once-ops");
#endif
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ONCE_CASES(8, r);
	ONCE_CASES(16, r);
	ONCE_CASES(32, r);
	ONCE_CASES(64, r);
	library_once_ops = 0;
	ck_assert_int_eq(intel_write32(r, TWIN_SIZE - 4, 0x0BADCAFE), MMIO_OK);
	ck_assert_int_eq(intel_read32(r, TWIN_SIZE - 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x0BADCAFE);
	ck_assert_uint_eq(library_once_ops, 0);
	ck_assert_int_eq(intel_write32(r, TWIN_SIZE, 1), MMIO_EINVAL);
	ck_assert_int_eq(intel_read32(r, TWIN_SIZE, &v), MMIO_EINVAL);
	ck_assert_uint_eq(library_once_ops, 2);
	mmio_close(r);
	/* Proxied: every access is the library's. */
	ck_assert_int_eq(mmio_open(client, "tw-p", MMIO_OPEN_PROXIED, &p), MMIO_OK);
	ONCE_CASE(32, p, 0, MMIO_OK, 1u);
	mmio_close(p);
}
END_TEST

/* ---- copies inline ---- */

/* Calls of the library's mmio_read()/mmio_write() from this file (the link
 * wraps them, tests/CMakeLists.txt): the header's inline copies make none. */
static _Thread_local unsigned library_copies;

int __real_mmio_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done);
int __real_mmio_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done);
int __wrap_mmio_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done);
int __wrap_mmio_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done);

int __wrap_mmio_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done)
{
	library_copies++;
	return __real_mmio_read(r, off, buf, len, done);
}

int __wrap_mmio_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	library_copies++;
	return __real_mmio_write(r, off, buf, len, done);
}

#ifndef MMIO_INLINE_COPY_MAX
#define MMIO_INLINE_COPY_MAX 0 /* no inline copies: the test says so */
#endif
/* Room for the longest inline copy and one step more. */
#define COPY_ROOM (MMIO_INLINE_COPY_MAX + 8)

/* What an inline copy did, against what the library does in its place. */
struct copy_outcome {
	int status;
	size_t done;
	unsigned calls; /* library calls it made */
	uint8_t bytes[COPY_ROOM];
};

static void copy_expect_same(const char *what, size_t len, size_t off,
			     const struct copy_outcome *in, const struct copy_outcome *lib,
			     bool inline_expected)
{
	ck_assert_msg(in->status == lib->status && in->done == lib->done,
		      "%s of %zu at %zu: inline %s, done %zu; library %s, done %zu", what, len, off,
		      mmio_status_name(in->status), in->done, mmio_status_name(lib->status),
		      lib->done);
	ck_assert_msg(memcmp(in->bytes, lib->bytes, sizeof(in->bytes)) == 0,
		      "%s of %zu at %zu: the bytes differ from the library's", what, len, off);
	ck_assert_msg(in->calls == (inline_expected ? 0u : 1u),
		      "%s of %zu at %zu: %u library calls, expected %u", what, len, off, in->calls,
		      inline_expected ? 0u : 1u);
}

/*
 * After an inline write of @len bytes of @src at @off (its outcome in @in),
 * which should have left @src as @want: what the device holds, then the
 * library's write of other bytes in its place, with the same status and
 * count.
 */
static void check_write(mmio_region *r, size_t off, size_t len, const uint8_t *src,
			const uint8_t *want, const struct copy_outcome *in, bool inline_expected)
{
	uint8_t back[COPY_ROOM], other[COPY_ROOM];
	int status;
	size_t done, d2;

	ck_assert_uint_le(len, sizeof(back));
	ck_assert_msg(memcmp(src, want, len) == 0, "write of %zu at %zu changed its source", len,
		      off);
	ck_assert_msg(in->calls == (inline_expected ? 0u : 1u),
		      "write of %zu at %zu: %u library calls, expected %u", len, off, in->calls,
		      inline_expected ? 0u : 1u);
	if (in->status == MMIO_OK) {
		ck_assert_int_eq((mmio_read)(r, off, back, len, &d2), MMIO_OK);
		ck_assert_msg(memcmp(back, want, len) == 0,
			      "write of %zu at %zu: the device does not hold what was written", len,
			      off);
	}
	for (size_t b = 0; b < len; b++)
		other[b] = (uint8_t)~want[b];
	status = (mmio_write)(r, off, other, len, &done);
	ck_assert_msg(in->status == status && in->done == done,
		      "write of %zu at %zu: inline %s, done %zu; library %s, done %zu", len, off,
		      mmio_status_name(in->status), in->done, mmio_status_name(status), done);
	if (status == MMIO_OK) {
		ck_assert_int_eq((mmio_read)(r, off, back, len, &d2), MMIO_OK);
		ck_assert_msg(memcmp(back, other, len) == 0,
			      "write of %zu at %zu: the library's bytes did not land", len, off);
	}
}

/* The buffers of COPY_CASE and FAULT_COPY: one set, not one per expansion
 * (Clang with ASan gave each its own stack slots: a 1.7 MB frame). */
static struct {
	struct copy_outcome in, lib;
	uint8_t src[COPY_ROOM], want[COPY_ROOM];
} scratch;

/*
 * A read and a write of @len bytes at @off: inline (mmio_read) and through
 * the library ((mmio_read)), on region @r, each write followed by a library
 * read of what it left. @inline_expected: the header should make the copy
 * itself. Always inline, so that a constant @len reaches the header's code
 * as a constant (the compiler may unroll it); runtime_copy_case() is the
 * same with a length known only at run time.
 */
__attribute__((always_inline)) static inline void copy_case(mmio_region *r, size_t off, size_t len,
							    bool inline_expected, bool writable)
{
	struct copy_outcome *in = &scratch.in, *lib = &scratch.lib;

	ck_assert_uint_le(len, COPY_ROOM);
	for (size_t b = 0; b < COPY_ROOM; b++)
		scratch.src[b] = scratch.want[b] = (uint8_t)(0x40 + 3 * b + len);
	memset(in, 0, sizeof(*in));
	memset(lib, 0, sizeof(*lib));
	memset(in->bytes, 0x5E, sizeof(in->bytes));
	memset(lib->bytes, 0x5E, sizeof(lib->bytes));
	library_copies = 0;
	in->status = mmio_read(r, off, in->bytes, len, &in->done);
	in->calls = library_copies;
	lib->status = (mmio_read)(r, off, lib->bytes, len, &lib->done);
	copy_expect_same("read", len, off, in, lib, inline_expected);
	library_copies = 0;
	in->status = mmio_write(r, off, scratch.src, len, &in->done);
	in->calls = library_copies;
	check_write(r, off, len, scratch.src, scratch.want, in, inline_expected && writable);
}

#define COPY_CASE(L, r, off, inline_expected) copy_case(r, off, L, inline_expected, writable)

#define COPY_CASES_AT(r, off, inline_expected)                                                     \
	do {                                                                                       \
		COPY_CASE(8, r, off, inline_expected);                                             \
		COPY_CASE(16, r, off, inline_expected);                                            \
		COPY_CASE(24, r, off, inline_expected);                                            \
		COPY_CASE(32, r, off, inline_expected);                                            \
		COPY_CASE(40, r, off, inline_expected);                                            \
		COPY_CASE(56, r, off, inline_expected);                                            \
		COPY_CASE(64, r, off, inline_expected);                                            \
		COPY_CASE(136, r, off, inline_expected);                                           \
		COPY_CASE(512, r, off, inline_expected);                                           \
		COPY_CASE(4096, r, off, inline_expected);                                          \
	} while (0)

static void reload(enum policy_variant variant);

__attribute__((noinline)) static void runtime_copy_case(mmio_region *r, size_t off, size_t len,
							bool inline_expected, bool writable)
{
	copy_case(r, off, len, inline_expected, writable);
}

/* COPY_CASES_AT at the offsets that matter, on region @name, or on its
 * slice from @slice_at (8192 bytes: its own bounds and base) if that is not
 * 0. */
static void copy_cases(const char *name, bool direct, bool copy_inline, bool writable,
		       size_t slice_at)
{
	mmio_region *r, *whole = NULL;
	size_t size;

	ck_assert_int_eq(
		mmio_open(client, name, direct ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED, &r),
		MMIO_OK);
	if (slice_at) {
		whole = r;
		ck_assert_int_eq(mmio_slice(whole, slice_at, 8192, &r), MMIO_OK);
	}
	size = mmio_size(r);
	/* Aligned offsets, the last MMIO_INLINE_COPY_MAX bytes included. */
	COPY_CASES_AT(r, 0, copy_inline);
	COPY_CASES_AT(r, 4096 - 8, copy_inline);
	COPY_CASES_AT(r, size - MMIO_INLINE_COPY_MAX, copy_inline);
	/* Misaligned, past the end, wrapping: the library decides. */
	COPY_CASES_AT(r, 4, false);
	COPY_CASES_AT(r, size, false);
	COPY_CASES_AT(r, SIZE_MAX - 7, false);
	/* Lengths known only at run time follow the same rule: 8 to the most
	 * by 8, nothing else. */
	for (size_t len = 0; len <= COPY_ROOM; len += 4)
		runtime_copy_case(r, 8, len,
				  copy_inline && len != 0 && len <= MMIO_INLINE_COPY_MAX &&
					  len % 8 == 0,
				  writable);
	/* Just past the end, by one step. */
	for (size_t len = 8; len <= MMIO_INLINE_COPY_MAX; len += 8)
		runtime_copy_case(r, size - len + 8, len, false, writable);
	mmio_close(r);
	if (whole)
		mmio_close(whole);
}

/* The same inline accesses assembled from the Intel-syntax templates: the
 * same values, each way round, and no library call. */
static void intel_syntax_cases(void)
{
	uint8_t src[72], want[72], got[72];
	mmio_region *r;
	uint32_t v;
	size_t done;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	for (size_t b = 0; b < sizeof(src); b++)
		src[b] = want[b] = (uint8_t)(0x31 * b + 7);
	memset(got, 0, sizeof(got));
	library_copies = 0;
	/* 72 bytes: one step, then two groups of four. */
	ck_assert_int_eq(intel_write_bytes(r, 128, src, sizeof(src), &done), MMIO_OK);
	ck_assert_uint_eq(done, sizeof(src));
	ck_assert_mem_eq(src, want, sizeof(src)); /* written from, not into */
	ck_assert_int_eq((mmio_read)(r, 128, got, sizeof(got), &done), MMIO_OK);
	ck_assert_mem_eq(got, want, sizeof(want));
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(intel_read_bytes(r, 128, got, sizeof(got), &done), MMIO_OK);
	ck_assert_uint_eq(done, sizeof(got));
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_uint_eq(library_copies, 1); /* only the check's own read */
	ck_assert_int_eq(intel_write32(r, 256, 0xC0DE1234), MMIO_OK);
	ck_assert_int_eq((mmio_read32)(r, 256, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xC0DE1234);
	ck_assert_int_eq((mmio_write32)(r, 260, 0x600DF00D), MMIO_OK);
	ck_assert_int_eq(intel_read32(r, 260, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x600DF00D);
	mmio_close(r);
}

/* Copies are the header's on a direct region where the grant, the
 * length, the range and the alignment allow, the library's otherwise, with
 * the same statuses, counts and bytes either way. */
START_TEST(inline_copies_equal_library_copies)
{
	mmio_region *whole, *s;
	uint8_t buf[64] = { 0 };
	size_t done = 1;

#ifndef MMIO_INLINE_ONCE
	ck_abort_msg("this compiler does not get the header's inline copies");
#endif
	copy_cases("tw-d", true, true, true, 0);
	copy_cases("tw-d", true, true, true, 4104);
	/* A slice whose base is not aligned to 8: every copy is the library's
	 * (at offset 4 its accesses would be aligned, but the header does not
	 * look at the base). */
	copy_cases("tw-d", true, false, true, 4100);
	intel_syntax_cases();
	copy_cases("tw-p", false, false, true, 0);
	copy_cases("ro-d", true, false, false, 0); /* no `bulk`: MMIO_EACCES */
	copy_cases("pin-d", true, false, true, 0); /* widths [4]: 4-byte accesses */
	copy_cases("p8-d", true, true, true, 0);   /* widths [8]: the inline ones */
	/* A slice no longer than a copy: a copy of all of it is inline, one
	 * step more is the library's. */
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &whole), MMIO_OK);
	ck_assert_int_eq(mmio_slice(whole, 64, 64, &s), MMIO_OK);
	copy_case(s, 0, 64, true, true);
	copy_case(s, 8, 56, true, true);
	copy_case(s, 8, 64, false, true);
	mmio_close(s);
	mmio_close(whole);
	/* A NULL region: the load of its end faults, and the library refuses
	 * it, as it does in the Intel-syntax template. */
	library_copies = 0;
	ck_assert_int_eq(mmio_read(nowhere, 0, buf, 8, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	done = 1;
	ck_assert_int_eq(mmio_write(nowhere, 64, buf, 64, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(intel_read_bytes(nowhere, 0, buf, 16, &done), MMIO_EINVAL);
	ck_assert_int_eq(intel_write_bytes(nowhere, 0, buf, 16, &done), MMIO_EINVAL);
	ck_assert_uint_eq(library_copies, 4);
	/* Read-only with `bulk`: reads inline, writes refused by the library. */
	reload(POLICY_TWD_READ);
	copy_cases("tw-d", true, true, false, 0);
}
END_TEST

/* A module table with no entries, for registrations that are refused. */
static const char refused_table[8] __attribute__((aligned(4)));

/* Run @fn in a child whose standard error goes into @msg (@cap bytes with
 * its NUL, read to the end); the child exits with what @fn returns. The
 * child's wait status. */
static int in_child(int (*fn)(void), char *msg, size_t cap)
{
	size_t got = 0;
	int fds[2], wstatus;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		_exit(fn());
	}
	close(fds[1]);
	while ((n = read(fds[0], msg + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	msg[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
	return wstatus;
}

/* @reg, called in a child, ends it with SIGABRT and a message on standard
 * error that says @why. */
static void registration_aborts(int (*reg)(void), const char *why)
{
	char msg[512];
	int wstatus = in_child(reg, msg, sizeof(msg));

	ck_assert_msg(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGABRT,
		      "the registration did not stop the program (status 0x%x)", wstatus);
	ck_assert_msg(strstr(msg, why), "the message does not say \"%s\": %s", why, msg);
}

static int register_larger_layout(void)
{
	return mmio_inline_register(refused_table, refused_table,
				    sizeof(struct mmio_region_fast) + 8, MMIO__WINDOW_AT);
}

static int register_window_elsewhere(void)
{
	return mmio_inline_register(refused_table, refused_table, sizeof(struct mmio_region_fast),
				    MMIO__WINDOW_AT + 4096);
}

/* A module built with a header whose inline view of a region is larger than
 * this library's is stopped at its registration, with a message that says
 * why; the header's own size registers. */
START_TEST(inline_layout_larger_than_the_library_s_is_refused)
{
	ck_assert_int_eq(mmio_inline_register(refused_table, refused_table,
					      sizeof(struct mmio_region_fast), MMIO__WINDOW_AT),
			 MMIO_OK);
	mmio_inline_unregister(refused_table);
	registration_aborts(register_larger_layout, "newer <mmio/client.h>");
}
END_TEST

/* A module whose header places views elsewhere is refused the same way:
 * its inline code would read and write where the library maps nothing. */
START_TEST(inline_window_elsewhere_is_refused)
{
	ck_assert_int_eq(mmio_inline_register(refused_table, refused_table,
					      sizeof(struct mmio_region_fast), MMIO__WINDOW_AT),
			 MMIO_OK);
	mmio_inline_unregister(refused_table);
	char why[64];
	snprintf(why, sizeof(why), "%d bytes past their handle", MMIO__WINDOW_AT + 4096);
	registration_aborts(register_window_elsewhere, why);
}
END_TEST

/* The most modules whose inline accesses the fault handler keeps, as
 * <mmio/client_inline.h> and libmmio(3) document it. */
#define INLINE_MODULES_MAX 128

/* Registers the empty table @t with this header's layout. */
static int register_table(const uint32_t *t)
{
	return mmio_inline_register(t, t, sizeof(struct mmio_region_fast), MMIO__WINDOW_AT);
}

/* Registers one module past the limit, and that one twice: how many were
 * refused. */
static int register_past_the_limit(void)
{
	static const uint32_t tables[INLINE_MODULES_MAX + 1][2];
	int refused = 0;

	for (size_t i = 0; i <= INLINE_MODULES_MAX; i++)
		refused += register_table(tables[i]) == MMIO_ENOMEM;
	/* Said once per module, not at every attempt. */
	register_table(tables[INLINE_MODULES_MAX]);
	return refused;
}

/* A module past that is told so on standard error, once, with what it
 * costs: its faults, a NULL region's among them, end the process. (In a
 * child: the tables stay registered there.) */
START_TEST(inline_table_past_the_limit_is_reported)
{
	char msg[1024];
	int wstatus = in_child(register_past_the_limit, msg, sizeof(msg)), said = 0;

	ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) > 0,
		      "no registration was refused (status 0x%x)", wstatus);
	ck_assert_msg(strstr(msg, "128 modules use inline once-ops already") &&
			      strstr(msg, "a NULL region's") && strstr(msg, "end the process"),
		      "message: %s", msg);
	for (const char *p = msg; (p = strstr(p, "libmmio:")) != NULL; p++)
		said++;
	ck_assert_int_eq(said, WEXITSTATUS(wstatus)); /* one line per refused module */
}
END_TEST

/* ---- the differential run ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

enum op_kind { OP_READ_ONCE, OP_WRITE_ONCE, OP_READ, OP_WRITE, OP_FILL, OP_POLL, OP_BATCH };

struct op {
	enum op_kind kind;
	unsigned view; /* 0: the whole region, 1 and 2: slices */
	size_t off, len;
	unsigned width;
	bool call; /* once-ops: the library's function, not the header's inline one */
	uint64_t value, mask, want;
	uint32_t timeout_us;
	uint8_t byte;
	unsigned nbatch;
	struct batch_item {
		int kind; /* 0 read, 1 write, 2 poll */
		unsigned view;
		size_t off;
		unsigned width;
		uint64_t value, want;
		uint32_t timeout_us;
	} batch[6];
};

struct result {
	int status;
	uint64_t value;
	size_t done;
	int add[6];
	size_t failed;
	uint64_t values[6];
};

static unsigned pick_width(void)
{
	static const unsigned widths[] = { 1, 2, 4, 8, 1, 2, 4, 8, 3, 0, 16 };

	return widths[below(sizeof(widths) / sizeof(widths[0]))];
}

/* Offsets that hit the interesting places: anywhere, the end, odd, huge. */
static size_t pick_off(size_t size)
{
	switch (below(10)) {
	case 0:
		return size - below(16);
	case 1:
		return SIZE_MAX - below(16);
	case 2:
		return size + below(64);
	case 3:
		return below(64);
	default:
		return below(size);
	}
}

static size_t pick_len(void)
{
	switch (below(12)) {
	case 0:
		return 0;
	case 1:
		return SIZE_MAX - below(8);
	case 2:
		return 60000 + below(BUF_SIZE - 60000); /* split into messages */
	case 3:
		return below(8192);
	default:
		return below(80);
	}
}

static uint64_t pick_value(unsigned width)
{
	uint64_t v = rnd();

	/* Now and then a value too wide for its width. */
	if (width < 8 && width > 0 && below(16) != 0)
		v &= (1ull << (8 * width)) - 1;
	return v;
}

static void gen_op(struct op *op, size_t size)
{
	memset(op, 0, sizeof(*op));
	op->kind = (enum op_kind)below(7);
	op->view = (unsigned)below(3);
	op->off = pick_off(size);
	op->width = pick_width();
	op->call = below(2);
	op->value = pick_value(op->width);
	op->len = pick_len();
	op->byte = (uint8_t)rnd();
	switch (below(3)) {
	case 0:
		op->mask = 0; /* matches at once */
		op->want = 0;
		break;
	case 1:
		op->mask = 0xFFFFFFFFu; /* matches only what is there */
		op->want = rnd() & 0xFF;
		break;
	default:
		op->mask = 0x0F; /* never: want has bits outside mask */
		op->want = 0x1F0;
		break;
	}
	op->timeout_us = (uint32_t)(below(2) ? 0 : below(300));
	op->nbatch = 1 + (unsigned)below(6);
	for (unsigned i = 0; i < op->nbatch; i++) {
		op->batch[i].kind = (int)below(3);
		op->batch[i].view = (unsigned)below(3);
		op->batch[i].off = below(8) == 0 ? pick_off(size) : below(64) & ~(size_t)3;
		op->batch[i].width = pick_width();
		op->batch[i].value = below(2) ? 0 : pick_value(op->batch[i].width);
		op->batch[i].want = op->batch[i].kind == 2 ? op->batch[i].value : 0;
		op->batch[i].timeout_us = (uint32_t)below(100);
	}
}

/* Run @op on the views @v of one twin, recording everything it returns. */
static void run_op(mmio_client *c, mmio_region *const v[3], const struct op *op, struct result *res,
		   uint8_t *buf)
{
	mmio_region *r = v[op->view];
	mmio_batch *b;

	memset(res, 0, sizeof(*res));
	/* The buffer starts the same for both twins: bytes past `done` must
	 * stay untouched in both. */
	for (size_t i = 0; i < BUF_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + op->byte);
	switch (op->kind) {
	case OP_READ_ONCE:
		switch (op->width) {
		case 1: {
			uint8_t x = 0xA5;
			res->status = op->call ? (mmio_read8)(r, op->off, &x)
					       : mmio_read8(r, op->off, &x);
			res->value = x;
			break;
		}
		case 2: {
			uint16_t x = 0xA5A5;
			res->status = op->call ? (mmio_read16)(r, op->off, &x)
					       : mmio_read16(r, op->off, &x);
			res->value = x;
			break;
		}
		case 8: {
			uint64_t x = 0xA5A5A5A5A5A5A5A5ull;
			res->status = op->call ? (mmio_read64)(r, op->off, &x)
					       : mmio_read64(r, op->off, &x);
			res->value = x;
			break;
		}
		default: {
			uint32_t x = 0xA5A5A5A5u;
			res->status = op->call ? (mmio_read32)(r, op->off, &x)
					       : mmio_read32(r, op->off, &x);
			res->value = x;
			break;
		}
		}
		break;
	case OP_WRITE_ONCE:
		switch (op->width) {
		case 1:
			res->status = op->call ? (mmio_write8)(r, op->off, (uint8_t)op->value)
					       : mmio_write8(r, op->off, (uint8_t)op->value);
			break;
		case 2:
			res->status = op->call ? (mmio_write16)(r, op->off, (uint16_t)op->value)
					       : mmio_write16(r, op->off, (uint16_t)op->value);
			break;
		case 8:
			res->status = op->call ? (mmio_write64)(r, op->off, op->value)
					       : mmio_write64(r, op->off, op->value);
			break;
		default:
			res->status = op->call ? (mmio_write32)(r, op->off, (uint32_t)op->value)
					       : mmio_write32(r, op->off, (uint32_t)op->value);
			break;
		}
		break;
	case OP_READ:
		/* A length past BUF_SIZE is always past the region: refused unread. */
		res->status = mmio_read(r, op->off, buf, op->len, &res->done);
		break;
	case OP_WRITE:
		res->status = mmio_write(r, op->off, buf, op->len, &res->done);
		break;
	case OP_FILL:
		res->status = mmio_fill(r, op->off, op->len, op->byte, &res->done);
		break;
	case OP_POLL: {
		uint32_t last = 0x5A5A5A5Au;
		res->status = mmio_poll32(r, op->off, (uint32_t)op->mask, (uint32_t)op->want,
					  op->timeout_us, &last);
		res->value = last;
		break;
	}
	case OP_BATCH:
		ck_assert_int_eq(mmio_batch_new(c, &b), MMIO_OK);
		for (unsigned i = 0; i < op->nbatch; i++) {
			const struct batch_item *o = &op->batch[i];
			mmio_region *br = v[o->view];

			if (o->kind == 0)
				res->add[i] = mmio_batch_read(b, br, o->off, o->width);
			else if (o->kind == 1)
				res->add[i] = mmio_batch_write(b, br, o->off, o->width, o->value);
			else
				res->add[i] = mmio_batch_poll(b, br, o->off, o->width, o->value,
							      o->want, o->timeout_us);
		}
		res->status = mmio_batch_run(b, &res->failed);
		for (unsigned i = 0; i < op->nbatch; i++) {
			if (mmio_batch_value(b, i, &res->values[i]) != MMIO_OK)
				res->values[i] = 0xDEAD;
		}
		mmio_batch_free(b);
		break;
	}
}

/* All of @r into @buf: a bulk read, or once-ops where the grant has no bulk. */
static void region_bytes(mmio_region *r, uint8_t *buf, size_t size)
{
	size_t done = 0;
	int status = mmio_read(r, 0, buf, size, &done);

	if (status == MMIO_EACCES) {
		for (done = 0; done < size; done += 4)
			ck_assert_int_eq(mmio_read32(r, done, (uint32_t *)(void *)(buf + done)),
					 MMIO_OK);
	} else {
		ck_assert_int_eq(status, MMIO_OK);
	}
	ck_assert_uint_eq(done, size);
}

static const char *const kind_names[] = { "read_once", "write_once", "read", "write",
					  "fill",      "poll",	     "batch" };

/* One twin: a sequence of @n random ops on @pname proxied and @dname direct. */
/* Open @name on @c (@flags) and the two slices every path uses. */
static void views_open(mmio_client *c, const char *name, unsigned flags, mmio_region *v[3],
		       size_t s1_off, size_t s1_len, size_t s2_off, size_t s2_len)
{
	ck_assert_int_eq(mmio_open(c, name, flags, &v[0]), MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(v[0]), flags == MMIO_OPEN_REQUIRE_DIRECT);
	ck_assert_int_eq(mmio_slice(v[0], s1_off, s1_len, &v[1]), MMIO_OK);
	ck_assert_int_eq(mmio_slice(v[0], s2_off, s2_len, &v[2]), MMIO_OK);
}

static void views_close(mmio_region *v[3])
{
	for (int j = 2; j >= 0; j--)
		mmio_close(v[j]);
}

/*
 * One twin set: a sequence of @n random ops on @pname proxied through
 * messages, on @sname (if not NULL) proxied through shared memory (every
 * other op from a buffer of mmio_buffer_alloc(), the rest staged), and on
 * @dname direct. Every result must be the same on every path.
 */
static void differential(const char *pname, const char *sname, const char *dname, size_t size,
			 size_t slice_align, int n)
{
	mmio_region *pv[3], *sv[3], *dv[3];
	uint8_t *pbuf = malloc(BUF_SIZE), *dbuf = malloc(BUF_SIZE), *sbuf = malloc(BUF_SIZE);
	void *zbuf = NULL;
	size_t s1_off = 4 * slice_align + slice_align, s1_len = size / 4;
	size_t s2_off = size - 24 * slice_align, s2_len = 24 * slice_align;
	unsigned counts[7][2] = { { 0 } }; /* per kind: ops run, ops that succeeded */

	ck_assert_ptr_nonnull(pbuf);
	ck_assert_ptr_nonnull(dbuf);
	ck_assert_ptr_nonnull(sbuf);
	views_open(inline_client, pname, MMIO_OPEN_PROXIED, pv, s1_off, s1_len, s2_off, s2_len);
	views_open(client, dname, MMIO_OPEN_REQUIRE_DIRECT, dv, s1_off, s1_len, s2_off, s2_len);
	if (sname) {
		views_open(shared_client, sname, MMIO_OPEN_PROXIED, sv, s1_off, s1_len, s2_off,
			   s2_len);
		ck_assert_int_eq(mmio_buffer_alloc(shared_client, BUF_SIZE, &zbuf), MMIO_OK);
	}

	for (int i = 0; i < n; i++) {
		struct op op;
		struct result pr, dr, sr;
		uint8_t *sb = i % 2 ? sbuf : zbuf;

		gen_op(&op, size);
		if (op.view != 0)
			op.off = pick_off(op.view == 1 ? s1_len : s2_len);
		run_op(inline_client, pv, &op, &pr, pbuf);
		run_op(client, dv, &op, &dr, dbuf);
		ck_assert_msg(memcmp(&pr, &dr, sizeof(pr)) == 0 &&
				      memcmp(pbuf, dbuf, BUF_SIZE) == 0,
			      "%s/%s op %d (%s%s view %u off %zu len %zu width %u): proxied status "
			      "%d value 0x%" PRIx64 " done %zu failed %zu, direct status %d "
			      "value 0x%" PRIx64 " done %zu failed %zu, buffers %s",
			      pname, dname, i, kind_names[op.kind], op.call ? " (called)" : "",
			      op.view, op.off, op.len, op.width, pr.status, pr.value, pr.done,
			      pr.failed, dr.status, dr.value, dr.done, dr.failed,
			      memcmp(pbuf, dbuf, BUF_SIZE) == 0 ? "equal" : "differ");
		if (sname) {
			run_op(shared_client, sv, &op, &sr, sb);
			ck_assert_msg(
				memcmp(&pr, &sr, sizeof(pr)) == 0 &&
					memcmp(pbuf, sb, BUF_SIZE) == 0,
				"%s/%s op %d (%s view %u off %zu len %zu, %s buffer): messages "
				"status %d done %zu, shared memory status %d done %zu, buffers %s",
				pname, sname, i, kind_names[op.kind], op.view, op.off, op.len,
				i % 2 ? "staged" : "zero-copy", pr.status, pr.done, sr.status,
				sr.done, memcmp(pbuf, sb, BUF_SIZE) == 0 ? "equal" : "differ");
		}
		counts[op.kind][0]++;
		counts[op.kind][1] += pr.status == MMIO_OK;
	}
	/* The same bytes ended up in every twin. */
	uint8_t *pall = malloc(size), *dall = malloc(size);
	region_bytes(pv[0], pall, size);
	region_bytes(dv[0], dall, size);
	ck_assert(memcmp(pall, dall, size) == 0);
	if (sname) {
		region_bytes(sv[0], dall, size);
		ck_assert(memcmp(pall, dall, size) == 0);
	}
	/* The run did work of every kind, not only refusals. */
	for (int k = 0; k < 7; k++) {
		ck_assert_msg(counts[k][0] > 0, "%s: no %s ran", pname, kind_names[k]);
		if (strncmp(pname, "ro", 2) != 0 || k == OP_READ_ONCE || k == OP_POLL)
			ck_assert_msg(counts[k][1] > 0, "%s: no %s succeeded", pname,
				      kind_names[k]);
	}
	views_close(pv);
	views_close(dv);
	if (sname) {
		views_close(sv);
		mmio_buffer_free(shared_client, zbuf);
	}
	free(pall);
	free(dall);
	free(pbuf);
	free(dbuf);
	free(sbuf);
}

static uint64_t seed_get(void)
{
	const char *env = getenv("MMIO_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;

	if (seed == 0)
		seed = 1;
	fprintf(stderr,
		"check_direct: differential seed 0x%" PRIx64 " (set MMIO_TEST_SEED to repeat)\n",
		seed);
	return seed;
}

START_TEST(differential_proxied_equals_direct)
{
	rng_state = seed_get();
	differential("tw-p", "tw-s", "tw-d", TWIN_SIZE, 8, DIFF_OPS);
}
END_TEST

START_TEST(differential_pinned_width)
{
	rng_state = seed_get() ^ 0x9E3779B97F4A7C15ull;
	differential("pin-p", "pin-s", "pin-d", PINNED_SIZE, 4, DIFF_OPS / 2);
}
END_TEST

START_TEST(differential_read_only)
{
	rng_state = seed_get() ^ 0xC2B2AE3D27D4EB4Full;
	differential("ro-p", NULL, "ro-d", RO_SIZE, 8, DIFF_OPS / 4);
}
END_TEST

/* ---- polls wait for a value that comes later ---- */

struct later_write {
	mmio_region *r;
	unsigned delay_ms;
	uint32_t value;
	int status; /* of the write, checked by the test's thread */
};

static void *write_later(void *arg)
{
	struct later_write *w = arg;

	usleep(w->delay_ms * 1000u);
	w->status = mmio_write32(w->r, 0x40, w->value);
	return NULL;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

START_TEST(direct_poll_waits_and_times_out_like_proxied)
{
	mmio_region *d, *p;
	struct later_write w;
	pthread_t t;
	uint32_t last = 0;
	uint64_t start, took;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_PROXIED, &p), MMIO_OK);
	/* Another thread writes, proxied, 30 ms from now: spin, then sleep. */
	for (unsigned delay = 0; delay <= 30; delay += 30) {
		w = (struct later_write){ p, delay, 0x80000000u | delay, -100 };
		ck_assert_int_eq(pthread_create(&t, NULL, write_later, &w), 0);
		ck_assert_int_eq(mmio_poll32(d, 0x40, 0x80000000u, 0x80000000u, 2000000, &last),
				 MMIO_OK);
		ck_assert_uint_eq(last, 0x80000000u | delay);
		pthread_join(t, NULL);
		ck_assert_int_eq(w.status, MMIO_OK);
		ck_assert_int_eq(mmio_write32(d, 0x40, 0), MMIO_OK);
	}
	/* A value that never comes: the whole timeout passes, in both modes. */
	ck_assert_int_eq(mmio_write32(d, 0x44, 0x1234), MMIO_OK);
	for (int mode = 0; mode < 2; mode++) {
		start = mono_us();
		ck_assert_int_eq(mmio_poll32(mode ? d : p, 0x44, 0xFFFF, 0x4321, 40000, &last),
				 MMIO_ETIMEDOUT);
		took = mono_us() - start;
		ck_assert_uint_eq(last, 0x1234);
		ck_assert_msg(took >= 40000, "%s poll timed out after %" PRIu64 " us",
			      mode ? "direct" : "proxied", took);
	}
	mmio_close(p);
	mmio_close(d);
}
END_TEST

/* ---- faults ---- */

/* Shrink (or restore) the memory behind sim region @name to @size bytes. */
static void sim_resize(const char *name, size_t size)
{
	int fd = harness_sim_fd(name);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/*
 * Strided copies through libmmio, proxied (tw-p, messages) and direct
 * (tw-d): rows land at their pitch and nowhere else, a copy longer than a
 * message is split into whole rows, a bad geometry moves nothing, and a
 * fault in the second row gives the exact packed count.
 */
START_TEST(strided_rows_proxied_and_direct)
{
	static const char *const names[] = { "tw-p", "tw-d" };
	mmio_client *clients[] = { inline_client, client };
	static uint8_t out[TWIN_SIZE], in[TWIN_SIZE];

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	for (int k = 0; k < 2; k++) {
		mmio_region *r;
		size_t done = 99;
		uint8_t gap;

		ck_assert_int_eq(mmio_open(clients[k], names[k],
					   k ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED, &r),
				 MMIO_OK);
		ck_assert_int_eq(mmio_fill(r, 0, TWIN_SIZE, 0xEE, NULL), MMIO_OK);
		ck_assert_int_eq(mmio_write_rows(r, 8, 24, 100, 5, out, &done), MMIO_OK);
		ck_assert_uint_eq(done, 120);
		ck_assert_int_eq(mmio_read8(r, 8 + 24, &gap), MMIO_OK);
		ck_assert_uint_eq(gap, 0xEE);
		ck_assert_int_eq(mmio_read8(r, 108, &gap), MMIO_OK);
		ck_assert_uint_eq(gap, out[24]);
		memset(in, 0, sizeof(in));
		ck_assert_int_eq(mmio_read_rows(r, 8, 24, 100, 5, in, &done), MMIO_OK);
		ck_assert_uint_eq(done, 120);
		ck_assert_mem_eq(in, out, 120);
		/* The whole region as 16 rows of 4 KiB: more than one message. */
		ck_assert_int_eq(mmio_write_rows(r, 0, 4096, 4096, 16, out, &done), MMIO_OK);
		ck_assert_uint_eq(done, TWIN_SIZE);
		ck_assert_int_eq(mmio_read_rows(r, 0, 4096, 4096, 16, in, &done), MMIO_OK);
		ck_assert_uint_eq(done, TWIN_SIZE);
		ck_assert_mem_eq(in, out, TWIN_SIZE);
		/* Hostile geometry: nothing moves. */
		ck_assert_int_eq(mmio_read_rows(r, 0, 16, 16, 0, in, &done), MMIO_EINVAL);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(mmio_read_rows(r, 0, 16, 8, 2, in, &done), MMIO_EINVAL);
		ck_assert_int_eq(mmio_write_rows(r, TWIN_SIZE - 16, 32, 32, 1, out, &done),
				 MMIO_EINVAL);
		ck_assert_int_eq(mmio_write_rows(r, 0, 1, SIZE_MAX, 2, out, &done), MMIO_EINVAL);
		ck_assert_int_eq(mmio_read_rows(r, 0, 0, 16, 2, in, &done), MMIO_EINVAL);
		ck_assert_int_eq(mmio_read_rows(r, 0, 16, 16, 1, NULL, &done), MMIO_EINVAL);
		ck_assert_uint_eq(done, 0);
		/* The device ends at 20 KiB: the first row whole, 50 bytes of the second. */
		sim_resize(names[k], 20 * 1024);
		ck_assert_int_eq(mmio_read_rows(r, 20 * 1024 - 150, 64, 100, 4, in, &done),
				 MMIO_EFAULT);
		ck_assert_uint_eq(done, 64 + 50);
		ck_assert_mem_eq(in, out + 20 * 1024 - 150, 64);
		ck_assert_mem_eq(in + 64, out + 20 * 1024 - 50, 50);
		ck_assert_int_eq(mmio_write_rows(r, 20 * 1024 - 150, 64, 100, 4, out, &done),
				 MMIO_EFAULT);
		ck_assert_uint_eq(done, 64 + 50);
		sim_resize(names[k], TWIN_SIZE);
		mmio_close(r);
	}
}
END_TEST

/*
 * The device shrinks under every path: messages (tw-p), shared memory
 * staged and zero-copy (tw-s), direct (tw-d). Every copy, fill and once-op
 * past the cut gives MMIO_EFAULT with the same exact count, and the bytes of
 * the caller's buffer past that count are untouched.
 */
START_TEST(fault_under_mapping_reports_what_proxied_reports)
{
	static const char *const names[] = { "tw-p", "tw-s", "tw-s", "tw-d" };
	static const char *const paths[] = { "messages", "shared, staged", "shared, zero-copy",
					     "direct" };
	mmio_client *clients[] = { inline_client, shared_client, shared_client, client };
	mmio_region *r[4];
	uint8_t *buf[4];
	void *zbuf;
	size_t done;
	uint64_t v[4];
	uint32_t last;

	ck_assert_int_eq(mmio_buffer_alloc(shared_client, TWIN_SIZE, &zbuf), MMIO_OK);
	for (int k = 0; k < 4; k++) {
		ck_assert_int_eq(mmio_open(clients[k], names[k],
					   k == 3 ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED,
					   &r[k]),
				 MMIO_OK);
		buf[k] = k == 2 ? zbuf : malloc(TWIN_SIZE);
		ck_assert_int_eq(mmio_fill(r[k], 0, TWIN_SIZE, 0x3C, &done), MMIO_OK);
	}
	/* The device loses everything past 20 KiB (whole pages). */
	sim_resize("tw-p", 20 * 1024);
	sim_resize("tw-s", 20 * 1024);
	sim_resize("tw-d", 20 * 1024);

	const struct {
		size_t off, len;
	} spans[] = { { 20 * 1024 - 3, 100 }, { 6001, 30000 }, { 20 * 1024, 8 }, { 5, 63 * 1024 } };
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		size_t want = 20 * 1024 > spans[i].off ? 20 * 1024 - spans[i].off : 0;

		/* Reads first, on every path: two paths share tw-s. */
		for (int k = 0; k < 4; k++) {
			size_t at = 0;

			memset(buf[k], 0x77, TWIN_SIZE);
			ck_assert_int_eq(mmio_read(r[k], spans[i].off, buf[k], spans[i].len, &done),
					 MMIO_EFAULT);
			ck_assert_msg(done == want, "%s: read of %zu at %zu: done %zu, want %zu",
				      paths[k], spans[i].len, spans[i].off, done, want);
			while (at < TWIN_SIZE && buf[k][at] == buf[0][at])
				at++;
			ck_assert_msg(
				at == TWIN_SIZE,
				"%s: read of %zu at %zu: the buffer differs from the messages "
				"path's at byte %zu (0x%02x, not 0x%02x)",
				paths[k], spans[i].len, spans[i].off, at,
				at < TWIN_SIZE ? buf[k][at] : 0, at < TWIN_SIZE ? buf[0][at] : 0);
			ck_assert_uint_eq(buf[k][want], 0x77); /* past the count: untouched */
		}
		for (int k = 0; k < 4; k++) {
			ck_assert_int_eq(
				mmio_write(r[k], spans[i].off, buf[k], spans[i].len, &done),
				MMIO_EFAULT);
			ck_assert_msg(done == want, "%s: write: done %zu, want %zu", paths[k], done,
				      want);
		}
		for (int k = 0; k < 4; k++) {
			ck_assert_int_eq(mmio_fill(r[k], spans[i].off, spans[i].len, 0xAB, &done),
					 MMIO_EFAULT);
			ck_assert_uint_eq(done, want);
		}
	}
	for (int k = 0; k < 4; k++) {
		ck_assert_int_eq(mmio_read64(r[k], 24 * 1024, &v[k]), MMIO_EFAULT);
		ck_assert_int_eq(mmio_write8(r[k], 30 * 1024 + 1, 1), MMIO_EFAULT);
		ck_assert_int_eq(mmio_poll32(r[k], 40 * 1024, 0, 0, 100, &last), MMIO_EFAULT);
		/* Below the cut, all is well, and the same everywhere. */
		ck_assert_int_eq(mmio_read64(r[k], 16, &v[k]), MMIO_OK);
		ck_assert_uint_eq(v[k], v[0]);
	}
	/* The same on a view the header reaches through its base (its second
	 * try): a slice at 4 mod 8, faulting in the header's own code. */
	mmio_region *unplaced;
	uint32_t v32 = 0x5A5A5A5A;
	ck_assert_int_eq(mmio_slice(r[3], 4, TWIN_SIZE - 4, &unplaced), MMIO_OK);
	library_once_ops = 0;
	ck_assert_int_eq(mmio_read32(unplaced, 24 * 1024, &v32), MMIO_EFAULT);
	ck_assert_uint_eq(v32, 0x5A5A5A5A);
	ck_assert_int_eq(mmio_write32(unplaced, 30 * 1024, 1), MMIO_EFAULT);
	ck_assert_int_eq(mmio_read32(unplaced, 12, &v32), MMIO_OK);
	ck_assert_uint_eq(library_once_ops, 0);
	mmio_close(unplaced);
	/* The device comes back (reading zeros past the old cut). */
	sim_resize("tw-p", TWIN_SIZE);
	sim_resize("tw-s", TWIN_SIZE);
	sim_resize("tw-d", TWIN_SIZE);
	ck_assert_int_eq(mmio_read64(r[3], 24 * 1024, &v[3]), MMIO_OK);
	ck_assert_uint_eq(v[3], 0);
	for (int k = 0; k < 4; k++) {
		mmio_close(r[k]);
		if (k != 2)
			free(buf[k]);
	}
	mmio_buffer_free(shared_client, zbuf);
}
END_TEST

/* An inline copy of @len bytes at @off that faults after @want_done bytes,
 * and the library's in its place: status, count, and the @room bytes of
 * @buf the caller may touch (past the count, a read leaves them as they
 * were). */
#define FAULT_COPY(dir, r, off, buf, room, len, want_done)                                         \
	do {                                                                                       \
		struct copy_outcome *in = &scratch.in, *lib = &scratch.lib;                        \
		for (int pass = 0; pass < 2; pass++) {                                             \
			struct copy_outcome *o = pass ? lib : in;                                  \
			memset((buf), 0x77, (room));                                               \
			library_copies = 0;                                                        \
			o->status = pass ? (mmio_##dir)((r), (off), (buf), (len), &o->done)        \
					 : mmio_##dir((r), (off), (buf), (len), &o->done);         \
			o->calls = pass ? 0 : library_copies;                                      \
			memset(o->bytes, 0, sizeof(o->bytes));                                     \
			memcpy(o->bytes, (buf), (room));                                           \
		}                                                                                  \
		ck_assert_msg(in->status == MMIO_EFAULT && in->done == (want_done),                \
			      #dir " of %zu at %zu: %s, done %zu; expected MMIO_EFAULT, done %zu", \
			      (size_t)(len), (size_t)(off), mmio_status_name(in->status),          \
			      in->done, (size_t)(want_done));                                      \
		copy_expect_same(#dir " (fault)", (len), (off), in, lib, true);                    \
	} while (0)

/* Where the fault sweeps below put their faults. */
struct fault_places {
	uint8_t *page_end; /* the end of a buffer page, before one it may not touch */
	uint8_t *buf;	   /* a buffer of MMIO_INLINE_COPY_MAX bytes, all touchable */
	size_t cut;	   /* the device's size: nothing answers from here on */
};

/*
 * A copy of @len bytes stopped by a fault before each of its steps k: on
 * the caller's side (its buffer ends 8k bytes in) and on the device's (its
 * copy starts 8k bytes before the cut), each way. That is every place in a
 * group of four steps, and in the single step and the pair before the
 * groups.
 */
#define FAULT_SWEEP(r, len, at)                                                                    \
	do {                                                                                       \
		for (size_t k = 0; k < (len) / 8; k++) {                                           \
			uint8_t *edge = (at)->page_end - 8 * k;                                    \
			FAULT_COPY(read, r, 64, edge, 8 * k, len, 8 * k);                          \
			FAULT_COPY(write, r, 64, edge, 8 * k, len, 8 * k);                         \
			FAULT_COPY(read, r, (at)->cut - 8 * k, (at)->buf, len, len, 8 * k);        \
			FAULT_COPY(write, r, (at)->cut - 8 * k, (at)->buf, len, len, 8 * k);       \
		}                                                                                  \
	} while (0)

/* FAULT_SWEEP for a length known only at run time. */
__attribute__((noinline)) static void fault_sweep_runtime(mmio_region *r, size_t len,
							  const struct fault_places *at)
{
	FAULT_SWEEP(r, len, at);
}

/* A fault in an inline copy, on the device's side or the caller's buffer's,
 * is MMIO_EFAULT with the exact count, as in the library, wherever in the
 * copy it happens. */
START_TEST(inline_copies_fault_like_the_library)
{
	static const size_t runtime_lens[] = { 8,  16,	24,  32,  40,	48,
					       56, 120, 136, 256, 1000, MMIO_INLINE_COPY_MAX };
	long page = sysconf(_SC_PAGESIZE);
	mmio_region *r;
	uint8_t fillbuf[COPY_ROOM], *pages;
	struct fault_places at = { .buf = fillbuf, .cut = 20 * 1024 };
	size_t done;

#ifndef MMIO_INLINE_ONCE
	ck_abort_msg("this compiler does not get the header's inline copies");
#endif
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_fill(r, 0, TWIN_SIZE, 0x3C, &done), MMIO_OK);
	/* The caller's buffer: a page before one it may not touch. */
	pages = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	ck_assert_ptr_ne(pages, MAP_FAILED);
	ck_assert_int_eq(mprotect(pages + page, (size_t)page, PROT_NONE), 0);
	at.page_end = pages + page;
	/* The device loses everything past 20 KiB. */
	sim_resize("tw-d", at.cut);
	/* The bytes read before the cut are the device's. */
	ck_assert_int_eq(mmio_read(r, at.cut - 24, fillbuf, 64, &done), MMIO_EFAULT);
	for (size_t b = 0; b < 24; b++)
		ck_assert_uint_eq(fillbuf[b], 0x3C);
	/* Constant lengths (the compiler may unroll them), then run-time ones. */
	FAULT_SWEEP(r, 24, &at);
	FAULT_SWEEP(r, 64, &at);
	FAULT_SWEEP(r, 120, &at);
	FAULT_SWEEP(r, 136, &at);
	FAULT_SWEEP(r, 512, &at);
	FAULT_SWEEP(r, 4096, &at);
	for (size_t i = 0; i < sizeof(runtime_lens) / sizeof(runtime_lens[0]); i++)
		fault_sweep_runtime(r, runtime_lens[i], &at);
	FAULT_COPY(read, r, at.cut, fillbuf, 64, 64, 0);
	FAULT_COPY(write, r, at.cut, fillbuf, 64, 64, 0);
	/* What an inline write that faulted left: the steps before the cut. */
	ck_assert_int_eq(mmio_fill(r, at.cut - 104, 104, 0x3C, &done), MMIO_OK);
	memset(fillbuf, 0x5A, sizeof(fillbuf));
	library_copies = 0;
	ck_assert_int_eq(mmio_write(r, at.cut - 104, fillbuf, 128, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 104);
	ck_assert_uint_eq(library_copies, 0);
	memset(fillbuf, 0, sizeof(fillbuf));
	ck_assert_int_eq((mmio_read)(r, at.cut - 104, fillbuf, 104, &done), MMIO_OK);
	for (size_t b = 0; b < 104; b++)
		ck_assert_uint_eq(fillbuf[b], 0x5A);
	/* The Intel-syntax templates' entries recover the same way: in a group
	 * (at 24 of 64), and in 24 bytes' single step (at 0) and pair (at 8
	 * and 16). */
	ck_assert_int_eq(intel_read_bytes(r, at.cut - 24, fillbuf, 64, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 24);
	ck_assert_int_eq(intel_write_bytes(r, at.cut - 24, fillbuf, 64, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 24);
	for (size_t k = 0; k < 3; k++) {
		ck_assert_int_eq(intel_read_bytes(r, at.cut - 8 * k, fillbuf, 24, &done),
				 MMIO_EFAULT);
		ck_assert_uint_eq(done, 8 * k);
		ck_assert_int_eq(intel_write_bytes(r, at.cut - 8 * k, fillbuf, 24, &done),
				 MMIO_EFAULT);
		ck_assert_uint_eq(done, 8 * k);
	}
	library_copies = 0;
	ck_assert_int_eq(intel_read_bytes(r, at.cut - 24, fillbuf, 24, &done), MMIO_OK);
	ck_assert_int_eq(intel_write_bytes(r, at.cut - 24, fillbuf, 24, &done), MMIO_OK);
	ck_assert_uint_eq(done, 24);
	ck_assert_uint_eq(library_copies, 0);
	munmap(pages, 2 * (size_t)page);
	mmio_close(r);
}
END_TEST

/* ---- lifetime: exclusivity, disconnect, loss, reload ---- */

START_TEST(close_and_disconnect_release_exclusive_mapping)
{
	mmio_client *other;
	mmio_region *a, *b;
	char perms[5];

	ck_assert_int_eq(mmio_connect(H.url, &other), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "excl", MMIO_OPEN_REQUIRE_DIRECT, &a), MMIO_OK);
	ck_assert_int_eq(mmio_open(other, "excl", MMIO_OPEN_DIRECT, &b), MMIO_EBUSY);
	mmio_close(a);
	ck_assert_int_eq(mmio_open(other, "excl", MMIO_OPEN_REQUIRE_DIRECT, &b), MMIO_OK);
	ck_assert_int_eq(mmio_write64(b, 8, 0x0123456789ABCDEFull), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "excl", MMIO_OPEN_DIRECT, &a), MMIO_EBUSY);
	ck_assert_uint_eq(stat_of(client, "mappings"), 1);
	/* Disconnecting (with the region still open) unmaps at once, and the
	 * server releases the grant when it sees the connection go (soon
	 * after: that is asynchronous). */
	mmio_disconnect(other);
	mapping_perms("excl", perms);
	ck_assert_str_eq(perms, "");
	int st = MMIO_EBUSY;
	for (int i = 0; i < 300 && st == MMIO_EBUSY; i++) {
		st = mmio_open(client, "excl", MMIO_OPEN_REQUIRE_DIRECT, &a);
		if (st == MMIO_EBUSY)
			usleep(10000);
	}
	ck_assert_int_eq(st, MMIO_OK);
	uint64_t v = 0;
	ck_assert_int_eq(mmio_read64(a, 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x0123456789ABCDEFull);
	ck_assert_uint_eq(stat_of(client, "mappings"), 1);
	ck_assert_uint_eq(stat_of(client, "handles"), 1);
	mmio_close(a);
}
END_TEST

/* Asks without a pause until told MMIO_ECONN, then at once tries a
 * once-op on the last region linked (the last one marked lost). */
struct loss_watch {
	mmio_region *d, *probe;
	int status, inline_status, call_status;
};

static void *loss_watcher(void *arg)
{
	struct loss_watch *w = arg;
	uint8_t byte;
	uint32_t v;

	for (uint64_t end = mono_us() + 10000000; mono_us() < end;) {
		w->status = mmio_read(w->d, 0, &byte, 1, NULL);
		if (w->status != MMIO_OK)
			break;
	}
	w->inline_status = mmio_read32(w->probe, 0, &v);
	w->call_status = (mmio_read32)(w->probe, 0, &v);
	return NULL;
}

START_TEST(lost_server_makes_direct_calls_econn)
{
	enum { SLICES = 50000 };
	mmio_region **slices = calloc(SLICES, sizeof(*slices));
	struct loss_watch w = { .status = MMIO_OK };
	uint32_t v;
	pthread_t t;

	ck_assert_ptr_nonnull(slices);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &w.d), MMIO_OK);
	ck_assert_int_eq(mmio_read32(w.d, 0, &v), MMIO_OK);
	/* Many regions, so that marking them lost takes a while: a thread told
	 * MMIO_ECONN must not see a later once-op succeed on any of them. */
	for (int i = 0; i < SLICES; i++)
		ck_assert_int_eq(mmio_slice(w.d, 0, 64, &slices[i]), MMIO_OK);
	w.probe = slices[SLICES - 1];
	ck_assert_int_eq(pthread_create(&t, NULL, loss_watcher, &w), 0);
	harness_server_stop();
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.status, MMIO_ECONN);
	ck_assert_int_eq(w.inline_status, MMIO_ECONN);
	ck_assert_int_eq(w.call_status, MMIO_ECONN);
	ck_assert_int_eq(mmio_read32(w.d, 0, &v), MMIO_ECONN);
	ck_assert_int_eq(mmio_write32(w.d, 0, 1), MMIO_ECONN);
	/* The library's functions say the same as the header's inline ones. */
	ck_assert_int_eq((mmio_read32)(w.d, 0, &v), MMIO_ECONN);
	ck_assert_int_eq((mmio_write32)(w.d, 0, 1), MMIO_ECONN);
	/* Small copies, which the header would make inline: the same. */
	uint8_t small[64] = { 0 };
	size_t done = 1;
	ck_assert_int_eq(mmio_read(w.d, 0, small, sizeof(small), &done), MMIO_ECONN);
	ck_assert_uint_eq(done, 0);
	done = 1;
	ck_assert_int_eq(mmio_write(w.d, 0, small, 8, &done), MMIO_ECONN);
	ck_assert_uint_eq(done, 0);
	for (int i = 0; i < SLICES; i++)
		mmio_close(slices[i]);
	free(slices);
	mmio_close(w.d);
}
END_TEST

/* A POLL waiting in the server's mailbox thread when the server stops:
 * MMIO_ECONN at once, as on the socket (not an answer the server never
 * sent, and not the end of the poll's timeout). */
struct poll_job {
	mmio_region *r;
	int status;
};

static void *poll_thread(void *arg)
{
	struct poll_job *job = arg;
	uint32_t last;

	job->status = mmio_poll32(job->r, 0, 0xFFFFFFFF, 0x5A5A5A5A, 3000000, &last);
	return NULL;
}

START_TEST(stopped_server_ends_a_mailbox_poll_with_econn)
{
	struct poll_job job = { .status = MMIO_OK };
	pthread_t t;
	uint32_t v;

	ck_assert_int_eq(mmio_has_mailbox(shared_client), 1);
	ck_assert_int_eq(mmio_open(shared_client, "tw-s", MMIO_OPEN_PROXIED, &job.r), MMIO_OK);
	ck_assert_int_eq(mmio_write32(job.r, 0, 0), MMIO_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, poll_thread, &job), 0);
	usleep(300000);
	uint64_t t0 = mono_us();
	harness_server_stop();
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(job.status, MMIO_ECONN);
	ck_assert_uint_lt(mono_us() - t0, 1500000);
	ck_assert_int_eq(mmio_read32(job.r, 0, &v), MMIO_ECONN);
	mmio_close(job.r);
}
END_TEST

/* A client the server refuses a mailbox (the uid has 8) stays on the
 * socket, works, and gives its buffer back. */
START_TEST(refused_mailbox_leaves_no_buffer_behind)
{
	mmio_client *more[6], *late;
	mmio_region *r;
	uint32_t v;

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(mmio_connect(H.url, &more[i]), MMIO_OK);
		ck_assert_int_eq(mmio_has_mailbox(more[i]), 1);
	}
	ck_assert_uint_eq(stat_of(client, "mailboxes"), 8);
	uint64_t buffers = stat_of(client, "buffers");
	ck_assert_int_eq(mmio_connect(H.url, &late), MMIO_OK);
	ck_assert_int_eq(mmio_has_mailbox(late), 0);
	ck_assert_uint_eq(stat_of(client, "buffers"), buffers);
	ck_assert_int_eq(mmio_open(late, "tw-p", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 8, 0x600DF00D), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x600DF00D);
	mmio_disconnect(late);
	for (int i = 0; i < 6; i++)
		mmio_disconnect(more[i]);
}
END_TEST

/* Wait (up to 5 s) until every thread of @pid is stopped by a signal. */
static bool all_threads_stopped(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir(path);
		struct dirent *e;
		bool all = d != NULL;

		while (d && (e = readdir(d)) != NULL) {
			char stat[600], line[512] = "";
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(stat, sizeof(stat), "%s/%s/stat", path, e->d_name);
			f = fopen(stat, "r");
			if (f && fgets(line, sizeof(line), f)) {
				/* "tid (comm) S ...": the state follows the last ')'. */
				const char *p = strrchr(line, ')');
				if (!p || (p[2] != 'T' && p[2] != 't'))
					all = false;
			}
			if (f)
				fclose(f);
		}
		if (d)
			closedir(d);
		if (all)
			return true;
		usleep(10000);
	}
	return false;
}

/* A mailbox reply later than MMIO_REPLY_TIMEOUT_MS: MMIO_ECONN, and the
 * connection is closed, so the server lets the client's session go. */
START_TEST(mailbox_timeout_closes_the_connection)
{
	mmio_client *impatient;
	mmio_region *r;
	uint32_t v;

	setenv("MMIO_REPLY_TIMEOUT_MS", "1000", 1);
	ck_assert_int_eq(mmio_connect(H.url, &impatient), MMIO_OK);
	unsetenv("MMIO_REPLY_TIMEOUT_MS");
	ck_assert_int_eq(mmio_has_mailbox(impatient), 1);
	ck_assert_int_eq(mmio_open(impatient, "tw-p", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	uint64_t clients = stat_of(client, "clients");
	ck_assert_int_eq(kill(H.server, SIGSTOP), 0);
	/* kill() returns before every thread has stopped; a busy machine may
	 * take milliseconds. */
	ck_assert_msg(all_threads_stopped(H.server), "the server did not stop");
	uint64_t t0 = mono_us();
	int status = mmio_read32(r, 0, &v);
	uint64_t waited = mono_us() - t0;
	ck_assert_int_eq(kill(H.server, SIGCONT), 0);
	ck_assert_int_eq(status, MMIO_ECONN);
	ck_assert_uint_ge(waited, 950000); /* the timeout, in whole milliseconds */
	ck_assert_uint_lt(waited, 3000000);
	for (int i = 0; i < 300 && stat_of(client, "clients") != clients - 1; i++)
		usleep(10000);
	ck_assert_uint_eq(stat_of(client, "clients"), clients - 1);
	ck_assert_int_eq(mmio_read32(r, 0, &v), MMIO_ECONN);
	mmio_disconnect(impatient);
}
END_TEST

/* SIGTERM while 12 clients are busy (reads and polls; with the fixture's
 * mailboxes and the cap of 8 per uid, six on mailboxes, six on the socket): the
 * server is gone within 8 s every time (nng 1.5.2 can hang in nng_close()
 * here; the server's close guard ends the wait), with status 0. */
struct busy_client {
	atomic_bool *stop;
	int index;
};

static void *busy_thread(void *arg)
{
	struct busy_client *b = arg;
	mmio_client *c;
	mmio_region *r;
	uint32_t v;

	if (mmio_connect(H.url, &c) != MMIO_OK)
		return NULL;
	if (mmio_open(c, "tw-p", MMIO_OPEN_PROXIED, &r) == MMIO_OK) {
		while (!atomic_load(b->stop)) {
			int st = b->index % 3 == 0
					 ? mmio_poll32(r, 0, 0xFFFFFFFF, 0x5A5A5A5A, 200000, &v)
					 : mmio_read32(r, 0, &v);
			if (st == MMIO_ECONN)
				break;
		}
	}
	mmio_disconnect(c);
	return NULL;
}

START_TEST(sigterm_under_load_stops_within_seconds)
{
	for (int round = 0; round < 6; round++) {
		atomic_bool stop = false;
		struct busy_client b[12];
		pthread_t t[12];
		int status = -1;
		pid_t got = 0;

		if (round > 0)
			harness_server_start();
		for (int i = 0; i < 12; i++) {
			b[i] = (struct busy_client){ &stop, i };
			ck_assert_int_eq(pthread_create(&t[i], NULL, busy_thread, &b[i]), 0);
		}
		usleep(400000);
		ck_assert_int_eq(kill(H.server, SIGTERM), 0);
		for (int i = 0; i < 800 && got == 0; i++) {
			got = waitpid(H.server, &status, WNOHANG);
			if (got == 0)
				usleep(10000);
		}
		atomic_store(&stop, true);
		for (int i = 0; i < 12; i++)
			pthread_join(t[i], NULL);
		if (got != H.server)
			harness_log_tail(30);
		ck_assert_msg(got == H.server, "round %d: the server still runs 8 s after SIGTERM",
			      round);
		H.server = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			harness_log_tail(30);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "round %d: server status 0x%x", round, status);
	}
}
END_TEST

START_TEST(reload_revoking_a_mapped_grant_logs_the_holder)
{
	mmio_region *d, *p;
	char pid_line[128];
	uint32_t v;

	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_PROXIED, &p), MMIO_OK);
	ck_assert_int_eq(mmio_write32(d, 0, 0x600D), MMIO_OK);
	/* The reload takes the grant on tw-d away. */
	write_policy(POLICY_NO_TWD);
	harness_server_signal(SIGHUP);
	snprintf(pid_line, sizeof(pid_line), "pid %d still has tw-d mapped directly",
		 (int)getpid());
	/* The server logs each holder before it adds up the revocations. */
	for (int i = 0; i < 500 && stat_of(client, "revoked") < 2; i++)
		usleep(10000);
	ck_assert_msg(harness_log_contains(pid_line), "no log line \"%s\"", pid_line);
	ck_assert_uint_eq(stat_of(client, "revoked"), 2);
	/* Proxied requests on the grant are refused from now on. */
	ck_assert_int_eq(mmio_read32(p, 0, &v), MMIO_EREVOKED);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_DIRECT, &p), MMIO_ENOENT);
	/* What userspace cannot do (docs/DIRECT.md, "Revocation"): the mapping itself
	 * stays usable until its holder unmaps it. */
	ck_assert_int_eq(mmio_read32(d, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x600D);
	mmio_close(d);
	ck_assert_uint_eq(stat_of(client, "mappings"), 0);
}
END_TEST

/*
 * Write policy @variant and wait until the server has loaded it. That is two
 * reloads, both of the new file: the rename wakes the server's watch and the
 * signal its handler. Waiting for only the first would let the second stand
 * in for the next call's reload, perhaps before that call's file is written.
 */
static void reload(enum policy_variant variant)
{
	uint64_t want = stat_of(client, "reloads") + 2;

	write_policy(variant);
	harness_server_signal(SIGHUP);
	for (int i = 0; i < 500 && stat_of(client, "reloads") < want; i++)
		usleep(10000);
	ck_assert_uint_eq(stat_of(client, "reloads"), want);
}

/* A reload that narrows a mapped grant (or takes `map` away) cannot narrow
 * the mapping: it revokes the handle and names the holder. A handle that is
 * not mapped just takes the new rights. */
START_TEST(reload_narrowing_a_mapped_grant_revokes_it)
{
	static const enum policy_variant variants[] = { POLICY_TWD_READ, POLICY_TWD_NO_MAP };
	char line[128];

	for (size_t k = 0; k < 2; k++) {
		mmio_region *d, *p;
		uint32_t v;
		uint64_t revoked = stat_of(client, "revoked");

		reload(POLICY_FULL);
		ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_PROXIED, &p), MMIO_OK);
		ck_assert_int_eq(mmio_write32(p, 8, 0x5EED), MMIO_OK);
		reload(variants[k]);
		/* Only the mapped handle went. */
		ck_assert_uint_eq(stat_of(client, "revoked"), revoked + 1);
		snprintf(line, sizeof(line), "pid %d still has tw-d mapped directly",
			 (int)getpid());
		ck_assert_msg(harness_log_contains(line), "no log line \"%s\"", line);
		ck_assert_int_eq(mmio_read32(p, 8, &v), MMIO_OK);
		ck_assert_uint_eq(v, 0x5EED);
		ck_assert_int_eq(mmio_write32(p, 8, 1),
				 variants[k] == POLICY_TWD_READ ? MMIO_EACCES : MMIO_OK);
		mmio_close(d);
		mmio_close(p);
	}
}
END_TEST

/* Batches mixing direct and proxied regions: run in order, in parts, with
 * the results of an all-proxied batch (statuses, failed index, values). */
START_TEST(mixed_batches_equal_all_proxied)
{
	mmio_region *ref[2], *mix[2];
	uint8_t *a = malloc(TWIN_SIZE), *b = malloc(TWIN_SIZE);
	unsigned mixed = 0, failed_mid = 0;

	rng_state = seed_get() ^ 0x2545F4914F6CDD1Dull;
	ck_assert_int_eq(mmio_open(client, "tw-p", MMIO_OPEN_PROXIED, &ref[0]), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-p", MMIO_OPEN_PROXIED, &ref[1]), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &mix[0]), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_PROXIED, &mix[1]), MMIO_OK);
	for (int round = 0; round < 400; round++) {
		mmio_batch *rb, *mb;
		unsigned n = 1 + (unsigned)below(10), sides = 0;
		size_t rfailed, mfailed;
		int rst, mst;

		ck_assert_int_eq(mmio_batch_new(client, &rb), MMIO_OK);
		ck_assert_int_eq(mmio_batch_new(client, &mb), MMIO_OK);
		for (unsigned i = 0; i < n; i++) {
			unsigned side = (unsigned)below(2), width = 1u << below(4);
			size_t off = below(20) == 0 ? TWIN_SIZE - below(8) : below(256);
			uint64_t value = pick_value(width);
			int kind = (int)below(3), ra, ma;

			sides |= 1u << side;
			if (kind == 0) {
				ra = mmio_batch_read(rb, ref[side], off, width);
				ma = mmio_batch_read(mb, mix[side], off, width);
			} else if (kind == 1) {
				ra = mmio_batch_write(rb, ref[side], off, width, value);
				ma = mmio_batch_write(mb, mix[side], off, width, value);
			} else {
				ra = mmio_batch_poll(rb, ref[side], off, width, value, value, 50);
				ma = mmio_batch_poll(mb, mix[side], off, width, value, value, 50);
			}
			ck_assert_int_eq(ra, ma);
		}
		mixed += sides == 3;
		rst = mmio_batch_run(rb, &rfailed);
		mst = mmio_batch_run(mb, &mfailed);
		ck_assert_msg(rst == mst && rfailed == mfailed,
			      "round %d: all proxied %d failed %zu, mixed %d failed %zu", round,
			      rst, rfailed, mst, mfailed);
		failed_mid += rst != MMIO_OK && rfailed != MMIO_BATCH_NONE && rfailed > 0;
		for (size_t i = 0; i < mmio_batch_count(rb); i++) {
			uint64_t rv = 0xDEAD, mv = 0xDEAD;
			int rs = mmio_batch_value(rb, i, &rv), ms = mmio_batch_value(mb, i, &mv);

			ck_assert_int_eq(rs, ms);
			ck_assert_msg(rv == mv, "round %d op %zu: 0x%" PRIx64 " vs 0x%" PRIx64,
				      round, i, rv, mv);
		}
		mmio_batch_free(rb);
		mmio_batch_free(mb);
	}
	/* The campaign did what it is for. */
	ck_assert_uint_gt(mixed, 100);
	ck_assert_uint_gt(failed_mid, 10);
	region_bytes(ref[0], a, TWIN_SIZE);
	region_bytes(mix[1], b, TWIN_SIZE);
	ck_assert(memcmp(a, b, TWIN_SIZE) == 0);
	for (int i = 0; i < 2; i++) {
		mmio_close(ref[i]);
		mmio_close(mix[i]);
	}
	free(a);
	free(b);
}
END_TEST

/* ---- revocable windows (MMIO_SIM_WINDOWS: the server grants sim regions
 * as windows; the test zaps the mappings as the kernel module would) ---- */

static void setup_windows(void)
{
	setenv("MMIO_SIM_WINDOWS", "1", 1);
	setup();
	unsetenv("MMIO_SIM_WINDOWS");
}

/* What the module's revoke does to this process: every mapping of memfd
 * @name faults from byte @from of it on (the pages before it stay, so that
 * an access across the boundary shows its exact count). */
static unsigned zap_mappings(const char *name, size_t from)
{
	char line[512], want[96];
	uintptr_t starts[64], ends[64];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	while (n < 64 && fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n'), *end;

		if (nl)
			*nl = '\0';
		if (strlen(line) < strlen(want) ||
		    strcmp(line + strlen(line) - strlen(want), want) != 0)
			continue;
		starts[n] = (uintptr_t)strtoull(line, &end, 16);
		ends[n] = (uintptr_t)strtoull(end + 1, NULL, 16);
		n++;
	}
	fclose(f);
	/* After reading: mprotect splits the mappings maps lists. */
	for (unsigned i = 0; i < n; i++)
		if (starts[i] + from < ends[i])
			ck_assert_int_eq(mprotect((void *)(starts[i] + from),
						  ends[i] - starts[i] - from, PROT_NONE),
					 0);
	return n;
}

enum revoke_path {
	RV_ONCE_CALLED,	 /* mmio_read32() through the library */
	RV_ONCE_INLINE,	 /* the header's inline read */
	RV_WRITE_INLINE, /* the header's inline write */
	RV_COPY_CALLED,	 /* a library copy across the revoked boundary */
	RV_COPY_INLINE,	 /* the header's inline copy across it */
	RV_ROWS,	 /* strided rows across it */
	RV_FILL,
	RV_POLL,
	RV_BATCH,
	RV_PATHS
};

/* Access @r on @path across (or past) byte 4096, from which on its window
 * is revoked; *@done: bytes or ops done. Returns the status. */
static int revoked_access(mmio_region *r, enum revoke_path path, uint8_t *buf, size_t *done)
{
	uint32_t v = 0;
	uint64_t last;
	size_t failed;
	mmio_batch *b;
	int status;

	*done = 0;
	switch (path) {
	case RV_ONCE_CALLED:
		return (mmio_read32)(r, 4096 + 8, &v);
	case RV_ONCE_INLINE:
		return mmio_read32(r, 4096 + 8, &v);
	case RV_WRITE_INLINE:
		return mmio_write32(r, 4096 + 8, 1);
	case RV_COPY_CALLED:
		return (mmio_read)(r, 4000, buf, 8192, done);
	case RV_COPY_INLINE:
		return mmio_read(r, 4096 - 32, buf, 64, done);
	case RV_ROWS:
		return mmio_read_rows(r, 4000, 64, 64, 4, buf, done);
	case RV_FILL:
		return mmio_fill(r, 4000, 200, 0xEE, done);
	case RV_POLL:
		return mmio_poll32(r, 4096 + 8, 0xFFFFFFFF, 0x5A5A5A5A, 1000, &v);
	default:
		ck_assert_int_eq(mmio_batch_new(client, &b), MMIO_OK);
		ck_assert_int_eq(mmio_batch_read(b, r, 8, 4), 0);
		ck_assert_int_eq(mmio_batch_read(b, r, 4096 + 8, 4), 1);
		status = mmio_batch_run(b, &failed);
		ck_assert_uint_eq(failed, 1);
		/* Asked now: the value of the op that did not run is refused
		 * below, and that refusal is the last error then. */
		ck_assert_int_eq(mmio_last_error(client, NULL, 0), MMIO_EREVOKED);
		ck_assert_int_eq(mmio_batch_value(b, 0, &last), MMIO_OK);
		ck_assert_uint_eq(last, 0x5A5A5A5A);
		ck_assert_int_eq(mmio_batch_value(b, 1, &last), MMIO_EINVAL);
		*done = 1;
		mmio_batch_free(b);
		return status;
	}
}

/* Bytes (ops for a batch) before byte 4096 that @path moves. */
static size_t revoked_done_want(enum revoke_path path)
{
	switch (path) {
	case RV_COPY_CALLED:
	case RV_ROWS:
	case RV_FILL:
		return 96;
	case RV_COPY_INLINE:
		return 32;
	case RV_BATCH:
		return 1;
	default:
		return 0;
	}
}

/*
 * A reload narrows the grant of a mapped window (rw to r): the access that
 * meets the revoked pages returns MMIO_EREVOKED with the exact count,
 * writes nothing past it, and the region goes on proxied under the new
 * grant, on every path a direct access can take.
 */
START_TEST(revoked_window_is_erevoked_then_proxied_on_every_path)
{
	enum revoke_path path = (enum revoke_path)_i;
	uint8_t *buf = malloc(8192);
	struct mmio_region_info info;
	mmio_region *d, *p;
	size_t done;
	uint32_t v;

	reload(POLICY_FULL);
	ck_assert_int_eq(mmio_open(client, "tw-p", MMIO_OPEN_PROXIED, &p), MMIO_OK);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
	ck_assert_int_eq(mmio_describe(d, &info), MMIO_OK);
	ck_assert_uint_eq(info.flags & MMIO_REGION_REVOCABLE, MMIO_REGION_REVOCABLE);
	ck_assert_int_eq(mmio_fill(d, 0, TWIN_SIZE, 0x5A, &done), MMIO_OK);
	mmio_close(p);

	reload(POLICY_TWD_READ);
	ck_assert(harness_log_contains("withdrew the direct window"));
	ck_assert_uint_gt(zap_mappings("tw-d", 4096), 0);
	memset(buf, 0x77, 8192);
	ck_assert_int_eq(revoked_access(d, path, buf, &done), MMIO_EREVOKED);
	ck_assert_uint_eq(done, revoked_done_want(path));
	if (path != RV_BATCH)
		ck_assert_int_eq(mmio_last_error(client, NULL, 0), MMIO_EREVOKED);
	if (path == RV_COPY_CALLED || path == RV_COPY_INLINE || path == RV_ROWS) {
		for (size_t i = 0; i < 8192; i++)
			ck_assert_uint_eq(buf[i], i < done ? 0x5A : 0x77);
	}
	/* Proxied from now on, under the narrowed grant. */
	ck_assert_int_eq(mmio_is_direct(d), 0);
	ck_assert_int_eq(mmio_read32(d, 4096 + 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x5A5A5A5A); /* nothing written past the count */
	ck_assert_int_eq((mmio_read32)(d, 4, &v), MMIO_OK);
	ck_assert_int_eq(mmio_write32(d, 8, 1), MMIO_EACCES);
	ck_assert_int_eq(mmio_read(d, 4000, buf, 8192, &done), MMIO_OK);
	ck_assert_uint_eq(done, 8192);
	for (size_t i = 0; i < 8192; i++)
		ck_assert_uint_eq(buf[i], path == RV_FILL && i < 96 ? 0xEE : 0x5A);
	mmio_close(d);
	free(buf);
}
END_TEST

/* A reload that removes the grant: MMIO_EREVOKED at the fault and for good. */
START_TEST(revoked_window_of_a_removed_grant_stays_erevoked)
{
	mmio_region *d;
	uint32_t v;
	size_t done;
	uint8_t buf[64];

	reload(POLICY_FULL);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
	ck_assert_int_eq(mmio_write32(d, 8, 0x1234), MMIO_OK);
	reload(POLICY_NO_TWD);
	ck_assert_uint_gt(zap_mappings("tw-d", 0), 0);
	ck_assert_int_eq(mmio_read32(d, 8, &v), MMIO_EREVOKED);
	ck_assert_int_eq(mmio_is_direct(d), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(mmio_read32(d, 8, &v), MMIO_EREVOKED);
		ck_assert_int_eq((mmio_write32)(d, 8, 1), MMIO_EREVOKED);
		ck_assert_int_eq(mmio_read(d, 0, buf, sizeof(buf), &done), MMIO_EREVOKED);
		ck_assert_uint_eq(done, 0);
	}
	mmio_close(d);
}
END_TEST

struct loop_reader {
	mmio_region *r;
	atomic_bool stop;
	atomic_uint ok_before, revoked, ok_after, other;
};

static void *loop_read(void *arg)
{
	struct loop_reader *lr = arg;

	while (!atomic_load(&lr->stop)) {
		uint32_t v = 0;
		int st = mmio_read32(lr->r, 4096 + 8, &v);

		if (st == MMIO_EREVOKED)
			atomic_fetch_add(&lr->revoked, 1);
		else if (st == MMIO_OK && v == 0x5A5A5A5A)
			atomic_fetch_add(atomic_load(&lr->revoked) ? &lr->ok_after : &lr->ok_before,
					 1);
		else
			atomic_fetch_add(&lr->other, 1);
	}
	return NULL;
}

/* A thread reading in a loop while the grant is narrowed and the window
 * zapped: reads succeed, then one or more MMIO_EREVOKED, then succeed
 * proxied; never MMIO_EFAULT, never a wrong value. */
START_TEST(a_reader_thread_goes_from_direct_to_proxied)
{
	struct loop_reader lr = { 0 };
	pthread_t t;
	size_t done;

	reload(POLICY_FULL);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &lr.r), MMIO_OK);
	ck_assert_int_eq(mmio_fill(lr.r, 0, TWIN_SIZE, 0x5A, &done), MMIO_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, loop_read, &lr), 0);
	usleep(50000);
	reload(POLICY_TWD_READ);
	ck_assert_uint_gt(zap_mappings("tw-d", 0), 0);
	for (int i = 0; i < 500 && atomic_load(&lr.ok_after) < 20; i++)
		usleep(10000);
	atomic_store(&lr.stop, true);
	pthread_join(t, NULL);
	ck_assert_uint_gt(atomic_load(&lr.ok_before), 0);
	ck_assert_uint_gt(atomic_load(&lr.revoked), 0);
	ck_assert_uint_ge(atomic_load(&lr.ok_after), 20);
	ck_assert_uint_eq(atomic_load(&lr.other), 0);
	ck_assert_int_eq(mmio_is_direct(lr.r), 0);
	mmio_close(lr.r);
}
END_TEST

/* A fault on the caller's buffer is not a revoke: MMIO_EFAULT, still direct. */
START_TEST(buffer_fault_on_a_window_is_not_a_revoke)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *bad = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mmio_region *d;
	size_t done;

	ck_assert_ptr_ne(bad, MAP_FAILED);
	ck_assert_int_eq(mmio_open(client, "tw-d", MMIO_OPEN_REQUIRE_DIRECT, &d), MMIO_OK);
	ck_assert_int_eq((mmio_read)(d, 0, bad, 64, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_read(d, 0, bad, 64, &done), MMIO_EFAULT);
	ck_assert_int_eq(mmio_is_direct(d), 1);
	mmio_close(d);
	munmap(bad, (size_t)page);
}
END_TEST

/* A window covers the handle's pages: one page of a region maps directly,
 * and a range that is not whole pages does not. */
START_TEST(one_page_of_a_windowed_region_is_direct)
{
	struct mmio_region_info info;
	mmio_region *d;
	uint32_t v;

	ck_assert_int_eq(mmio_open_range(client, "tw-d", 4096, 4096, MMIO_OPEN_REQUIRE_DIRECT, &d),
			 MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(d), 1);
	ck_assert_int_eq(mmio_describe(d, &info), MMIO_OK);
	ck_assert_uint_eq(info.flags & MMIO_REGION_REVOCABLE, MMIO_REGION_REVOCABLE);
	ck_assert_int_eq(mmio_write32(d, 4092, 0xC0DE), MMIO_OK);
	ck_assert_int_eq(mmio_read32(d, 4096, &v), MMIO_EINVAL);
	mmio_close(d);
	ck_assert_int_eq(
		mmio_open_range(client, "tw-d", 8192 + 8, 4096, MMIO_OPEN_REQUIRE_DIRECT, &d),
		MMIO_EACCES);
	ck_assert_int_eq(mmio_open_range(client, "tw-d", 4096, 4096, MMIO_OPEN_PROXIED, &d),
			 MMIO_OK);
	ck_assert_int_eq(mmio_read32(d, 4092, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xC0DE);
	mmio_close(d);
}
END_TEST

int harness_child_main(const char *role)
{
	(void)role;
	return 99;
}

static Suite *direct_suite(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("libmmio-direct");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, direct_where_granted_proxied_otherwise);
	tcase_add_test(tc, direct_refusals_say_why_like_proxied);
	tcase_add_test(tc, register_grant_is_proxied_and_checked_alike_on_every_path);
	tcase_add_loop_test(tc, copies_take_the_widest_allowed_width, 0,
			    (int)(sizeof(width_cases) / sizeof(width_cases[0])));
	tcase_add_test(tc, polls_at_every_width);
	tcase_add_test(tc, strided_rows_proxied_and_direct);
	tcase_add_test(tc, read_only_grant_maps_read_only);
	tcase_add_test(tc, once_ops_refuse_null_inline_and_called);
	tcase_add_test(tc, once_ops_inline_reach_the_library_only_when_refused);
	tcase_add_test(tc, inline_once_ops_on_slices_read_at_their_base);
	tcase_add_test(tc, inline_once_ops_read_the_view_at_each_access);
	tcase_add_test(tc, direct_views_lie_at_a_fixed_distance_from_their_handles);
	tcase_add_test(tc, views_past_eight_in_a_cache_set_are_inline_through_their_base);
	tcase_add_test(tc, a_descriptor_taken_from_the_library_is_left_alone);
	tcase_add_test(tc, inline_copies_equal_library_copies);
	tcase_add_test(tc, inline_layout_larger_than_the_library_s_is_refused);
	tcase_add_test(tc, inline_window_elsewhere_is_refused);
	tcase_add_test(tc, inline_table_past_the_limit_is_reported);
	tcase_add_test(tc, differential_proxied_equals_direct);
	tcase_add_test(tc, differential_pinned_width);
	tcase_add_test(tc, differential_read_only);
	tcase_add_test(tc, direct_poll_waits_and_times_out_like_proxied);
	tcase_add_test(tc, fault_under_mapping_reports_what_proxied_reports);
	tcase_add_test(tc, inline_copies_fault_like_the_library);
	tcase_add_test(tc, close_and_disconnect_release_exclusive_mapping);
	tcase_add_test(tc, lost_server_makes_direct_calls_econn);
	tcase_add_test(tc, stopped_server_ends_a_mailbox_poll_with_econn);
	tcase_add_test(tc, refused_mailbox_leaves_no_buffer_behind);
	tcase_add_test(tc, mailbox_timeout_closes_the_connection);
	tcase_add_test(tc, sigterm_under_load_stops_within_seconds);
	tcase_add_test(tc, reload_revoking_a_mapped_grant_logs_the_holder);
	tcase_add_test(tc, reload_narrowing_a_mapped_grant_revokes_it);
	tcase_add_test(tc, mixed_batches_equal_all_proxied);
	suite_add_tcase(s, tc);

	tc = tcase_create("windows");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup_windows, teardown);
	tcase_add_loop_test(tc, revoked_window_is_erevoked_then_proxied_on_every_path, 0, RV_PATHS);
	tcase_add_test(tc, revoked_window_of_a_removed_grant_stays_erevoked);
	tcase_add_test(tc, a_reader_thread_goes_from_direct_to_proxied);
	tcase_add_test(tc, buffer_fault_on_a_window_is_not_a_revoke);
	tcase_add_test(tc, one_page_of_a_windowed_region_is_direct);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, direct_suite);
}
