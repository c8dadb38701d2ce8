/* SPDX-License-Identifier: MIT */
/*
 * libmmio against a real mmio-server: the API a driver author uses, end to
 * end, and a concurrency campaign of client processes whose every result is
 * checked against a model of the device memory.
 */
#include "server_harness.h"

#include <mmio/client.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS	       8
#define OPS_PER_WORKER 10000
#define SLICE	       8192u /* each worker's private range */

static const char policy[] = "version: 1\n"
			     "server:\n"
			     "  listen: \"%SOCK%\"\n"
			     "  socket_mode: \"0666\"\n"
			     "  max_message: 64KiB\n"
			     "regions:\n"
			     "  - name: private\n"
			     "    sim: true\n"
			     "    size: 64KiB\n"
			     "  - name: shared\n"
			     "    sim: true\n"
			     "    size: 4KiB\n"
			     "  - name: big\n"
			     "    sim: true\n"
			     "    size: 1MiB\n"
			     "  - name: ro\n"
			     "    sim: true\n"
			     "    size: 4KiB\n"
			     "  - name: narrow\n"
			     "    sim: true\n"
			     "    size: 4KiB\n"
			     "clients:\n"
			     "  - name: root\n"
			     "    uid: 0\n"
			     "    grants:\n"
			     "      - region: private\n"
			     "        access: rw\n"
			     "        ops: [once, bulk, fill, poll]\n"
			     "      - region: shared\n"
			     "        access: rw\n"
			     "        ops: [once, bulk, fill, poll]\n"
			     "      - region: big\n"
			     "        access: rw\n"
			     "        ops: [once, bulk, fill, map]\n"
			     "      - region: ro\n"
			     "        access: r\n"
			     "        ops: [once]\n"
			     "      - region: narrow\n"
			     "        access: rw\n"
			     "        ops: [once]\n"
			     "        widths: [2]\n";

static mmio_client *client;

static void setup(void)
{
	harness_init();
	harness_policy(policy);
	/* Faults are injected by shrinking the server's sim memory. */
	setenv("MMIO_SIM_RESIZABLE", "1", 1);
	harness_server_start();
	ck_assert_int_eq(mmio_connect(H.url, &client), MMIO_OK);
}

static void teardown(void)
{
	mmio_disconnect(client);
	harness_cleanup();
}

/* ------------------------------------------------------------------------- */

START_TEST(api_basics_match_the_contract)
{
	mmio_region *r, *s;
	uint64_t v64;
	uint32_t v32;
	uint8_t v8;
	size_t done = 99;

	ck_assert_int_eq(mmio_open(client, "private", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_uint_eq(mmio_size(r), 64 * 1024);
	ck_assert_int_eq(mmio_is_direct(r), 0);
	ck_assert_int_eq(mmio_write64(r, 8, 0x1122334455667788ull), MMIO_OK);
	ck_assert_int_eq(mmio_read64(r, 8, &v64), MMIO_OK);
	ck_assert_uint_eq(v64, 0x1122334455667788ull);
	ck_assert_int_eq(mmio_read8(r, 15, &v8), MMIO_OK);
	ck_assert_uint_eq(v8, 0x11);
	ck_assert_int_eq(mmio_read32(r, 9, &v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(r, SIZE_MAX - 3, &v32), MMIO_EINVAL);

	/* A slice: offsets relative to it, bounded by it. */
	ck_assert_int_eq(mmio_slice(r, 8, 8, &s), MMIO_OK);
	ck_assert_int_eq(mmio_read32(s, 4, &v32), MMIO_OK);
	ck_assert_uint_eq(v32, 0x11223344);
	ck_assert_int_eq(mmio_read32(s, 8, &v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(r, 64 * 1024 - 4, 8, &s), MMIO_EINVAL);
	mmio_close(s);

	/* Fill semantics through the library. */
	ck_assert_int_eq(mmio_fill(r, 64 * 1024 - 3, 10, 0xEE, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 3);
	ck_assert_int_eq(mmio_fill(r, 64 * 1024, 0, 0xEE, &done), MMIO_OK);

	/* Poll: a value already there, and one that never comes. */
	ck_assert_int_eq(mmio_poll32(r, 8, 0xFF, 0x88, 1000, &v32), MMIO_OK);
	ck_assert_int_eq(mmio_poll32(r, 8, 0xFF, 0x00, 20000, &v32), MMIO_ETIMEDOUT);
	ck_assert_uint_eq(v32, 0x55667788);
	mmio_close(r);

	/* Statuses of the policy. */
	ck_assert_int_eq(mmio_open(client, "nonesuch", 0, &r), MMIO_ENOENT);
	ck_assert_int_eq(mmio_open(client, "ro", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 0, 1), MMIO_EACCES);
	ck_assert_int_eq(mmio_read(r, 0, &v64, 8, &done), MMIO_EACCES);
	mmio_close(r);
	ck_assert_int_eq(mmio_open_range(client, "ro", 4096, 4, 0, &r), MMIO_EACCES);
	/* No `map` in any grant: direct falls back, require-direct is refused. */
	ck_assert_int_eq(mmio_open(client, "private", MMIO_OPEN_DIRECT, &r), MMIO_OK);
	ck_assert_int_eq(mmio_is_direct(r), 0);
	mmio_close(r);
	ck_assert_int_eq(mmio_open(client, "private", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_EACCES);
}
END_TEST

/* Interrupts are PCI functions': a sim-only server refuses them, by the
 * contract's statuses, and the connection goes on. */
START_TEST(irq_refusals_match_the_contract)
{
	char name[200];
	mmio_irq *irq = (mmio_irq *)&name;
	mmio_region *r;
	uint64_t count = 7;
	uint32_t v32;

	ck_assert_int_eq(mmio_irq_open(client, "private", &irq), MMIO_EACCES);
	ck_assert_ptr_null(irq);
	ck_assert_int_eq(mmio_irq_open(client, "nonesuch", &irq), MMIO_ENOENT);
	ck_assert_ptr_null(irq);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(mmio_irq_open(client, name, &irq), MMIO_EINVAL);
	ck_assert_int_eq(mmio_irq_open(NULL, "private", &irq), MMIO_EINVAL);
	ck_assert_int_eq(mmio_irq_open(client, NULL, &irq), MMIO_EINVAL);
	ck_assert_int_eq(mmio_irq_open(client, "private", NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_irq_fd(NULL), -1);
	ck_assert_int_eq(mmio_irq_wait(NULL, 0, &count), MMIO_EINVAL);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(mmio_irq_unmask(NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_irq_is_msi(NULL), MMIO_EINVAL);
	mmio_irq_close(NULL);

	ck_assert_int_eq(mmio_open(client, "private", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_int_eq(mmio_write32(r, 0, 0x12345678), MMIO_OK);
	ck_assert_int_eq(mmio_read32(r, 0, &v32), MMIO_OK);
	ck_assert_uint_eq(v32, 0x12345678);
	mmio_close(r);
}
END_TEST

/* Copies larger than one message are split by the library, transparently. */
START_TEST(bulk_larger_than_a_message)
{
	size_t len = 700 * 1024 + 5, done = 0;
	uint8_t *out = malloc(len), *in = malloc(len);
	mmio_region *r;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 31 + (i >> 9));
	ck_assert_int_eq(mmio_open(client, "big", 0, &r), MMIO_OK);
	ck_assert_int_eq(mmio_write(r, 3, out, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	memset(in, 0, len);
	ck_assert_int_eq(mmio_read(r, 3, in, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	ck_assert_mem_eq(in, out, len);
	/* Past the end: refused whole, nothing moved. */
	ck_assert_int_eq(mmio_read(r, (1u << 20) - 100, in, 101, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_fill(r, 0, 1u << 20, 0, &done), MMIO_OK);
	ck_assert_uint_eq(done, 1u << 20);
	mmio_close(r);
	free(out);
	free(in);
}
END_TEST

/* A device fault in the middle of a split copy: the exact total. */
START_TEST(fault_across_chunks_reports_exact_total)
{
	size_t len = 300 * 1024, done = 0;
	uint8_t *in = malloc(len);
	int fd = harness_sim_fd("big");
	mmio_region *r;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mmio_open(client, "big", 0, &r), MMIO_OK);
	ck_assert_int_eq(ftruncate(fd, 200 * 1024), 0);
	ck_assert_int_eq(mmio_read(r, 16, in, len, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 200 * 1024 - 16);
	ck_assert_int_eq(mmio_fill(r, 100 * 1024, len, 1, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 100 * 1024);
	ck_assert_int_eq(ftruncate(fd, 1u << 20), 0);
	mmio_close(r);
	close(fd);
	free(in);
}
END_TEST

/* ------------------------------------------------------------------------
 * The programs: mmio-load (concurrency against a model), mmioctl, the
 * example driver.
 * ------------------------------------------------------------------------ */

/* Run "@tool -s URL @args" (or "@tool URL @args" without -s); capture stdout+stderr. */
static int run_tool(char *out, size_t outlen, const char *tool, bool dash_s, const char *args)
{
	char cmd[1024], line[512];
	size_t used = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' %s'%s' %s", tool, dash_s ? "-s " : "", H.url, args);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	out[0] = '\0';
	while (fgets(line, sizeof(line), p)) {
		size_t n = strlen(line);
		if (used + n < outlen) {
			memcpy(out + used, line, n + 1);
			used += n;
		}
	}
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * WORKERS client processes x OPS_PER_WORKER mixed operations at once, every
 * result against a model (bench/mmio-load.c, run small): exit 0 means no
 * mismatch and no unexpected status. Then nothing they opened remains.
 */
START_TEST(concurrent_clients_match_the_model)
{
	char out[4096], args[256];
	mmio_region *r;
	uint32_t clients;

	snprintf(args, sizeof(args), "--workers %d --ops %d --slice %u --server-pid %d", WORKERS,
		 OPS_PER_WORKER, SLICE, (int)H.server);
	ck_assert_msg(run_tool(out, sizeof(out), MMIO_LOAD_BIN, true, args) == 0, "%s", out);
	ck_assert_msg(strstr(out, "mismatches 0, unexpected statuses 0"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "80000 operations"));
	/* Everything they opened is released. */
	ck_assert_int_eq(mmio_open(client, "private", 0, &r), MMIO_OK);
	mmio_close(r);
	struct rawc c;
	rawc_open(&c);
	for (int i = 0; i < 100 && rawc_stat(&c, PROTO_STAT_HANDLES) != 0; i++)
		usleep(20000);
	ck_assert_uint_eq(rawc_stat(&c, PROTO_STAT_HANDLES), 0);
	clients = (uint32_t)rawc_stat(&c, PROTO_STAT_CLIENTS);
	ck_assert_uint_le(clients, 2);
	rawc_close(&c);
}
END_TEST

/* mmioctl as an admin uses it: devmem-style output, status names on errors. */
START_TEST(mmioctl_reads_writes_and_names_errors)
{
	char out[4096];

	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true,
				  "write private 0x10 32 0xC0FFEE"),
			 0);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0x10"),
			 0);
	ck_assert_str_eq(out, "0x00C0FFEE\n");
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0x10 8"),
			 0);
	ck_assert_str_eq(out, "0xEE\n");
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read nonesuch 0"), 1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_ENOENT"));
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0x11 32"),
			 1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_EINVAL"));
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "write ro 0 32 1"), 1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_EACCES"));
	/* Usage errors: a width that is not one access, junk in a number. */
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0 12"),
			 2);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0x1g"),
			 2);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "list"), 0);
	ck_assert_ptr_nonnull(strstr(out, "private"));
	ck_assert_ptr_nonnull(strstr(out, "shared"));
}
END_TEST

/* mmioctl poll at each width: the last value printed, on success and on a
 * timeout (exit 1, MMIO_ETIMEDOUT); usage errors for a bad width or mask. */
START_TEST(mmioctl_polls_at_every_width)
{
	static const char *const ok[] = {
		"poll private 0x20 8 0xff 0x11",
		"poll private 0x20 16 0xffff 0x2211",
		"poll private 0x20 32 0xff00 0x2200",
		"poll private 0x20 64 0xffffffffffffffff 0x8877665544332211 1000",
	};
	static const char *const printed[] = { "0x11\n", "0x2211\n", "0x44332211\n",
					       "0x8877665544332211\n" };
	char out[4096];

	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true,
				  "write private 0x20 64 0x8877665544332211"),
			 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, ok[i]) == 0, "%s",
			      out);
		ck_assert_str_eq(out, printed[i]);
	}
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true,
				  "poll private 0x20 16 0xffff 0x1234 2000"),
			 1);
	ck_assert_ptr_nonnull(strstr(out, "0x2211\n"));
	ck_assert_ptr_nonnull(strstr(out, "MMIO_ETIMEDOUT"));
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "poll private 0x21 16 0xffff 0"),
		1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_EINVAL"));
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "poll private 0x20 8 0x100 0"),
		2);
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "poll private 0x20 24 1 0"), 2);
}
END_TEST

/* A user who may not reach the socket (here the scratch directory, 0700)
 * is told so at once, with the path, not after the connect budget. */
START_TEST(mmioctl_says_the_socket_is_not_ours_at_once)
{
	char cmd[1024], out[4096] = "";
	struct timespec t0, t1;
	struct stat st;
	size_t n;
	FILE *p;

	ck_assert_int_eq(stat(H.dir, &st), 0);
	ck_assert_int_eq(chmod(H.dir, 0700), 0);
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=65534 --regid=65534 --clear-groups '%s' -s '%s' list 2>&1",
		 MMIO_MMIOCTL_BIN, H.url);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	ck_assert_int_eq(WEXITSTATUS(pclose(p)), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	ck_assert_msg(strstr(out, "MMIO_EACCES") && strstr(out, H.sock) &&
			      strstr(out, "permission denied"),
		      "%s", out);
	ck_assert_int_eq(chmod(H.dir, st.st_mode & 07777), 0);
}
END_TEST

/* Every refusal says why, in words a user can act on; a read or write
 * without a width takes the grant's only one. */
START_TEST(mmioctl_says_why_it_was_refused)
{
	static const struct {
		const char *args, *says;
	} refused[] = {
		{ "read narrow 0x10 32", "mmioctl: read narrow 0x10: MMIO_EINVAL: a 4-byte access; "
					 "the grant allows 2-byte "
					 "accesses only\n" },
		{ "write narrow 0x10 8 1", "mmioctl: write narrow 0x10: MMIO_EINVAL: a 1-byte "
					   "access; the grant allows 2-byte "
					   "accesses only\n" },
		{ "dump ro 0 16",
		  "mmioctl: dump ro 0x0: MMIO_EACCES: the grant has no `bulk` op (mmio_read needs "
		  "it)\n" },
		{ "fill narrow 0 16", "mmioctl: fill narrow 0x0: MMIO_EACCES: the grant has no "
				      "`fill` op (mmio_fill needs "
				      "it)\n" },
		{ "write ro 0 32 1", "mmioctl: write ro 0x0: MMIO_EACCES: the grant gives no write "
				     "access (mmio_write8/16/32/64 needs it)\n" },
		{ "read private 0x11 32",
		  "mmioctl: read private 0x11: MMIO_EINVAL: offset 0x11 of the region is not a "
		  "multiple of 4 (a 4-byte access must be aligned)\n" },
		/* Refusals of an OPEN, of a mapping and of the server's limits. */
		{ "read nosuch 0 32", "MMIO_ENOENT: no region of that name is granted to this "
				      "client (`mmioctl list` shows the regions it may open)\n" },
		{ "-d read ro 0 32", "MMIO_EACCES: the grant has no `map` op (mmio_open with "
				     "MMIO_OPEN_REQUIRE_DIRECT needs it)\n" },
		{ "-d dump big 0x10 0x100000", "mmioctl: dump big 0x10: MMIO_EINVAL: the access "
					       "ends at offset 0x100010 of the handle, past its "
					       "0x100000 bytes\n" },
		{ "dump private 0 0x20000",
		  "mmioctl: dump private 0x0: MMIO_EACCES: no grant holds "
		  "that range of the region; one holds [0x0, 0x10000)\n" },
	};
	char out[4096];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		ck_assert_int_eq(
			run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, refused[i].args), 1);
		ck_assert_msg(strstr(out, refused[i].says), "mmioctl %s: %s", refused[i].args, out);
	}
	/* No width given: the grant's one width (16 bits), not 32. */
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "write narrow 0x10 0xBEEF"), 0);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read narrow 0x10"), 0);
	ck_assert_str_eq(out, "0xBEEF\n");
	/* A value too wide for that width is a usage error, nothing written. */
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "write narrow 0x10 0x10000"), 2);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read narrow 0x10 16"),
			 0);
	ck_assert_str_eq(out, "0xBEEF\n");
	/* Several widths: 32 as before. */
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "read private 0x10"),
			 0);
	ck_assert_uint_eq(strlen(out), strlen("0x00000000\n"));
}
END_TEST

/* save/load: a file into the region through messages and back out through
 * a mapping (-d), and the other way round, byte for byte. */
START_TEST(mmioctl_save_load_both_modes)
{
	char out[4096], args[512], in[128], back[128];
	uint8_t *a, *b;
	FILE *f;

	snprintf(in, sizeof(in), "%s/in.bin", H.dir);
	snprintf(back, sizeof(back), "%s/back.bin", H.dir);
	f = fopen(in, "wb");
	ck_assert_ptr_nonnull(f);
	for (unsigned i = 0; i < 300001; i++)
		fputc((int)((i * 2654435761u) >> 13) & 0xff, f);
	ck_assert_int_eq(fclose(f), 0);
	a = malloc(300001);
	b = malloc(300001);
	for (int dir = 0; dir < 2; dir++) {
		snprintf(args, sizeof(args), "%sload big 0x7 '%s'", dir ? "" : "-d ", in);
		ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, args), 0);
		snprintf(args, sizeof(args), "%ssave big 0x7 300001 '%s'", dir ? "-d " : "", back);
		ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, args), 0);
		f = fopen(in, "rb");
		ck_assert_uint_eq(fread(a, 1, 300001, f), 300001);
		fclose(f);
		f = fopen(back, "rb");
		ck_assert_uint_eq(fread(b, 1, 300001, f), 300001);
		ck_assert_int_eq(fgetc(f), EOF);
		fclose(f);
		ck_assert(memcmp(a, b, 300001) == 0);
		unlink(back);
	}
	free(a);
	free(b);
	/* Past the end: the count moved, then the status. */
	snprintf(args, sizeof(args), "load big 0xFFFF0 '%s'", in);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, args), 1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_EACCES"));
	/* -d where the grant has no map. */
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "-d read private 0"),
			 1);
	ck_assert_ptr_nonnull(strstr(out, "MMIO_EACCES"));
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "save big 0 0 x"), 2);
	ck_assert_int_eq(
		run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "load big 0 /nonexistent/file"),
		1);
	ck_assert_ptr_nonnull(strstr(out, "/nonexistent/file"));
}
END_TEST

/* The example driver in client/examples runs clean against a real server. */
START_TEST(example_driver_runs)
{
	char out[8192];

	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_SIM_DRIVER_BIN, false, "private"), 0);
}
END_TEST

int harness_child_main(const char *role)
{
	(void)role;
	return 99;
}

/* ------------------------------------------------------------------------
 * A pci region on a sysfs tree of the test's own (MMIO_SYSFS_ROOT): QEMU's
 * VGA at 00:02.0 and a bochs-display at 00:07.0, both 1234:1111.
 * ------------------------------------------------------------------------ */

static const char pci_policy[] = "version: 1\n"
				 "server:\n"
				 "  listen: \"%SOCK%\"\n"
				 "regions:\n"
				 "  - name: bochs\n"
				 "    pci_id: \"1234:1111\"\n"
				 "    pci_index: 1\n"
				 "    bar: 0\n"
				 "    offset: 0x1000\n"
				 "    size: 0x1000\n"
				 "clients:\n"
				 "  - name: root\n"
				 "    uid: 0\n"
				 "    grants:\n"
				 "      - region: bochs\n"
				 "        access: rw\n"
				 "        ops: [once, bulk]\n"
				 "        widths: [4]\n";

/* @text into @dir/@name, the directories made. */
static void put_file(const char *dir, const char *name, const char *text, size_t size)
{
	char path[256], cmd[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(cmd), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	if (size)
		ck_assert_int_eq(truncate(path, (off_t)size), 0);
}

static void setup_pci(void)
{
	static const char *const fns[] = { "0000:00:02.0", "0000:00:07.0" };
	static const char *const bars[] = { "0x00000000fd000000 0x00000000fd00ffff",
					    "0x00000000fc000000 0x00000000fc00ffff" };
	char sys[96], file[96], resource[512];

	harness_init();
	snprintf(sys, sizeof(sys), "%s/sys", H.dir);
	for (int i = 0; i < 2; i++) {
		snprintf(file, sizeof(file), "bus/pci/devices/%s/vendor", fns[i]);
		put_file(sys, file, "0x1234\n", 0);
		snprintf(file, sizeof(file), "bus/pci/devices/%s/device", fns[i]);
		put_file(sys, file, "0x1111\n", 0);
		snprintf(resource, sizeof(resource), "%s 0x0000000000040200\n", bars[i]);
		for (int b = 1; b < 6; b++)
			strcat(resource,
			       "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
		snprintf(file, sizeof(file), "bus/pci/devices/%s/resource", fns[i]);
		put_file(sys, file, resource, 0);
		snprintf(file, sizeof(file), "bus/pci/devices/%s/resource0", fns[i]);
		put_file(sys, file, "", 64 * 1024);
	}
	setenv("MMIO_SYSFS_ROOT", sys, 1);
	harness_policy(pci_policy);
	harness_server_start();
	ck_assert_int_eq(mmio_connect(H.url, &client), MMIO_OK);
}

static void teardown_pci(void)
{
	unsetenv("MMIO_SYSFS_ROOT");
	teardown();
}

/* The function, BAR and physical range a region resolved to: in the
 * server's log, mmio_describe() (of a handle and of part of it) and
 * mmioctl list -v. */
START_TEST(pci_region_says_where_it_lies)
{
	struct mmio_region_info info;
	mmio_region *r;
	char out[4096];

	ck_assert_msg(harness_log_contains("at 0000:00:07.0 BAR0, phys [0xfc001000, 0xfc002000)"),
		      "no line for bochs in the server's log");
	ck_assert_int_eq(mmio_open(client, "bochs", MMIO_OPEN_PROXIED, &r), MMIO_OK);
	ck_assert_int_eq(mmio_describe(r, &info), MMIO_OK);
	ck_assert_str_eq(info.where, "0000:00:07.0 BAR0");
	ck_assert_uint_eq(info.phys, 0xfc001000u);
	ck_assert_uint_eq(info.bulk_width, 4);
	mmio_close(r);
	ck_assert_int_eq(mmio_open_range(client, "bochs", 0x100, 0x100, 0, &r), MMIO_OK);
	ck_assert_int_eq(mmio_describe(r, &info), MMIO_OK);
	ck_assert_uint_eq(info.phys, 0xfc001100u);
	mmio_close(r);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "list -v"), 0);
	ck_assert_msg(strstr(out, "BULK") && strstr(out, "WHERE") &&
			      strstr(out, "0000:00:07.0 BAR0 [0xfc001000, 0xfc002000)"),
		      "%s", out);
	ck_assert_int_eq(run_tool(out, sizeof(out), MMIO_MMIOCTL_BIN, true, "list"), 0);
	ck_assert_ptr_null(strstr(out, "WHERE"));
}
END_TEST

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("libmmio");

	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, api_basics_match_the_contract);
	tcase_add_test(tc, irq_refusals_match_the_contract);
	tcase_add_test(tc, bulk_larger_than_a_message);
	tcase_add_test(tc, fault_across_chunks_reports_exact_total);
	tcase_add_test(tc, concurrent_clients_match_the_model);
	tcase_add_test(tc, mmioctl_reads_writes_and_names_errors);
	tcase_add_test(tc, mmioctl_polls_at_every_width);
	tcase_add_test(tc, mmioctl_says_the_socket_is_not_ours_at_once);
	tcase_add_test(tc, mmioctl_says_why_it_was_refused);
	tcase_add_test(tc, mmioctl_save_load_both_modes);
	tcase_add_test(tc, example_driver_runs);
	suite_add_tcase(s, tc);

	tc = tcase_create("pci");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_pci, teardown_pci);
	tcase_add_test(tc, pci_region_says_where_it_lies);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, e2e_suite);
}
