/* SPDX-License-Identifier: MIT */
/*
 * mmio-server, end to end at the protocol level: a real server process on a
 * sim policy, real client processes speaking the wire protocol (no libmmio),
 * other uids by fork + setuid, real faults by shrinking the server's memfd
 * from outside, and hostile peers.
 */
#include "server_harness.h"

#include "channel.h" /* cli_channel_attach(): hand a buffer over */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static const char policy_main[] = "version: 1\n"
				  "server:\n"
				  "  listen: \"%SOCK%\"\n"
				  "  socket_mode: \"0666\"\n"
				  "  max_message: 64KiB\n"
				  "  limits:\n"
				  "    max_poll_us: 3000000\n"
				  "    max_handles: 6\n"
				  "    max_buffers: 3\n"
				  "    max_buffer_bytes: 32KiB\n"
				  "    ungranted_sessions: 2\n"
				  "regions:\n"
				  "  - name: scratch\n"
				  "    sim: true\n"
				  "    size: 64KiB\n"
				  "  - name: regs\n"
				  "    sim: true\n"
				  "    size: 0x1000\n"
				  "  - name: excl\n"
				  "    sim: true\n"
				  "    size: 0x1000\n"
				  "  - name: keys\n"
				  "    sim: true\n"
				  "    size: 0x100\n"
				  "    sensitive: true\n"
				  "  - name: other\n"
				  "    sim: true\n"
				  "    size: 0x1000\n"
				  "  - name: mapme\n"
				  "    sim: true\n"
				  "    size: 8KiB\n"
				  "  - name: mapro\n"
				  "    sim: true\n"
				  "    size: 4KiB\n"
				  "clients:\n"
				  "  - name: root\n"
				  "    uid: 0\n"
				  "    grants:\n"
				  "      - region: scratch\n"
				  "        access: rw\n"
				  "        ops: [once, bulk, fill, poll]\n"
				  "      - region: regs\n"
				  "        offset: 0x100\n"
				  "        size: 0x100\n"
				  "        access: r\n"
				  "        ops: [once, poll]\n"
				  "        widths: [4]\n"
				  "      - region: excl\n"
				  "        access: rw\n"
				  "        ops: [once]\n"
				  "        exclusive: true\n"
				  "      - region: keys\n"
				  "        access: r\n"
				  "        ops: [once]\n"
				  "      - region: mapme\n"
				  "        access: rw\n"
				  "        ops: [once, map]\n"
				  "      - region: mapro\n"
				  "        access: r\n"
				  "        ops: [once, map]\n"
				  "  - name: driver\n"
				  "    uid: 1000\n"
				  "    grants:\n"
				  "      - region: other\n"
				  "        access: rw\n"
				  "        ops: [once]\n"
				  "      - region: mapro\n"
				  "        access: r\n"
				  "        ops: [once, map]\n";

static struct rawc C;
static uint32_t scratch;

static void setup(void)
{
	harness_init();
	harness_policy(policy_main);
	/* Faults are injected by shrinking the server's sim memory. */
	setenv("MMIO_SIM_RESIZABLE", "1", 1);
	harness_server_start();
	rawc_open(&C);
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, PROTO_LEN_TO_END, &scratch, NULL),
			 MMIO_OK);
}

static void teardown(void)
{
	rawc_close(&C);
	harness_cleanup();
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait up to @ms for the server's open-handle count to reach @want. */
static bool handles_reach(struct rawc *c, uint64_t want, unsigned ms)
{
	for (uint64_t end = now_ms() + ms; now_ms() < end; usleep(20000)) {
		if (rawc_stat(c, PROTO_STAT_HANDLES) == want)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------- */

START_TEST(ready_hello_list)
{
	struct proto_request rq = { .opcode = PROTO_OP_HELLO };
	struct proto_reply rep;
	struct proto_list_iter it;
	struct proto_list_entry e;
	const char *want[] = { "scratch", "regs", "excl", "keys", "mapme", "mapro" };
	unsigned n = 0;

	rq.hello.min_version = 1;
	rq.hello.max_version = 7;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.hello.version, 2);
	ck_assert_uint_eq(rep.hello.max_message, 64 * 1024);

	rq.hello.min_version = 3;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EVERSION);

	rq = (struct proto_request){ .opcode = PROTO_OP_LIST };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.list.count, 6);
	proto_list_iter_init(&it, &rep.list);
	while (proto_list_iter_next(&it, &e)) {
		ck_assert_str_eq(e.name, want[n]);
		if (n == 1) {
			ck_assert_uint_eq(e.size, 0x100);
			ck_assert_uint_eq(e.access, MMIO_ACCESS_READ);
			ck_assert_uint_eq(e.widths, 4);
		}
		if (n == 3)
			ck_assert_uint_eq(e.flags & MMIO_REGION_SENSITIVE, MMIO_REGION_SENSITIVE);
		n++;
	}
	ck_assert_uint_eq(n, 6);
}
END_TEST

START_TEST(once_ops_every_width)
{
	static const unsigned widths[] = { 1, 2, 4, 8 };
	uint64_t v;

	for (unsigned i = 0; i < 4; i++) {
		unsigned w = widths[i];
		uint64_t value = 0x8877665544332211ull & (w == 8 ? ~0ull : ((1ull << (8 * w)) - 1));

		ck_assert_int_eq(rawc_write_once(&C, scratch, 0x40 + 8 * i, w, value), MMIO_OK);
		ck_assert_int_eq(rawc_read_once(&C, scratch, 0x40 + 8 * i, w, &v), MMIO_OK);
		ck_assert_uint_eq(v, value);
		if (w > 1) {
			ck_assert_int_eq(rawc_read_once(&C, scratch, 0x41, w, &v), MMIO_EINVAL);
			ck_assert_int_eq(rawc_write_once(&C, scratch, 0x41, w, 0), MMIO_EINVAL);
		}
		ck_assert_int_eq(rawc_read_once(&C, scratch, 64 * 1024 - w, w, &v), MMIO_OK);
		ck_assert_int_eq(rawc_read_once(&C, scratch, 64 * 1024, w, &v), MMIO_EINVAL);
		ck_assert_int_eq(
			rawc_read_once(&C, scratch, UINT64_MAX & ~(uint64_t)(w - 1), w, &v),
			MMIO_EINVAL);
	}
	/* Little-endian lanes, seen through a narrower read. */
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0x58 + 2, 2, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x4433);
	/* A stale handle id. */
	ck_assert_int_eq(rawc_read_once(&C, scratch + 1000, 0, 4, &v), MMIO_EINVAL);
}
END_TEST

START_TEST(bulk_copy_and_fill)
{
	struct proto_request rq = { .opcode = PROTO_OP_WRITE };
	struct proto_reply rep;
	uint8_t data[1000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 7);
	rq.write.handle = scratch;
	rq.write.offset = 0x1003;
	rq.write.data = data;
	rq.write.len = sizeof(data);
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.done, sizeof(data));

	rq = (struct proto_request){ .opcode = PROTO_OP_READ };
	rq.read.handle = scratch;
	rq.read.offset = 0x1003;
	rq.read.len = sizeof(data);
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.done, sizeof(data));
	ck_assert_mem_eq(rep.read.data, data, sizeof(data));

	/* Past the end: nothing moves. Larger than a reply can carry: refused. */
	rq.read.offset = 64 * 1024 - 10;
	rq.read.len = 11;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	ck_assert_uint_eq(rep.done, 0);
	rq.read.offset = 0;
	rq.read.len = 64 * 1024;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);

	/* Fill: short at the limit, with the count written. */
	rq = (struct proto_request){ .opcode = PROTO_OP_FILL };
	rq.fill.handle = scratch;
	rq.fill.offset = 64 * 1024 - 16;
	rq.fill.len = 100;
	rq.fill.byte = 0xA5;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	ck_assert_uint_eq(rep.done, 16);
	rq.fill.offset = 64 * 1024;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	ck_assert_uint_eq(rep.done, 0);
	rq.fill.len = 0;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);

	rq = (struct proto_request){ .opcode = PROTO_OP_READ };
	rq.read.handle = scratch;
	rq.read.offset = 64 * 1024 - 17;
	rq.read.len = 17;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_uint_eq(((const uint8_t *)rep.read.data)[0], 0);
	for (int i = 1; i < 17; i++)
		ck_assert_uint_eq(((const uint8_t *)rep.read.data)[i], 0xA5);
}
END_TEST

START_TEST(poll_match_timeout_width)
{
	struct proto_request rq = { .opcode = PROTO_OP_POLL };
	struct proto_reply rep;
	uint32_t regs;
	uint64_t t0;

	ck_assert_int_eq(rawc_write_once(&C, scratch, 0x20, 4, 0x80000001), MMIO_OK);
	rq.poll.handle = scratch;
	rq.poll.offset = 0x20;
	rq.poll.width = 4;
	rq.poll.mask = 0x80000000;
	rq.poll.want = 0x80000000;
	rq.poll.timeout_us = 1000000;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.poll.value, 0x80000001);

	rq.poll.want = 0;
	rq.poll.timeout_us = 30000;
	t0 = now_ms();
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_ETIMEDOUT);
	ck_assert_uint_eq(rep.poll.value, 0x80000001);
	ck_assert_uint_ge(now_ms() - t0, 30);

	/* regs allows 4-byte accesses only. */
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	rq.poll.handle = regs;
	rq.poll.offset = 0;
	rq.poll.width = 2;
	rq.poll.mask = 0;
	rq.poll.want = 0;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	rq.poll.width = 4;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
}
END_TEST

struct poller {
	atomic_int done;
	int status;
};

static void *poll_long(void *arg)
{
	struct poller *p = arg;
	struct proto_request rq = { .opcode = PROTO_OP_POLL };
	struct proto_reply rep;
	struct rawc c;
	uint32_t h;

	rawc_open(&c);
	rawc_open_region(&c, "scratch", 0, PROTO_LEN_TO_END, &h, NULL);
	rq.poll.handle = h;
	rq.poll.offset = 0x30;
	rq.poll.width = 4;
	rq.poll.mask = 0xFF;
	rq.poll.want = 0x42;
	rq.poll.timeout_us = 2000000;
	rawc_call(&c, &rq, &rep);
	p->status = rep.status;
	atomic_store(&p->done, 1);
	rawc_close(&c);
	return NULL;
}

/* A client waiting in POLL does not hold up another client's requests. */
START_TEST(poll_does_not_block_others)
{
	struct poller p = { 0 };
	pthread_t t;
	uint64_t v;

	ck_assert_int_eq(rawc_write_once(&C, scratch, 0x30, 4, 0), MMIO_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, poll_long, &p), 0);
	usleep(50000);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(rawc_read_once(&C, scratch, 0x30, 4, &v), MMIO_OK);
	ck_assert_int_eq(atomic_load(&p.done), 0);
	/* The poller sees the value we write now. */
	ck_assert_int_eq(rawc_write_once(&C, scratch, 0x30, 4, 0x1142), MMIO_OK);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.status, MMIO_OK);
}
END_TEST

START_TEST(batch_in_order_stops_at_failure)
{
	struct proto_batch_op ops[4] = {
		{ .opcode = PROTO_OP_WRITE_ONCE, .width = 4, .offset = 0x200, .value = 0xCAFE },
		{ .opcode = PROTO_OP_READ_ONCE, .width = 4, .offset = 0x200 },
		{ .opcode = PROTO_OP_POLL,
		  .width = 2,
		  .offset = 0x200,
		  .value = 0xFFFF,
		  .want = 0xCAFE,
		  .timeout_us = 1000 },
		{ .opcode = PROTO_OP_READ_ONCE, .width = 4, .offset = 0x201 },
	};
	struct proto_request rq = { .opcode = PROTO_OP_BATCH };
	struct proto_reply rep;
	uint64_t v;

	for (int i = 0; i < 4; i++)
		ops[i].handle = scratch;
	rq.batch.count = 3;
	rq.batch.ops = ops;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.done, 3);
	ck_assert_uint_eq(rep.batch.failed, PROTO_BATCH_NONE);
	ck_assert_int_eq(proto_batch_value_get(&rep, 1, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xCAFE);

	/* The misaligned fourth op fails: three done, the failure named. */
	ops[0].value = 0xBEEF;
	ops[2].want = 0xBEEF;
	rq.batch.count = 4;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	ck_assert_uint_eq(rep.done, 3);
	ck_assert_uint_eq(rep.batch.failed, 3);
	ck_assert_int_eq(proto_batch_value_get(&rep, 2, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xBEEF);

	/* A poll that times out fails the batch at its index. */
	ops[2].want = 0x1234;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_ETIMEDOUT);
	ck_assert_uint_eq(rep.batch.failed, 2);
	ck_assert_uint_eq(rep.done, 2);
}
END_TEST

START_TEST(denials_follow_policy_and_are_audited)
{
	struct proto_request rq = { .opcode = PROTO_OP_READ };
	struct proto_reply rep;
	uint32_t regs;

	ck_assert_int_eq(rawc_open_region(&C, "nonesuch", 0, PROTO_LEN_TO_END, NULL, NULL),
			 MMIO_ENOENT);
	/* Granted to uid 1000 only: invisible to us. */
	ck_assert_int_eq(rawc_open_region(&C, "other", 0, PROTO_LEN_TO_END, NULL, NULL),
			 MMIO_ENOENT);
	/* Outside the grant [0x100, 0x200), empty, reversed by overflow. */
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0, 0x100, NULL, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x101, NULL, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0, NULL, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_open_region(&C, "regs", UINT64_MAX - 1, 4, NULL, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x1FC, 4, &regs, NULL), MMIO_OK);
	/* Read-only, once/poll only, 4-byte only. */
	ck_assert_int_eq(rawc_write_once(&C, regs, 0, 4, 1), MMIO_EACCES);
	ck_assert_int_eq(rawc_read_once(&C, regs, 0, 8, NULL), MMIO_EINVAL);
	rq.read.handle = regs;
	rq.read.len = 4;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	ck_assert(harness_log_contains("audit: uid=0"));
	ck_assert(harness_log_contains("op=WRITE_ONCE"));
	ck_assert(harness_log_contains("region=other op=OPEN"));
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_DENIALS), 5);
}
END_TEST

START_TEST(sensitive_access_is_audited)
{
	uint32_t keys;
	uint64_t v;

	ck_assert_int_eq(rawc_open_region(&C, "keys", 0, PROTO_LEN_TO_END, &keys, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_read_once(&C, keys, 0x10, 4, &v), MMIO_OK);
	ck_assert(
		harness_log_contains("region=keys op=READ_ONCE offset=0x10 len=4 status=MMIO_OK"));
}
END_TEST

START_TEST(exclusive_busy_until_holder_dies)
{
	int report;
	pid_t child = harness_spawn("hold-excl", &report);
	char c = 0;

	ck_assert_int_eq(read(report, &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	close(report);
	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, NULL, NULL), MMIO_EBUSY);
	ck_assert_int_eq(rawc_open_region(&C, "excl", 0x800, 0x10, NULL, NULL), MMIO_EBUSY);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int status = MMIO_EBUSY;
	for (uint64_t end = now_ms() + 3000; status == MMIO_EBUSY && now_ms() < end; usleep(10000))
		status = rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, NULL, NULL);
	ck_assert_int_eq(status, MMIO_OK);
	/* Our own second open of the same exclusive range is busy too. */
	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, 4, NULL, NULL), MMIO_EBUSY);
}
END_TEST

START_TEST(device_fault_gives_exact_count)
{
	struct proto_request rq = { .opcode = PROTO_OP_READ };
	struct proto_reply rep;
	int fd = harness_sim_fd("scratch");

	ck_assert_msg(fd >= 0, "cannot find the server's memfd for scratch");
	ck_assert_int_eq(rawc_write_once(&C, scratch, 3 * PAGE - 8, 8, 0x0102030405060708ull),
			 MMIO_OK);
	ck_assert_int_eq(ftruncate(fd, 3 * PAGE), 0);
	rq.read.handle = scratch;
	rq.read.offset = 3 * PAGE - 100;
	rq.read.len = 5000;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EFAULT);
	ck_assert_uint_eq(rep.done, 100);
	ck_assert_uint_eq(((const uint8_t *)rep.read.data)[92], 0x08);

	rq = (struct proto_request){ .opcode = PROTO_OP_FILL };
	rq.fill.handle = scratch;
	rq.fill.offset = 3 * PAGE - 5;
	rq.fill.len = 64;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EFAULT);
	ck_assert_uint_eq(rep.done, 5);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 3 * PAGE, 4, NULL), MMIO_EFAULT);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_FAULTS), 3);

	/* The device comes back; so does service. */
	ck_assert_int_eq(ftruncate(fd, 64 * 1024), 0);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 3 * PAGE, 4, NULL), MMIO_OK);
	close(fd);
}
END_TEST

/* One READ_ROWS or WRITE_ROWS on handle @h; the reply in *@rep. */
static int rows_call(uint32_t h, bool write, uint64_t off, uint64_t row, uint64_t pitch,
		     uint32_t rows, const void *data, size_t len, struct proto_reply *rep)
{
	struct proto_request rq = { .opcode = write ? PROTO_OP_WRITE_ROWS : PROTO_OP_READ_ROWS };

	rq.rows = (struct proto_rows_req){ .handle = h,
					   .offset = off,
					   .row_bytes = row,
					   .pitch = pitch,
					   .rows = rows,
					   .data = data,
					   .len = len };
	ck_assert_int_eq(rawc_call(&C, &rq, rep), MMIO_OK);
	return rep->status;
}

/* Rows at a pitch, in one request: the bytes between rows untouched; a
 * fault in the middle row gives the exact count, counted in packed bytes. */
START_TEST(strided_rows_exact_done_on_fault)
{
	uint8_t out[256];
	struct proto_reply rep;
	uint64_t v;
	int fd = harness_sim_fd("scratch");

	ck_assert_msg(fd >= 0, "cannot find the server's memfd for scratch");
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 3 + 1);
	ck_assert_int_eq(rawc_write_once(&C, scratch, 0x210, 4, 0xAABBCCDD), MMIO_OK);
	ck_assert_int_eq(rows_call(scratch, true, 0x200, 16, 0x100, 3, out, 48, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.done, 48);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0x210, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xAABBCCDD);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0x300, 1, &v), MMIO_OK);
	ck_assert_uint_eq(v, out[16]);
	ck_assert_int_eq(rows_call(scratch, false, 0x200, 16, 0x100, 3, NULL, 0, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.done, 48);
	ck_assert_mem_eq(rep.read.data, out, 48);

	/* Rows at 2P-16, 2.5P-16, 3P-16, 3.5P-16 of 64 bytes; the device ends at
	 * 3P: two rows and 16 bytes of the third. */
	ck_assert_int_eq(ftruncate(fd, 3 * PAGE), 0);
	ck_assert_int_eq(rows_call(scratch, true, 2 * PAGE - 16, 64, PAGE / 2, 4, out, 256, &rep),
			 MMIO_EFAULT);
	ck_assert_uint_eq(rep.done, 64 + 64 + 16);
	ck_assert_int_eq(rows_call(scratch, false, 2 * PAGE - 16, 64, PAGE / 2, 4, NULL, 0, &rep),
			 MMIO_EFAULT);
	ck_assert_uint_eq(rep.done, 64 + 64 + 16);
	ck_assert_mem_eq(rep.read.data, out, 64 + 64 + 16);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_FAULTS), 2);
	ck_assert_int_eq(ftruncate(fd, 64 * 1024), 0);
	close(fd);
}
END_TEST

/* Hostile geometry: refused whole with MMIO_EINVAL, nothing moved; a grant
 * without bulk: MMIO_EACCES first. */
START_TEST(strided_rows_hostile_geometry)
{
	static const struct {
		uint64_t off, row, pitch;
		uint32_t rows;
	} bad[] = {
		{ 0, 16, 16, 0 },				/* zero rows */
		{ 0, 0, 16, 4 },				/* zero-byte rows */
		{ 0, 16, 8, 2 },				/* pitch < row_bytes */
		{ 0, 1, UINT64_C(1) << 63, 3 },			/* pitch * rows overflows */
		{ 0, 1, UINT64_MAX, 2 },			/* pitch * (rows - 1) + row */
		{ 64 * 1024 - 16, 32, 32, 1 },			/* past the end */
		{ 0, 16, 0x1000, 17 },				/* the 17th row past it */
		{ UINT64_MAX, 1, 1, 1 },			/* offset + row overflows */
		{ 0, UINT64_C(1) << 33, UINT64_C(1) << 33, 2 }, /* packed past a message */
	};
	uint8_t zeros[32] = { 0 };
	struct proto_reply rep;
	uint32_t other;
	uint64_t v;

	ck_assert_int_eq(rawc_write_once(&C, scratch, 0, 8, 0x1122334455667788u), MMIO_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(rows_call(scratch, false, bad[i].off, bad[i].row, bad[i].pitch,
					bad[i].rows, NULL, 0, &rep) == MMIO_EINVAL,
			      "READ_ROWS case %zu: %s", i, mmio_status_name(rep.status));
		ck_assert_uint_eq(rep.done, 0);
	}
	/* WRITE_ROWS carries its rows: the cases whose rows fit a message. */
	ck_assert_int_eq(rows_call(scratch, true, 0, 16, 16, 0, NULL, 0, &rep), MMIO_EINVAL);
	ck_assert_int_eq(rows_call(scratch, true, 0, 16, 8, 2, zeros, 32, &rep), MMIO_EINVAL);
	ck_assert_int_eq(rows_call(scratch, true, 64 * 1024 - 16, 32, 32, 1, zeros, 32, &rep),
			 MMIO_EINVAL);
	ck_assert_int_eq(rows_call(scratch, true, 0, 16, UINT64_MAX, 2, zeros, 32, &rep),
			 MMIO_EINVAL);
	ck_assert_uint_eq(rep.done, 0);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x1122334455667788u);
	/* No bulk in the grant: refused before the geometry, as a denial. */
	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, &other, NULL), MMIO_OK);
	ck_assert_int_eq(rows_call(other, false, 0, 16, 16, 1, NULL, 0, &rep), MMIO_EACCES);
	ck_assert_int_eq(rows_call(other, true, 0, 0, 0, 0, NULL, 0, &rep), MMIO_EACCES);
}
END_TEST

/*
 * nng 1.5.2 issue 1518: raw connect()+close() stalls nng's accept. The server
 * repairs its listener; a client that connected into the stalled one retries
 * its HELLO on a new connection, as libmmio's mmio_connect() does.
 */
START_TEST(raw_connect_close_does_not_stop_listener)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct proto_request rq = { .opcode = PROTO_OP_HELLO };
	struct proto_reply rep;
	struct rawc fresh;
	int attempts = 0, status = MMIO_ECONN;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", H.sock);
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		close(fd);
	}
	rq.hello.min_version = 1;
	rq.hello.max_version = 1;
	while (status != MMIO_OK && attempts++ < 10) {
		rawc_open(&fresh);
		nng_socket_set_ms(fresh.s, NNG_OPT_RECVTIMEO, 1000);
		status = rawc_call(&fresh, &rq, &rep);
		if (status != MMIO_OK)
			rawc_close(&fresh);
	}
	ck_assert_msg(status == MMIO_OK, "no HELLO answered in %d attempts", attempts);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_int_eq(rawc_open_region(&fresh, "regs", 0x100, 4, NULL, NULL), MMIO_OK);
	rawc_close(&fresh);
	/* The client connected before the storm is still served. */
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 4, NULL), MMIO_OK);
}
END_TEST

/* A raw SP connection to the server, handshake done (req0, protocol 48). */
static int raw_sp_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const uint8_t header[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	uint8_t theirs[8];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", H.sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(write(fd, header, 8), 8);
	ck_assert_int_eq(read(fd, theirs, 8), 8); /* a complete handshake: no 1518 */
	return fd;
}

START_TEST(hostile_messages_get_errors_and_server_serves_on)
{
	struct proto_reply rep;
	uint8_t buf[256];
	unsigned seed = 12345;
	unsigned errors = 0;

	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		/* Half of them with a valid header, so the body parsers are reached. */
		if (i % 2 && len >= 8) {
			buf[0] = 'M', buf[1] = 'I', buf[2] = 'O', buf[3] = '?';
			buf[4] = 1, buf[5] = 0, buf[6] = (uint8_t)(1 + i % 16), buf[7] = 0;
		}
		/* A reply always comes; it may echo an opcode the codec does not know. */
		int decoded = rawc_call_bytes(&C, buf, len, &rep);
		ck_assert_msg(decoded == MMIO_OK || decoded == PROTO_EUNKNOWN_OP, "message %d: %d",
			      i, decoded);
		ck_assert_uint_eq(rep.opcode, proto_peek_opcode(buf, len));
		if (decoded == PROTO_EUNKNOWN_OP)
			ck_assert_int_eq(rep.status, MMIO_EPROTO);
		if (rep.status != MMIO_OK)
			errors++;
	}
	ck_assert_uint_gt(errors, 1900);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_PROTO_ERRORS), 1000);

	/* Bigger than max_message: the server drops that connection at its
	 * header and serves on. Raw, so the client side has no library of its
	 * own whose close could hang on the dropped pipe. */
	int big = raw_sp_connect();
	uint8_t frame[13] = { 1 };
	uint64_t huge = 128 * 1024;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)((4 + huge) >> (8 * (7 - i)));
	frame[9] = 0x80;
	ck_assert_int_eq(send(big, frame, sizeof(frame), MSG_NOSIGNAL), (ssize_t)sizeof(frame));
	struct pollfd pfd = { .fd = big, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_le(recv(big, frame, sizeof(frame), 0), 0); /* closed, no reply */
	close(big);

	struct rawc fresh;
	rawc_open(&fresh);
	ck_assert_int_eq(rawc_read_once(&fresh, 0, 0, 4, NULL), MMIO_EINVAL);
	rawc_close(&fresh);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 4, NULL), MMIO_OK);
}
END_TEST

/*
 * A peer that speaks SP itself, sends a flood of requests and never reads a
 * reply: its pipe fills up, and replies to it can no longer be sent. Other
 * clients must still be served while it stays connected.
 */
START_TEST(client_that_never_reads_does_not_starve_others)
{
	uint8_t frame[64];
	struct proto_request rq = { .opcode = PROTO_OP_STATS };
	size_t body = 0;
	int fd = raw_sp_connect();

	/* Frame: type 1, u64 big-endian length, req0 request id, our request. */
	ck_assert_int_eq(proto_request_encode(&rq, frame + 13, sizeof(frame) - 13, &body), MMIO_OK);
	frame[0] = 1;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)((4 + body) >> (8 * (7 - i)));
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	unsigned sent = 0;
	for (uint32_t id = 0x80000001u; sent < 20000; id++, sent++) {
		frame[9] = (uint8_t)(id >> 24), frame[10] = (uint8_t)(id >> 16);
		frame[11] = (uint8_t)(id >> 8), frame[12] = (uint8_t)id;
		if (write(fd, frame, 13 + body) != (ssize_t)(13 + body))
			break; /* the server stopped reading us: it is saturated by us */
	}
	ck_assert_uint_gt(sent, 100);
	usleep(500000); /* let the server take in what it will, and jam */

	/* Someone else is served, promptly, while the flooder stays connected. */
	struct rawc other;
	rawc_open(&other);
	nng_socket_set_ms(other.s, NNG_OPT_RECVTIMEO, 5000);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 4, NULL), MMIO_OK);
	ck_assert_uint_ge(rawc_stat(&other, PROTO_STAT_CLIENTS), 2);
	rawc_close(&other);
	close(fd);
}
END_TEST

/* Read one reply frame of a raw SP connection (type, u64 BE length, the
 * request id, the reply) within @ms; its reply decoded into *@rep. */
static bool raw_reply(int fd, int ms, uint32_t *id, struct proto_reply *rep, uint8_t *buf,
		      size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0, need = 9;
	uint64_t len = 0;

	while (got < need) {
		if (poll(&p, 1, ms) != 1)
			return false;
		ssize_t n = read(fd, buf + got, need - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
		if (got == 9 && need == 9) {
			for (int i = 0; i < 8; i++)
				len = len << 8 | buf[1 + i];
			if (len < 4 || len > cap - 9)
				return false;
			need = 9 + (size_t)len;
		}
	}
	*id = (uint32_t)buf[9] << 24 | (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 8 | buf[12];
	return proto_reply_decode(buf + 13, need - 13, rep) == MMIO_OK;
}

/* Send @rq as request @id on a raw SP connection. */
static void raw_request(int fd, uint32_t id, const struct proto_request *rq)
{
	uint8_t frame[128];
	size_t body = 0;

	ck_assert_int_eq(proto_request_encode(rq, frame + 13, sizeof(frame) - 13, &body), MMIO_OK);
	frame[0] = 1;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)((4 + body) >> (8 * (7 - i)));
	frame[9] = (uint8_t)(id >> 24 | 0x80), frame[10] = (uint8_t)(id >> 16);
	frame[11] = (uint8_t)(id >> 8), frame[12] = (uint8_t)id;
	ck_assert_int_eq(write(fd, frame, 13 + body), (ssize_t)(13 + body));
}

/* Requests over limits.max_requests (32) get MMIO_EBUSY at once; the
 * requests in flight go on. */
START_TEST(requests_over_the_limit_are_answered_busy)
{
	uint8_t buf[512];
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;
	uint32_t id, h;
	int fd = raw_sp_connect(), busy = 0, timeouts = 0;

	snprintf(rq.open.name, sizeof(rq.open.name), "scratch");
	rq.open.length = PROTO_LEN_TO_END;
	raw_request(fd, 1, &rq);
	ck_assert(raw_reply(fd, 5000, &id, &rep, buf, sizeof(buf)));
	ck_assert_int_eq(rep.status, MMIO_OK);
	h = rep.open.handle;
	/* 40 polls for what never comes, 1 s each: 32 wait, 8 are too many. */
	rq = (struct proto_request){ .opcode = PROTO_OP_POLL };
	rq.poll = (struct proto_poll_req){ h, 4, 0, 0x0F, 0x10, 1000000 };
	for (uint32_t i = 0; i < 40; i++)
		raw_request(fd, 100 + i, &rq);
	/* The answers to the excess come at once, MMIO_EBUSY: all 8 when each is
	 * sent before the next excess request arrives, at least 4 when they
	 * queue (then the rest is dropped: at most 4 may wait unsent). */
	while (raw_reply(fd, 500, &id, &rep, buf, sizeof(buf))) {
		char why[200];
		ck_assert_int_eq(rep.status, MMIO_EBUSY);
		ck_assert_uint_eq(rep.opcode, PROTO_OP_POLL);
		/* Which cap, and how high it is. */
		ck_assert_uint_eq(rep.reason.code, MMIO_REASON_BUSY);
		ck_assert_uint_eq(rep.reason.a, MMIO_BUSY_REQUESTS);
		ck_assert_uint_eq(rep.reason.b, 32);
		proto_reason_format(rep.status, &rep.reason, why, sizeof(why));
		ck_assert_msg(strstr(why, "32 requests in flight") &&
				      strstr(why, "limits.max_requests"),
			      "%s", why);
		busy++;
	}
	ck_assert_int_ge(busy, 4);
	ck_assert_int_le(busy, 8);
	/* The 32 in flight time out as they should. */
	while (raw_reply(fd, 3000, &id, &rep, buf, sizeof(buf)) && timeouts < 32) {
		ck_assert_int_eq(rep.status, MMIO_ETIMEDOUT);
		timeouts++;
	}
	ck_assert_int_eq(timeouts, 32);
	ck_assert(harness_log_contains("answering the excess MMIO_EBUSY"));
	close(fd);
}
END_TEST

/* Waiting polls over limits.max_polls_per_uid (32) of one uid, across its
 * connections, are answered MMIO_EBUSY naming that cap. */
START_TEST(polls_over_the_uid_cap_name_it)
{
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;
	uint8_t buf[512];
	uint32_t id, h[2];
	int fd[2] = { raw_sp_connect(), raw_sp_connect() };
	char why[200];

	snprintf(rq.open.name, sizeof(rq.open.name), "scratch");
	rq.open.length = PROTO_LEN_TO_END;
	for (int i = 0; i < 2; i++) {
		raw_request(fd[i], 1, &rq);
		ck_assert(raw_reply(fd[i], 5000, &id, &rep, buf, sizeof(buf)));
		ck_assert_int_eq(rep.status, MMIO_OK);
		h[i] = rep.open.handle;
	}
	/* 20 + 13 polls for what never comes: the 33rd of the uid is one too
	 * many (each connection stays under its own 32 requests). */
	for (int i = 0; i < 2; i++) {
		rq = (struct proto_request){ .opcode = PROTO_OP_POLL };
		rq.poll = (struct proto_poll_req){ h[i], 4, 0, 0x0F, 0x10, 1000000 };
		for (uint32_t k = 0; k < (i ? 13u : 20u); k++)
			raw_request(fd[i], 100 + k, &rq);
		/* The first connection's polls wait before the second's come. */
		for (int t = 0; i == 0 && t < 250 && rawc_stat(&C, PROTO_STAT_POLLS_WAITING) < 20;
		     t++)
			usleep(20 * 1000);
	}
	ck_assert(raw_reply(fd[1], 2000, &id, &rep, buf, sizeof(buf)));
	ck_assert_int_eq(rep.status, MMIO_EBUSY);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_BUSY);
	ck_assert_uint_eq(rep.reason.a, MMIO_BUSY_UID_POLLS);
	ck_assert_uint_eq(rep.reason.b, 32);
	proto_reason_format(rep.status, &rep.reason, why, sizeof(why));
	ck_assert_msg(strstr(why, "32 polls waiting") && strstr(why, "limits.max_polls_per_uid"),
		      "%s", why);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

/* A client killed in the middle of a POLL or a BATCH leaves nothing behind. */
START_TEST(client_killed_mid_poll_or_batch)
{
	for (int round = 0; round < 2; round++) {
		pid_t child = harness_spawn(round ? "batch-forever" : "poll-forever", NULL);

		ck_assert(handles_reach(&C, 3, 2000)); /* ours + the child's two */
		usleep(100000);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		ck_assert_msg(handles_reach(&C, 1, 3000), "handles of the killed client remain");
		/* Its exclusive range is free again. */
		uint32_t h;
		ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, &h, NULL),
				 MMIO_OK);
		struct proto_request close_rq = { .opcode = PROTO_OP_CLOSE };
		struct proto_reply rep;
		close_rq.close.handle = h;
		ck_assert_int_eq(rawc_call(&C, &close_rq, &rep), MMIO_OK);
		ck_assert_int_eq(rep.status, MMIO_OK);
	}
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_CLIENTS), 1);
}
END_TEST

static const char policy_without_scratch[] = "version: 1\n"
					     "server:\n"
					     "  listen: \"%SOCK%\"\n"
					     "  socket_mode: \"0666\"\n"
					     "  max_message: 64KiB\n"
					     "regions:\n"
					     "  - name: scratch\n"
					     "    sim: true\n"
					     "    size: 64KiB\n"
					     "  - name: regs\n"
					     "    sim: true\n"
					     "    size: 0x1000\n"
					     "clients:\n"
					     "  - name: root\n"
					     "    uid: 0\n"
					     "    grants:\n"
					     "      - region: regs\n"
					     "        access: rw\n"
					     "        ops: [once]\n";

/*
 * Wait up to 5 s for @cond. A policy write also triggers the file-change
 * reload, so the tests wait for the effect, not for one READY=1.
 */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		uint64_t end_ = now_ms() + 5000;                                                   \
		while (!(cond) && now_ms() < end_)                                                 \
			usleep(10000);                                                             \
		ck_assert_msg((cond), "timed out waiting for " #cond);                             \
	} while (0)

/* The mode and group of the public socket and of the descriptor channel. */
static bool sockets_have(mode_t mode, gid_t gid)
{
	char chan[sizeof(H.sock) + 8];
	struct stat a, b;

	snprintf(chan, sizeof(chan), "%s.fd", H.sock);
	return stat(H.sock, &a) == 0 && stat(chan, &b) == 0 && (a.st_mode & 07777) == mode &&
	       (b.st_mode & 07777) == mode && a.st_gid == gid && b.st_gid == gid;
}

/* A reload applies server.socket_mode (and, as root, socket_group) to the
 * live socket files, and the clients go on. */
START_TEST(reload_applies_socket_mode_and_group)
{
	struct group *users = getgrnam("users");
	bool root = geteuid() == 0 && users;
	char yaml[sizeof(policy_without_scratch) + 64];
	const char *mode_line = "  socket_mode: \"0666\"\n";
	const char *at = strstr(policy_without_scratch, mode_line);
	uint64_t v;

	ck_assert_ptr_nonnull(at);
	ck_assert(sockets_have(0666, getegid()));
	snprintf(yaml, sizeof(yaml), "%.*s  socket_mode: \"0600\"\n%s%s",
		 (int)(at - policy_without_scratch), policy_without_scratch,
		 root ? "  socket_group: users\n" : "", at + strlen(mode_line));
	harness_policy(yaml);
	harness_server_signal(SIGHUP);
	WAIT_FOR(sockets_have(0600, root ? users->gr_gid : getegid()));
	ck_assert(harness_log_contains("now has mode 0600"));
	/* The reload took the policy too: scratch is gone. */
	WAIT_FOR(rawc_read_once(&C, scratch, 0, 4, &v) == MMIO_EREVOKED);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES), 0);
}
END_TEST

START_TEST(reload_revokes_and_broken_policy_keeps_old)
{
	uint32_t regs;
	uint64_t v;

	ck_assert_int_eq(rawc_write_once(&C, scratch, 0, 4, 0x5A5A), MMIO_OK);
	harness_policy(policy_without_scratch);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_read_once(&C, scratch, 0, 4, &v) == MMIO_EREVOKED);
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, PROTO_LEN_TO_END, NULL, NULL),
			 MMIO_ENOENT);
	/* regs is now read-write for us. */
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0, PROTO_LEN_TO_END, &regs, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, regs, 0, 4, 7), MMIO_OK);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_REVOKED), 1);

	/* A broken file: reported with its position, the current policy stays. */
	harness_policy("version: 1\nregions:\n  - name: x\n    sim: true\n    size: 12junk\n");
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES) >= 1);
	ck_assert(harness_log_contains("policy.yaml:5:"));
	ck_assert_int_eq(rawc_write_once(&C, regs, 0, 4, 8), MMIO_OK);

	/* Back to the first policy: the sim memory kept its contents. */
	harness_policy(policy_main);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_open_region(&C, "scratch", 0, PROTO_LEN_TO_END, &scratch, NULL) == MMIO_OK);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x5A5A);
}
END_TEST

START_TEST(policy_file_change_reloads_without_signal)
{
	uint64_t reloads = rawc_stat(&C, PROTO_STAT_RELOADS);

	harness_policy(policy_without_scratch);
	WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOADS) > reloads);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0, 4, NULL), MMIO_EREVOKED);
}
END_TEST

/* ---- one check: the same denial gives the same trace, alone or in a BATCH ---- */

/* A BATCH of the one op; returns its status. */
static int batch_one(uint32_t h, unsigned opcode, uint64_t off, unsigned width, uint64_t value)
{
	struct proto_batch_op op = {
		.opcode = opcode, .width = width, .handle = h, .offset = off, .value = value
	};
	struct proto_request rq = { .opcode = PROTO_OP_BATCH };
	struct proto_reply rep;

	rq.batch.count = 1;
	rq.batch.ops = &op;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	return rep.status;
}

START_TEST(denied_op_is_audited_once_alone_or_batched)
{
	const char *line = "region=regs op=WRITE_ONCE offset=0x104 len=4 status=MMIO_EACCES";
	uint32_t regs;
	unsigned audits;
	uint64_t denials;

	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	audits = harness_log_count("audit:");
	denials = rawc_stat(&C, PROTO_STAT_DENIALS);
	ck_assert_int_eq(rawc_write_once(&C, regs, 4, 4, 1), MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count("audit:"), audits + 1);
	ck_assert_uint_eq(harness_log_count(line), 1);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 1);
	/* In a BATCH: the same one line, the same one denial. */
	ck_assert_int_eq(batch_one(regs, PROTO_OP_WRITE_ONCE, 4, 4, 1), MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count("audit:"), audits + 2);
	ck_assert_uint_eq(harness_log_count(line), 2);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 2);
}
END_TEST

START_TEST(revoked_op_is_counted_alone_or_batched)
{
	const char *line = "region=scratch op=READ_ONCE offset=0x8 len=4 status=MMIO_EREVOKED";
	unsigned audits;
	uint64_t denials;

	harness_policy(policy_without_scratch);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_read_once(&C, scratch, 0, 4, NULL) == MMIO_EREVOKED);
	audits = harness_log_count("audit:");
	denials = rawc_stat(&C, PROTO_STAT_DENIALS);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 8, 4, NULL), MMIO_EREVOKED);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 1);
	ck_assert_uint_eq(harness_log_count(line), 1);
	ck_assert_int_eq(batch_one(scratch, PROTO_OP_READ_ONCE, 8, 4, 0), MMIO_EREVOKED);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 2);
	ck_assert_uint_eq(harness_log_count(line), 2);
	ck_assert_uint_eq(harness_log_count("audit:"), audits + 2);
	/* And says why: the grant was withdrawn. */
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE, .read_once = { scratch, 4, 8 } };
	struct proto_reply rep;

	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EREVOKED);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_REVOKED);
	ck_assert_uint_eq(rep.reason.op, PROTO_OP_READ_ONCE);
	/* The same for a batch's item, after one that passed on another handle. */
	uint32_t regs;

	ck_assert_int_eq(rawc_open_region(&C, "regs", 0, PROTO_LEN_TO_END, &regs, NULL), MMIO_OK);
	struct proto_batch_op items[2] = {
		{ .opcode = PROTO_OP_READ_ONCE, .width = 4, .handle = regs, .offset = 0 },
		{ .opcode = PROTO_OP_POLL, .width = 4, .handle = scratch, .offset = 8 },
	};

	rq = (struct proto_request){ .opcode = PROTO_OP_BATCH };
	rq.batch.count = 2;
	rq.batch.ops = items;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EREVOKED);
	ck_assert_uint_eq(rep.batch.failed, 1);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_REVOKED);
	ck_assert_uint_eq(rep.reason.op, PROTO_OP_POLL);
}
END_TEST

/*
 * STATS against a model: a seeded random mix of allowed and denied ops,
 * alone and in batches, on scratch (rw, every op) and regs (read-only,
 * once and poll, 4 bytes wide). Each op's status is the model's; so are
 * the denials, exactly, and the requests (the listener's own HELLO probes
 * may add to those).
 */
struct model_op {
	unsigned opcode, width;
	bool on_regs;
	int want; /* the status the policy gives */
};

static const struct model_op model_ops[] = {
	{ PROTO_OP_READ_ONCE, 4, false, MMIO_OK },    { PROTO_OP_WRITE_ONCE, 8, false, MMIO_OK },
	{ PROTO_OP_READ_ONCE, 4, true, MMIO_OK },     { PROTO_OP_WRITE_ONCE, 4, true, MMIO_EACCES },
	{ PROTO_OP_READ_ONCE, 8, true, MMIO_EINVAL }, { PROTO_OP_READ, 0, false, MMIO_OK },
	{ PROTO_OP_READ, 0, true, MMIO_EACCES },      { PROTO_OP_FILL, 0, true, MMIO_EACCES },
	{ PROTO_OP_FILL, 0, false, MMIO_OK },	      { PROTO_OP_WRITE, 0, true, MMIO_EACCES },
};
#define MODEL_ONCE_OPS 5 /* the first five may stand in a BATCH */

static uint64_t model_rng;

static unsigned model_next(unsigned n)
{
	model_rng ^= model_rng << 13;
	model_rng ^= model_rng >> 7;
	model_rng ^= model_rng << 17;
	return (unsigned)(model_rng % n);
}

/* Send one model op alone; returns its status. */
static int model_send(const struct model_op *m, uint32_t h)
{
	static uint8_t data[16];
	struct proto_request rq = { .opcode = m->opcode };
	struct proto_reply rep;

	switch (m->opcode) {
	case PROTO_OP_READ_ONCE:
		return rawc_read_once(&C, h, 0x10, m->width, NULL);
	case PROTO_OP_WRITE_ONCE:
		return rawc_write_once(&C, h, 0x10, m->width, 5);
	case PROTO_OP_READ:
		rq.read = (struct proto_read_req){ .handle = h, .offset = 0x20, .len = 16 };
		break;
	case PROTO_OP_WRITE:
		rq.write = (struct proto_write_req){ .handle = h, .offset = 0x20, .len = 16 };
		rq.write.data = data;
		break;
	default:
		rq.fill = (struct proto_fill_req){ .handle = h, .offset = 0x20, .len = 16 };
		break;
	}
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	return rep.status;
}

/* A BATCH of 1 to 4 once-ops; returns the status the model expects. */
static int model_batch(uint32_t scratch_h, uint32_t regs_h, int *got)
{
	struct proto_batch_op ops[4];
	struct proto_request rq = { .opcode = PROTO_OP_BATCH };
	struct proto_reply rep;
	unsigned n = 1 + model_next(4);
	int want = MMIO_OK;

	for (unsigned i = 0; i < n; i++) {
		const struct model_op *m = &model_ops[model_next(MODEL_ONCE_OPS)];
		ops[i] = (struct proto_batch_op){ .opcode = m->opcode,
						  .width = m->width,
						  .handle = m->on_regs ? regs_h : scratch_h,
						  .offset = 0x10 };
		if (want == MMIO_OK)
			want = m->want;
	}
	rq.batch.count = n;
	rq.batch.ops = ops;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	*got = rep.status;
	return want;
}

START_TEST(stats_match_a_model_of_allowed_and_denied_ops)
{
	const char *env = getenv("MMIO_TEST_SEED");
	uint64_t denials, requests, want_denials = 0;
	uint32_t regs;

	model_rng = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
	if (model_rng == 0)
		model_rng = 1;
	fprintf(stderr, "check_server: model seed 0x%" PRIx64 " (set MMIO_TEST_SEED to repeat)\n",
		model_rng);
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	denials = rawc_stat(&C, PROTO_STAT_DENIALS);
	requests = rawc_stat(&C, PROTO_STAT_REQUESTS);
	for (unsigned i = 0; i < 200; i++) {
		int want, got;

		if (model_next(3) == 0) {
			want = model_batch(scratch, regs, &got);
		} else {
			const struct model_op *m =
				&model_ops[model_next(sizeof(model_ops) / sizeof(model_ops[0]))];
			want = m->want;
			got = model_send(m, m->on_regs ? regs : scratch);
		}
		ck_assert_msg(got == want, "op %u: %s, the model says %s", i, mmio_status_name(got),
			      mmio_status_name(want));
		want_denials += want == MMIO_EACCES || want == MMIO_EREVOKED;
	}
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + want_denials);
	/* The STATS that read @requests, the 200 ops, the STATS just above. */
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_REQUESTS), requests + 1 + 200 + 1);
}
END_TEST

START_TEST(other_uid_sees_only_its_grants)
{
	pid_t child;
	int status;

	ck_assert_msg(geteuid() == 0, "this test forks clients with other uids: run it as root");
	child = harness_spawn("uid-1000", NULL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert(harness_log_contains("uid=1000"));
}
END_TEST

/* ------------------------------------------------------------------------
 * Direct grants: MAP tokens and the descriptor channel.
 * ------------------------------------------------------------------------ */

/* Present @token on the descriptor channel; *fd gets the descriptor (or -1). */
static int fd_pickup(uint64_t token, int *fd, uint64_t *mmap_offset)
{
	char path[128];

	snprintf(path, sizeof(path), "%s.fd", H.sock);
	return cli_channel_pickup(path, token, 5000, fd, mmap_offset);
}

static int map_handle(struct rawc *c, uint32_t h, struct proto_map_rep *out)
{
	struct proto_request rq = { .opcode = PROTO_OP_MAP };
	struct proto_reply rep;

	rq.map.handle = h;
	ck_assert_int_eq(rawc_call(c, &rq, &rep), MMIO_OK);
	if (rep.status == MMIO_OK)
		*out = rep.map;
	return rep.status;
}

START_TEST(map_hands_over_the_device_once)
{
	struct proto_map_rep m;
	uint32_t h;
	uint64_t off, v;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_uint_eq(m.length, 8192);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	ck_assert_int_ge(fd, 0);
	uint32_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	ck_assert_ptr_ne(p, MAP_FAILED);
	/* A store through the mapping is what the proxied path reads, and back. */
	p[3] = 0xD1EC7u;
	ck_assert_int_eq(rawc_read_once(&C, h, 12, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xD1EC7u);
	ck_assert_int_eq(rawc_write_once(&C, h, 16, 4, 0xBEEF), MMIO_OK);
	ck_assert_uint_eq(p[4], 0xBEEF);
	munmap(p, 8192);
	close(fd);
	/* Single use. */
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
	/* Forged. */
	ck_assert_int_eq(fd_pickup(m.token ^ 0x5A5A5A5A5A5A5A5Aull, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
	/* Expired: not picked up within its lifetime. */
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	usleep(2300000);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(map_read_only_grant_gives_read_only_descriptor)
{
	struct proto_map_rep m;
	uint32_t h;
	uint64_t off;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "mapro", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_ptr_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off),
			 MAP_FAILED);
	ck_assert_int_eq(errno, EACCES);
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)off);
	ck_assert_ptr_ne(p, MAP_FAILED);
	errno = 0;
	ck_assert_int_eq(mprotect(p, 4096, PROT_READ | PROT_WRITE), -1);
	ck_assert_int_eq(errno, EACCES);
	munmap(p, 4096);
	close(fd);
}
END_TEST

START_TEST(map_refused_where_the_grant_does_not_allow_it)
{
	struct proto_map_rep m;
	uint32_t h;

	/* No `map` in the grant. */
	ck_assert_int_eq(map_handle(&C, scratch, &m), MMIO_EACCES);
	/* Part of a device: the descriptor would give all of it. */
	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, 4096, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_EACCES);
	/* A stale handle. */
	ck_assert_int_eq(map_handle(&C, h + 100, &m), MMIO_EINVAL);
}
END_TEST

/* The read-only descriptor cannot be turned into write access by its
 * holder (another uid than the server's), and no holder can seal it. */
START_TEST(map_descriptor_cannot_be_upgraded_or_sealed)
{
	struct proto_map_rep m;
	uint32_t h;
	uint64_t off;
	int fd, status;

	ck_assert_msg(geteuid() == 0, "this test maps as uid 1000: run it as root");
	pid_t child = harness_spawn("ro-map-as-1000", NULL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	/* A read-write holder cannot seal the memory against the others. */
	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK), -1);
	ck_assert_int_eq(errno, EPERM);
	close(fd);
}
END_TEST

/* The server's notifications never block it, even when nobody reads them
 * (the harness reads its notify socket only at start). */
START_TEST(reloads_do_not_wait_for_the_service_manager)
{
	for (uint64_t i = 1; i <= 30; i++) {
		harness_server_signal(SIGHUP);
		WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOADS) >= i);
	}
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_RELOADS), 30);
}
END_TEST

/* ------------------------------------------------------------------------
 * The data plane: shared buffers, READ_SPAN and WRITE_SPAN.
 * ------------------------------------------------------------------------ */

/* A memfd of @size bytes with @seals added (0: none). */
static int memfd_sized(size_t size, int seals)
{
	int fd = memfd_create("test-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	if (seals)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* BUF_ATTACH @length, then hand @fd over; the channel's status. */
static int buffer_attach(struct rawc *c, uint64_t length, int fd, uint32_t *id)
{
	struct proto_request rq = { .opcode = PROTO_OP_BUF_ATTACH };
	struct proto_reply rep;
	char path[128];

	rq.buf_attach.length = length;
	/* No ck_assert here: children use it too. */
	if (rawc_call(c, &rq, &rep) != MMIO_OK)
		return MMIO_ECONN;
	if (rep.status != MMIO_OK)
		return rep.status;
	snprintf(path, sizeof(path), "%s.fd", H.sock);
	return cli_channel_attach(path, rep.buf_attach.token, fd, 5000, id, NULL);
}

static int span(struct rawc *c, bool write, uint32_t h, uint64_t off, uint64_t len, uint32_t buf,
		uint64_t boff, uint64_t *done)
{
	struct proto_request rq = { .opcode = write ? PROTO_OP_WRITE_SPAN : PROTO_OP_READ_SPAN };
	struct proto_reply rep;

	rq.span = (struct proto_span_req){ h, off, len, buf, boff };
	ck_assert_int_eq(rawc_call(c, &rq, &rep), MMIO_OK);
	if (done)
		*done = rep.done;
	return rep.status;
}

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

START_TEST(buffers_refuse_what_is_not_a_sealed_memfd)
{
	struct proto_request rq = { .opcode = PROTO_OP_BUF_ATTACH };
	struct proto_reply rep;
	uint32_t id;
	int fd, pipefd[2];

	/* No seals; one seal of two; the wrong size. */
	fd = memfd_sized(8192, 0);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &id), MMIO_EINVAL);
	close(fd);
	fd = memfd_sized(8192, F_SEAL_SHRINK);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &id), MMIO_EINVAL);
	close(fd);
	fd = memfd_sized(8192, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 4096, fd, &id), MMIO_EINVAL);
	ck_assert_int_eq(buffer_attach(&C, 16384, fd, &id), MMIO_EINVAL);
	close(fd);
	/* Not a memfd at all: a pipe, a regular file's descriptor. */
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(buffer_attach(&C, 8192, pipefd[0], &id), MMIO_EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
	fd = open(H.policy, O_RDONLY);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &id), MMIO_EINVAL);
	close(fd);
	/* Sealed against writes: the server could not copy into it. */
	fd = memfd_sized(8192, SEALS | F_SEAL_WRITE);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &id), MMIO_EINVAL);
	close(fd);
	/* Absurd lengths are refused before any token. */
	rq.buf_attach.length = 0;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	rq.buf_attach.length = UINT64_MAX;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_ENOMEM);
	/* None of them was attached. */
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
	/* And a good one is. */
	fd = memfd_sized(8192, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &id), MMIO_OK);
	close(fd);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 1);
}
END_TEST

START_TEST(spans_move_exact_bytes_and_are_checked)
{
	uint32_t id, regs;
	uint64_t done, v;
	int fd = memfd_sized(16384, SEALS);
	uint8_t *mine = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	ck_assert_ptr_ne(mine, MAP_FAILED);
	ck_assert_int_eq(buffer_attach(&C, 16384, fd, &id), MMIO_OK);
	close(fd);
	for (int i = 0; i < 16384; i++)
		mine[i] = (uint8_t)(i * 13);
	/* Write 10000 bytes from span offset 3 to device offset 5, read them back
	 * into span offset 8192. */
	ck_assert_int_eq(span(&C, true, scratch, 5, 10000, id, 3, &done), MMIO_OK);
	ck_assert_uint_eq(done, 10000);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 8, 1, &v), MMIO_OK);
	ck_assert_uint_eq(v, (uint8_t)(6 * 13));
	memset(mine + 8192, 0xEE, 8192);
	ck_assert_int_eq(span(&C, false, scratch, 5, 4000, id, 8192, &done), MMIO_OK);
	ck_assert_uint_eq(done, 4000);
	ck_assert(memcmp(mine + 8192, mine + 3, 4000) == 0);
	ck_assert_uint_eq(mine[8192 + 4000], 0xEE);

	/* Spans outside the buffer, or of a buffer that does not exist. */
	ck_assert_int_eq(span(&C, false, scratch, 0, 1, id, 16384, &done), MMIO_EINVAL);
	ck_assert_int_eq(span(&C, false, scratch, 0, 16385, id, 0, &done), MMIO_EINVAL);
	ck_assert_int_eq(span(&C, false, scratch, 0, 2, id, UINT64_MAX, &done), MMIO_EINVAL);
	ck_assert_int_eq(span(&C, true, scratch, 0, UINT64_MAX, id, 1, &done), MMIO_EINVAL);
	ck_assert_int_eq(span(&C, false, scratch, 0, 16, id + 1, 0, &done), MMIO_EINVAL);
	ck_assert_int_eq(span(&C, false, scratch, 0, 16, 0, 0, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	/* The grant's checks come first: regs is read-only, once-ops only. */
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	ck_assert_int_eq(span(&C, false, regs, 0, 4, id, 0, &done), MMIO_EACCES);
	ck_assert_int_eq(span(&C, true, regs, 0, 4, id, 0, &done), MMIO_EACCES);
	/* Past the device: the device's range check. */
	ck_assert_int_eq(span(&C, false, scratch, 64 * 1024 - 8, 16, id, 0, &done), MMIO_EINVAL);

	/* The device shrinks: exact count, the rest of the span untouched. */
	int dev = harness_sim_fd("scratch");
	ck_assert_int_ge(dev, 0);
	ck_assert_int_eq(ftruncate(dev, 8192), 0);
	memset(mine, 0x55, 16384);
	ck_assert_int_eq(span(&C, false, scratch, 8192 - 100, 1000, id, 0, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 100);
	ck_assert_uint_eq(mine[99], (uint8_t)((8191 - 5 + 3) * 13)); /* what was written */
	ck_assert_uint_eq(mine[100], (uint8_t)0x55);		     /* untouched */
	ck_assert_int_eq(span(&C, true, scratch, 8192 - 7, 1000, id, 0, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 7);
	ck_assert_int_eq(ftruncate(dev, 64 * 1024), 0);
	close(dev);

	/* The client cannot take the memory away: the seals hold. */
	ck_assert_int_eq(munmap(mine, 16384), 0); /* its own view: the server's stays */
	ck_assert_int_eq(span(&C, true, scratch, 0, 16384, id, 0, &done), MMIO_OK);
	ck_assert_uint_eq(done, 16384);
}
END_TEST

START_TEST(buffers_are_limited_and_released)
{
	struct proto_request rq = { .opcode = PROTO_OP_BUF_DETACH };
	struct proto_reply rep;
	uint32_t ids[3], id;
	int fd, status;

	/* The policy allows 3 buffers and 32 KiB per client. */
	fd = memfd_sized(4096, SEALS);
	ck_assert_int_eq(ftruncate(fd, 0), -1); /* sealed: cannot shrink */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(buffer_attach(&C, 4096, fd, &ids[i]), MMIO_OK);
	ck_assert_int_eq(buffer_attach(&C, 4096, fd, &id), MMIO_ENOMEM);
	close(fd);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 3);
	rq.buf_detach.buffer = ids[1];
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL); /* already gone */
	/* The byte limit: 8 KiB held, 28 KiB more is too much, 24 KiB fits. */
	fd = memfd_sized(28 * 1024, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 28 * 1024, fd, &id), MMIO_ENOMEM);
	close(fd);
	fd = memfd_sized(24 * 1024, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 24 * 1024, fd, &id), MMIO_OK);
	close(fd);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 3);
	/* A client killed with buffers attached leaves none behind. */
	pid_t child = harness_spawn("buffers-then-die", NULL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status 0x%x",
		      status);
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_BUFFERS) != 3; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 3);
	rawc_close(&C);
	rawc_open(&C);
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_BUFFERS) != 0; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, PROTO_LEN_TO_END, &scratch, NULL),
			 MMIO_OK);
}
END_TEST

/* Idle connections to the descriptor channel do not hold it up. */
START_TEST(idle_channel_connections_do_not_stall_it)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int idle[40];
	uint32_t id;
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.fd", H.sock);
	for (int i = 0; i < 40; i++) {
		idle[i] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		ck_assert_int_eq(connect(idle[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
	}
	uint64_t t0 = now_ms();
	fd = memfd_sized(4096, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 4096, fd, &id), MMIO_OK);
	close(fd);
	ck_assert_uint_lt(now_ms() - t0, 900);
	for (int i = 0; i < 40; i++)
		close(idle[i]);
}
END_TEST

/* Child: attach two buffers, then die without a word. */
static int child_buffers_then_die(void)
{
	struct rawc mine;
	uint32_t id;
	int fd = memfd_create("child", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, 4096) != 0 || fcntl(fd, F_ADD_SEALS, SEALS) != 0)
		return 10;
	rawc_open(&mine);
	int st = buffer_attach(&mine, 4096, fd, &id);
	if (st == MMIO_OK)
		st = buffer_attach(&mine, 4096, fd, &id);
	if (st != MMIO_OK) {
		fprintf(stderr, "buffers-then-die: %s\n", mmio_status_name(st));
		return 11;
	}
	raise(SIGKILL);
	return 12;
}

/* A token presented by another uid gets nothing, and is burned. */
START_TEST(map_token_of_another_uid_is_refused)
{
	struct proto_map_rep m;
	uint32_t h;
	uint64_t off;
	int fd, status;
	char token[32];

	ck_assert_msg(geteuid() == 0, "this test presents a token as uid 1000: run it as root");
	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	snprintf(token, sizeof(token), "%llu", (unsigned long long)m.token);
	setenv("MMIO_TEST_TOKEN", token, 1);
	pid_t child = harness_spawn("present-token-as-1000", NULL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert(harness_log_contains("presented a token issued to uid 0"));
}
END_TEST

/* A client over its handle limit gets MMIO_ENOMEM, and nothing grows. */
START_TEST(handle_limit_gives_enomem)
{
	uint32_t h[8];
	int opened = 1; /* the fixture's */

	for (; opened < 6; opened++)
		ck_assert_int_eq(rawc_open_region(&C, "scratch", 0x100 * (uint64_t)opened, 0x10,
						  &h[opened], NULL),
				 MMIO_OK);
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, 0x10, NULL, NULL), MMIO_ENOMEM);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_HANDLES), 6);
	struct proto_request rq = { .opcode = PROTO_OP_CLOSE };
	struct proto_reply rep;
	rq.close.handle = h[1];
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL); /* closed twice */
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, 0x10, NULL, NULL), MMIO_OK);
}
END_TEST

START_TEST(sigterm_stops_cleanly)
{
	struct stat st;
	int status;

	rawc_close(&C);
	rawc_open(&C); /* teardown closes it again */
	status = harness_server_stop();
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_ne(stat(H.sock, &st), 0);
	ck_assert(harness_log_contains("stopped"));
}
END_TEST

static int run_check_config(const char *policy)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "'%s' --check-config -c '%s' >>'%s' 2>&1", MMIO_SERVER_BIN,
		 policy, H.log);
	return system(cmd);
}

START_TEST(check_config_exit_codes)
{
	int status = run_check_config(H.policy);

	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	harness_policy("version: 1\nregions:\n  - name: x\n    simm: true\n");
	status = run_check_config(H.policy);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ck_assert(harness_log_contains("policy.yaml:4:5:"));
	/* A file that is not there. */
	status = run_check_config("/nonexistent/policy.yaml");
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ck_assert(harness_log_contains("/nonexistent/policy.yaml"));
}
END_TEST

/* A start on an invalid policy exits 78 (EX_CONFIG), which the unit's
 * RestartPreventExitStatus= names: systemd does not restart it in a loop. */
START_TEST(start_invalid_policy_exits_78)
{
	char cmd[1024];
	int status;

	harness_policy("version: 1\nregions:\n  - name: x\n    simm: true\n");
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' >>'%s' 2>&1", MMIO_SERVER_BIN, H.policy, H.log);
	status = system(cmd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 78, "status 0x%x", status);
	ck_assert(harness_log_contains("invalid policy, not starting"));
	snprintf(cmd, sizeof(cmd), "'%s' -c /nonexistent/policy.yaml >>'%s' 2>&1", MMIO_SERVER_BIN,
		 H.log);
	status = system(cmd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 78, "status 0x%x", status);
}
END_TEST

/*
 * server.windows on a host without the mmio-window module: auto says it
 * hands out whole-BAR descriptors, not revocable; required refuses to
 * start, naming the device.
 */
START_TEST(windows_required_without_the_module_refuses_to_start)
{
	char cmd[1024];
	int status;

	ck_assert_msg(access("/dev/mmio-window", F_OK) != 0,
		      "this host has /dev/mmio-window: the test needs one without the module");
	ck_assert(harness_log_contains("whole-BAR descriptors, not revocable"));
	harness_policy("version: 1\nserver:\n  windows: required\n");
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' >>'%s' 2>&1", MMIO_SERVER_BIN, H.policy, H.log);
	status = system(cmd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	ck_assert(harness_log_contains("server.windows is required, but /dev/mmio-window"));
}
END_TEST

/* ---- the mailbox: requests carried in a shared buffer ---- */

/* The test's end of a mailbox: the buffer, as a client maps it. */
struct rawmb {
	uint8_t *map;
	uint32_t id;  /* the buffer */
	uint32_t seq; /* the last request's sequence value */
	uint8_t reply[PROTO_MBOX_MSG_MAX];
};

static _Atomic uint32_t *mb_word(struct rawmb *mb, size_t off)
{
	return (_Atomic uint32_t *)(void *)(mb->map + off);
}

/* Share a buffer of @size bytes and ask MAILBOX on it: the status. No
 * ck_assert here: a child uses it too. */
static int mb_open(struct rawc *c, struct rawmb *mb, size_t size)
{
	struct proto_request rq = { .opcode = PROTO_OP_MAILBOX };
	struct proto_reply rep;
	int fd = memfd_create("test-mailbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int status;

	memset(mb, 0, sizeof(*mb));
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0 || fcntl(fd, F_ADD_SEALS, SEALS) != 0)
		return MMIO_EINTERNAL;
	mb->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mb->map == MAP_FAILED)
		return MMIO_EINTERNAL;
	status = buffer_attach(c, size, fd, &mb->id);
	close(fd);
	if (status != MMIO_OK)
		return status;
	rq.mailbox.buffer = mb->id;
	if (rawc_call(c, &rq, &rep) != MMIO_OK)
		return MMIO_ECONN;
	return rep.status;
}

/* Post @len raw bytes as the next request and ring; don't wait. */
static void mb_post(struct rawmb *mb, const void *bytes, uint32_t len, uint32_t claimed_len)
{
	if (bytes)
		memcpy(mb->map + PROTO_MBOX_REQ, bytes, len);
	atomic_store(mb_word(mb, PROTO_MBOX_REQ_LEN), claimed_len);
	atomic_store(mb_word(mb, PROTO_MBOX_REQ_SEQ), ++mb->seq);
	syscall(SYS_futex, mb_word(mb, PROTO_MBOX_REQ_SEQ), FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Wait (up to 5 s) for the reply to the last request: its length (0: none). */
static uint32_t mb_wait(struct rawmb *mb)
{
	uint64_t t0 = now_ms();

	while (atomic_load(mb_word(mb, PROTO_MBOX_REP_SEQ)) != mb->seq) {
		ck_assert_msg(now_ms() - t0 < 5000, "no mailbox reply to request %u in 5 s",
			      mb->seq);
		usleep(100);
	}
	uint32_t len = atomic_load(mb_word(mb, PROTO_MBOX_REP_LEN));
	ck_assert_uint_le(len, PROTO_MBOX_MSG_MAX);
	memcpy(mb->reply, mb->map + PROTO_MBOX_REP, len);
	return len;
}

/* One request through the mailbox; its decoded reply. */
static void mb_call(struct rawmb *mb, const struct proto_request *rq, struct proto_reply *rep)
{
	uint8_t buf[256];
	size_t len;
	uint32_t rlen;

	ck_assert_int_eq(proto_request_encode(rq, buf, sizeof(buf), &len), MMIO_OK);
	mb_post(mb, buf, (uint32_t)len, (uint32_t)len);
	rlen = mb_wait(mb);
	ck_assert_uint_gt(rlen, 0);
	ck_assert_int_eq(proto_reply_decode(mb->reply, rlen, rep), MMIO_OK);
	ck_assert_uint_eq(rep->opcode, rq->opcode);
}

/* The suite's policy with room for a mailbox in the buffer limits. */
static void setup_mailbox(void)
{
	char yaml[sizeof(policy_main) + 64];
	const char *at = strstr(policy_main, "max_buffer_bytes: 32KiB");

	ck_assert_ptr_nonnull(at);
	snprintf(yaml, sizeof(yaml), "%.*smax_buffer_bytes: 1MiB%s", (int)(at - policy_main),
		 policy_main, at + strlen("max_buffer_bytes: 32KiB"));
	harness_init();
	harness_policy(yaml);
	harness_server_start();
	rawc_open(&C);
	ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, PROTO_LEN_TO_END, &scratch, NULL),
			 MMIO_OK);
}

/* The mailbox answers what the socket answers, as the same client. */
START_TEST(mailbox_carries_requests_as_the_socket)
{
	static struct rawmb mb, small;
	struct proto_request rq = { .opcode = PROTO_OP_WRITE_ONCE };
	struct proto_reply rep;
	uint64_t v;

	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 1);
	/* One per client; only on a buffer of exactly the mailbox's size. */
	rq.opcode = PROTO_OP_MAILBOX;
	rq.mailbox.buffer = mb.id;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EBUSY);
	rq.mailbox.buffer = mb.id + 100;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	ck_assert_int_eq(mb_open(&C, &small, 8192), MMIO_EINVAL);
	/* Its buffer lives as long as the connection, whoever asks. */
	rq.opcode = PROTO_OP_BUF_DETACH;
	rq.buf_detach.buffer = mb.id;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EBUSY);
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EBUSY);
	/* No HELLO flag announces mailboxes: version-1 clients refuse unknown ones. */
	rq = (struct proto_request){ .opcode = PROTO_OP_HELLO, .hello = { 1, 1 } };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.hello.flags, PROTO_HELLO_DIRECT);

	/* A store by mailbox is seen by the socket, and the other way round. */
	rq = (struct proto_request){ .opcode = PROTO_OP_WRITE_ONCE };
	rq.write_once = (struct proto_write_once_req){ scratch, 4, 0x40, 0xCAFEF00D };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_int_eq(rawc_read_once(&C, scratch, 0x40, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xCAFEF00D);
	ck_assert_int_eq(rawc_write_once(&C, scratch, 0x48, 8, 0x0123456789ABCDEFull), MMIO_OK);
	rq = (struct proto_request){ .opcode = PROTO_OP_READ_ONCE };
	rq.read_once = (struct proto_read_once_req){ scratch, 8, 0x48 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.read_once.value, 0x0123456789ABCDEFull);
	/* The same checks: a width the grant refuses, a handle that is not ours. */
	uint32_t regs;
	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	rq.read_once = (struct proto_read_once_req){ regs, 2, 0 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	rq.read_once = (struct proto_read_once_req){ regs + 1000, 4, 0 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EINVAL);
	rq = (struct proto_request){ .opcode = PROTO_OP_WRITE_ONCE };
	rq.write_once = (struct proto_write_once_req){ regs, 4, 0, 1 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	/* A POLL waits its full timeout in the mailbox too. */
	rq = (struct proto_request){ .opcode = PROTO_OP_POLL };
	rq.poll = (struct proto_poll_req){ scratch, 4, 0x40, 0xFFFFFFFF, 1, 200000 };
	uint64_t t0 = now_ms();
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_ETIMEDOUT);
	ck_assert_uint_eq(rep.poll.value, 0xCAFEF00D);
	ck_assert_uint_ge(now_ms() - t0, 200);
	/* And the client's requests are counted: the mailbox served them. */
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_REQUESTS), 7);

	/* Leaving frees the mailbox, its thread and its buffer. */
	rawc_close(&C);
	rawc_open(&C);
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_MAILBOXES) != 0; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 0);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
	munmap(mb.map, PROTO_MBOX_SIZE);
	munmap(small.map, 8192);
}
END_TEST

/* The mailbox path makes the same one check: one line, one denial, alone or batched. */
START_TEST(mailbox_denial_is_audited_once_alone_or_batched)
{
	const char *line = "region=regs op=WRITE_ONCE offset=0x108 len=4 status=MMIO_EACCES";
	static struct rawmb mb;
	struct proto_batch_op op = { .opcode = PROTO_OP_WRITE_ONCE, .width = 4, .offset = 8 };
	struct proto_request rq = { .opcode = PROTO_OP_WRITE_ONCE };
	struct proto_reply rep;
	uint64_t denials;
	unsigned audits;
	uint32_t regs;

	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	audits = harness_log_count("audit:");
	denials = rawc_stat(&C, PROTO_STAT_DENIALS);
	rq.write_once = (struct proto_write_once_req){ regs, 4, 8, 1 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	op.handle = regs;
	rq = (struct proto_request){ .opcode = PROTO_OP_BATCH };
	rq.batch.count = 1;
	rq.batch.ops = &op;
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count(line), 2);
	ck_assert_uint_eq(harness_log_count("audit:"), audits + 2);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 2);
}
END_TEST

/* Garbage, lies about lengths, rings without cause: errors, and the
 * mailbox and the server serve on. */
START_TEST(mailbox_survives_a_hostile_client)
{
	static struct rawmb mb;
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE };
	struct proto_reply rep;
	uint64_t errors;
	uint32_t len;

	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	errors = rawc_stat(&C, PROTO_STAT_PROTO_ERRORS);
	/* Bytes that are no request: a refusal that names no opcode. */
	mb_post(&mb, "hello, server", 13, 13);
	len = mb_wait(&mb);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(proto_reply_decode(mb.reply, len, &rep), PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(rep.opcode, PROTO_OP_NONE);
	ck_assert_int_eq(rep.status, MMIO_EPROTO);
	/* A length past the mailbox: no answer at all, and nothing read past it. */
	mb_post(&mb, NULL, 0, PROTO_MBOX_MSG_MAX + 1);
	ck_assert_uint_eq(mb_wait(&mb), 0);
	mb_post(&mb, NULL, 0, UINT32_MAX);
	ck_assert_uint_eq(mb_wait(&mb), 0);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_PROTO_ERRORS), errors + 3);
	/* A truncated request of a real opcode. */
	uint8_t buf[64];
	size_t n;
	rq.read_once = (struct proto_read_once_req){ scratch, 4, 0 };
	ck_assert_int_eq(proto_request_encode(&rq, buf, sizeof(buf), &n), MMIO_OK);
	mb_post(&mb, buf, (uint32_t)n - 1, (uint32_t)n - 1);
	len = mb_wait(&mb);
	ck_assert_int_eq(proto_reply_decode(mb.reply, len, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EPROTO);
	/* 20,000 rings with random bytes and lengths, never waiting. */
	unsigned seed = 7;
	for (int i = 0; i < 20000; i++) {
		uint8_t junk[32];
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
		mb_post(&mb, junk, sizeof(junk), (seed >> 8) % 48);
	}
	/* The mailbox still answers, and so does the socket. */
	rq.read_once = (struct proto_read_once_req){ scratch, 4, 0 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 1);
	munmap(mb.map, PROTO_MBOX_SIZE);
}
END_TEST

/* A client killed while its mailbox request waits in the server (a long
 * POLL) leaves nothing behind, promptly. */
START_TEST(mailbox_client_killed_mid_request)
{
	int status, report;
	char ready;
	pid_t child = harness_spawn("mailbox-poll-then-wait", &report);

	ck_assert_int_eq(read(report, &ready, 1), 1);
	close(report);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 1);
	usleep(100000); /* the POLL is in the server */
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	uint64_t t0 = now_ms();
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_MAILBOXES) != 0; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 0);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
	/* Well within the 3 s the POLL would have waited. */
	ck_assert_uint_lt(now_ms() - t0, 1500);
}
END_TEST

#define MAILBOXES_PER_UID 8 /* the server's SRV_MAILBOXES_PER_UID */

/* One uid runs at most MAILBOXES_PER_UID mailboxes; a mailbox freed by
 * a departing client can be had again. */
START_TEST(mailboxes_are_capped_per_uid)
{
	static struct rawmb mbs[MAILBOXES_PER_UID + 1];
	struct rawc extra[MAILBOXES_PER_UID];

	for (int i = 0; i < MAILBOXES_PER_UID; i++) {
		rawc_open(&extra[i]);
		ck_assert_int_eq(mb_open(&extra[i], &mbs[i], PROTO_MBOX_SIZE), MMIO_OK);
	}
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), MAILBOXES_PER_UID);
	ck_assert_int_eq(mb_open(&C, &mbs[MAILBOXES_PER_UID], PROTO_MBOX_SIZE), MMIO_EBUSY);
	ck_assert(harness_log_contains("no mailbox: 8 per uid"));
	rawc_close(&extra[0]);
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_MAILBOXES) != 7; i++)
		usleep(10000);
	struct proto_request rq = { .opcode = PROTO_OP_MAILBOX };
	struct proto_reply rep;
	rq.mailbox.buffer = mbs[MAILBOXES_PER_UID].id;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	for (int i = 1; i < MAILBOXES_PER_UID; i++)
		rawc_close(&extra[i]);
	for (int i = 0; i <= MAILBOXES_PER_UID; i++)
		munmap(mbs[i].map, PROTO_MBOX_SIZE);
}
END_TEST

/* Child, as uid 1001 (in no grant): a buffer yes, a mailbox no; uid 1000
 * (with grants) gets one. */
static int child_mailbox_grantless(void)
{
	static struct rawmb mb;
	struct rawc mine;
	int st;

	if (setgid(1001) != 0 || setuid(1001) != 0)
		return 10;
	rawc_open(&mine);
	st = mb_open(&mine, &mb, PROTO_MBOX_SIZE);
	if (st != MMIO_EACCES) {
		fprintf(stderr, "mailbox-grantless: MAILBOX gave %s\n", mmio_status_name(st));
		return 11;
	}
	return 0;
}

/* A client the policy grants nothing gets no mailbox thread. */
START_TEST(mailbox_refused_to_a_client_without_grants)
{
	int status;
	pid_t child;

	ck_assert_msg(geteuid() == 0, "this test runs a client as uid 1001: run it as root");
	child = harness_spawn("mailbox-grantless", NULL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAILBOXES), 0);
}
END_TEST

/* Child: a mailbox, then a 3 s POLL through it; says ready on fd 3 first. */
static int child_mailbox_poll(void)
{
	static struct rawmb mb;
	struct proto_request rq = { .opcode = PROTO_OP_POLL };
	uint8_t buf[128];
	size_t len;
	struct rawc mine;
	uint32_t h;

	rawc_open(&mine);
	if (rawc_open_region(&mine, "scratch", 0, PROTO_LEN_TO_END, &h, NULL) != MMIO_OK ||
	    mb_open(&mine, &mb, PROTO_MBOX_SIZE) != MMIO_OK)
		return 10;
	rq.poll = (struct proto_poll_req){ h, 4, 0, 0xFFFFFFFF, 0x5A5A5A5A, 3000000 };
	if (proto_request_encode(&rq, buf, sizeof(buf), &len) != MMIO_OK)
		return 11;
	if (write(3, "r", 1) != 1)
		return 12;
	mb_post(&mb, buf, (uint32_t)len, (uint32_t)len);
	pause();
	return 13;
}

/* ------------------------------------------------------------------------
 * Hostile local users: tokens that outlive their authority, a table one
 * uid fills, a device a client resizes, a channel that spins, counters
 * for strangers, and OPEN's REQUIRE_DIRECT.
 * ------------------------------------------------------------------------ */

static const char policy_hostile[] =
	"version: 1\n"
	"server:\n"
	"  listen: \"%SOCK%\"\n"
	"  socket_mode: \"0666\"\n"
	"  limits: { ungranted_sessions: 2 } # what a served stranger may do\n"
	"regions:\n"
	"  - { name: mapme, sim: true, size: 8KiB }\n"
	"  - { name: excl, sim: true, size: 4KiB }\n"
	"  - { name: nomap, sim: true, size: 4KiB }\n"
	"clients:\n"
	"  - name: root\n"
	"    uid: 0\n"
	"    grants:\n"
	"      - { region: mapme, access: rw, ops: [once, map] }\n"
	"      - { region: excl, access: rw, ops: [once, map], exclusive: true }\n"
	"      - { region: nomap, access: rw, ops: [once] }\n"
	"  - name: driver\n"
	"    uid: 1000\n"
	"    grants:\n"
	"      - { region: nomap, access: r, ops: [once] }\n";

/* The grant a reload takes away in map_token_dies_with_its_grant. */
static const char mapme_grant[] = "      - { region: mapme, access: rw, ops: [once, map] }\n";

static void setup_hostile(void)
{
	/* The device as a production server has it: sealed. */
	unsetenv("MMIO_SIM_RESIZABLE");
	harness_init();
	harness_policy(policy_hostile);
	harness_server_start();
	rawc_open(&C);
}

static int close_handle(struct rawc *c, uint32_t h)
{
	struct proto_request rq = { .opcode = PROTO_OP_CLOSE };
	struct proto_reply rep;

	rq.close.handle = h;
	ck_assert_int_eq(rawc_call(c, &rq, &rep), MMIO_OK);
	return rep.status;
}

/* CLOSE, or the end of the session, kills the handle's MAP token. */
START_TEST(map_token_dies_with_its_handle)
{
	struct proto_map_rep m;
	struct rawc d;
	uint32_t h;
	uint64_t off;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(close_handle(&C, h), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);

	rawc_open(&d);
	ck_assert_int_eq(rawc_open_region(&d, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&d, h, &m), MMIO_OK);
	rawc_close(&d);
	ck_assert(handles_reach(&C, 0, 2000));
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
}
END_TEST

/* A reload that takes the grant away kills the token of its handle. */
START_TEST(map_token_dies_with_its_grant)
{
	char yaml[sizeof(policy_hostile)];
	const char *at = strstr(policy_hostile, mapme_grant);
	struct proto_map_rep m;
	uint32_t h;
	uint64_t off, t0;
	int fd;

	ck_assert_ptr_nonnull(at);
	snprintf(yaml, sizeof(yaml), "%.*s%s", (int)(at - policy_hostile), policy_hostile,
		 at + strlen(mapme_grant));
	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	t0 = now_ms();
	harness_policy(yaml);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_read_once(&C, h, 0, 4, NULL) == MMIO_EREVOKED);
	/* Within the token's lifetime, or the test would prove nothing. */
	ck_assert_uint_lt(now_ms() - t0, 1500);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
}
END_TEST

/*
 * The attack on an exclusive grant: MAP, CLOSE, another client opens the
 * range exclusively, then the first presents its token. It gets nothing,
 * and the second client's device bytes stay its own.
 */
START_TEST(old_token_gives_no_access_to_an_exclusive_handle)
{
	struct proto_map_rep m;
	struct rawc second;
	uint32_t h, h2;
	uint64_t off, v;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(close_handle(&C, h), MMIO_OK);
	rawc_open(&second);
	ck_assert_int_eq(rawc_open_region(&second, "excl", 0, PROTO_LEN_TO_END, &h2, NULL),
			 MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&second, h2, 0, 4, 0x5EC0), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_EACCES);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(rawc_read_once(&second, h2, 0, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x5EC0);
	/* And the first client still cannot open it: the exclusivity holds. */
	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, NULL, NULL), MMIO_EBUSY);
	rawc_close(&second);
}
END_TEST

#define FLOOD_CONNECTIONS 34 /* x 8 tokens each: more than the server's 256 */

/* Child: as @uid, BUF_ATTACH from FLOOD_CONNECTIONS connections, 8 each;
 * report how many tokens it got on fd 3 (a u32), then hold them. */
static int child_buffer_token_flood(uid_t uid)
{
	static struct rawc conns[FLOOD_CONNECTIONS];
	struct proto_request rq = { .opcode = PROTO_OP_BUF_ATTACH };
	struct proto_reply rep;
	uint32_t got = 0;

	if (setgid(uid) != 0 || setuid(uid) != 0)
		return 10;
	rq.buf_attach.length = 4096;
	for (int i = 0; i < FLOOD_CONNECTIONS; i++) {
		rawc_open(&conns[i]);
		nng_socket_set_ms(conns[i].s, NNG_OPT_RECVTIMEO, 300);
		for (int k = 0; k < 8; k++) {
			/* A connection past the uid's session caps is refused:
			 * it answers nothing, so go on to the next. */
			if (rawc_call(&conns[i], &rq, &rep) != MMIO_OK)
				break;
			got += rep.status == MMIO_OK;
		}
	}
	if (write(3, &got, sizeof(got)) != sizeof(got))
		return 11;
	pause();
	return 0;
}

/* Run the flood as @role; *@got: its tokens. The child holds them until killed. */
static pid_t flood_start(const char *role, uint32_t *got)
{
	int report;
	pid_t child = harness_spawn(role, &report);

	ck_assert_int_eq(read(report, got, sizeof(*got)), (ssize_t)sizeof(*got));
	close(report);
	return child;
}

static void flood_stop(pid_t child)
{
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
}

/* A connection that asks for descriptors and never picks them up meets
 * the per-connection cap on hand-overs (8), and the refusal names it. */
START_TEST(token_cap_refusal_names_the_cap)
{
	struct proto_request rq = { .opcode = PROTO_OP_MAP };
	struct proto_reply rep;
	uint32_t h;
	char why[200];
	int ok = 0;

	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	rq.map.handle = h;
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
		if (rep.status != MMIO_OK)
			break;
		ok++;
	}
	ck_assert_int_eq(ok, 8);
	ck_assert_int_eq(rep.status, MMIO_ENOMEM);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_LIMIT);
	ck_assert_uint_eq(rep.reason.a, MMIO_LIMIT_TOKENS);
	ck_assert_uint_eq(rep.reason.b, 8);
	proto_reason_format(rep.status, &rep.reason, why, sizeof(why));
	ck_assert_msg(strstr(why, "8 descriptor hand-overs"), "%s", why);
}
END_TEST

/* Neither a uid without grants nor a granted one can take the token table
 * from another uid's MAP. */
START_TEST(buffer_tokens_cannot_crowd_out_map)
{
	struct proto_map_rep m;
	uint32_t h, got;
	uint64_t off;
	int fd;
	pid_t child;

	ck_assert_msg(geteuid() == 0, "this test runs clients as uids 1000, 1001: run it as root");
	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	child = flood_start("buffer-token-flood-as-1001", &got);
	ck_assert_uint_eq(got, 0); /* no grant, no buffer */
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	close(fd);
	flood_stop(child);

	child = flood_start("buffer-token-flood-as-1000", &got);
	ck_assert_uint_gt(got, 0);
	ck_assert_uint_le(got, 16); /* its share of the table */
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	close(fd);
	flood_stop(child);
}
END_TEST

/* A read-write direct grant cannot resize the sim device under the others. */
START_TEST(mapped_sim_device_cannot_be_resized)
{
	struct proto_map_rep m;
	struct stat st;
	uint32_t h;
	uint64_t off, v;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, h, 8184, 8, 0x0123456789ABCDEFull), MMIO_OK);
	ck_assert_int_eq(map_handle(&C, h, &m), MMIO_OK);
	ck_assert_int_eq(fd_pickup(m.token, &fd, &off), MMIO_OK);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(ftruncate(fd, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(ftruncate(fd, (off_t)1 << 40), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 8192);
	close(fd);
	ck_assert_int_eq(rawc_read_once(&C, h, 8184, 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x0123456789ABCDEFull);
}
END_TEST

/* The lowest descriptor number free in process @pid. */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	bool used[4096] = { false };
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
			used[fd] = true;
	}
	closedir(d);
	while (n < 4096 && used[n])
		n++;
	return n;
}

/* CPU time (user + system, in clock ticks) process @pid has used. */
static unsigned long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')'); /* the command may hold spaces */
	ck_assert_ptr_nonnull(p);
	/* After ")": state (field 3) ... utime is field 14, stime 15. */
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime),
			 2);
	return utime + stime;
}

/* Rings without a request cost the server little, and the mailbox still
 * answers afterwards. */
START_TEST(mailbox_rung_without_cause_costs_little)
{
	static struct rawmb mb;
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE };
	struct proto_reply rep;
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long used, rings = 0;

	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	/* What the idle server costs anyway (its guard, its watchdog). */
	unsigned long long idle = cpu_ticks(H.server);
	usleep(1000 * 1000);
	idle = cpu_ticks(H.server) - idle;
	used = cpu_ticks(H.server);
	for (uint64_t end = now_ms() + 1000; now_ms() < end; rings++)
		syscall(SYS_futex, mb_word(&mb, PROTO_MBOX_REQ_SEQ), FUTEX_WAKE, 1, NULL, NULL, 0);
	used = cpu_ticks(H.server) - used;
	ck_assert_msg(used < idle + (unsigned long long)hz * 5 / 100,
		      "the server used %llu of %ld clock ticks in 1 s of %llu rings without a "
		      "request (%llu idle)",
		      used, hz, rings, idle);
	rq.read_once = (struct proto_read_once_req){ scratch, 4, 0 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_OK);
	munmap(mb.map, PROTO_MBOX_SIZE);
}
END_TEST

/*
 * A channel connection pending while the server has no descriptor left
 * (accept fails with EMFILE) must not make the channel thread spin; once
 * descriptors are back, the connection is served.
 */
START_TEST(channel_waits_calmly_at_emfile)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct rlimit old, low;
	uint8_t token[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, reply[16];
	struct pollfd pfd;
	unsigned long long before, used;
	long hz = sysconf(_SC_CLK_TCK);
	int conn;

	ck_assert_msg(geteuid() == 0,
		      "this test lowers the server's RLIMIT_NOFILE: run it as root");
	ck_assert_int_eq(prlimit(H.server, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest_free_fd(H.server);
	ck_assert_int_eq(prlimit(H.server, RLIMIT_NOFILE, &low, NULL), 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.fd", H.sock);
	conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(conn, 0);
	ck_assert_int_eq(connect(conn, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(send(conn, token, sizeof(token), 0), (ssize_t)sizeof(token));
	usleep(100000);
	before = cpu_ticks(H.server);
	usleep(1000000);
	used = cpu_ticks(H.server) - before;
	ck_assert_int_eq(prlimit(H.server, RLIMIT_NOFILE, &old, NULL), 0);
	ck_assert_msg(used < (unsigned long long)hz / 5,
		      "the server used %llu of %ld clock ticks in 1 s with a channel connection "
		      "pending at EMFILE",
		      used, hz);
	/* Served once it can be: an unknown token, refused. */
	pfd = (struct pollfd){ .fd = conn, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 3000), 1);
	ck_assert_int_eq(recv(conn, reply, sizeof(reply), 0), (ssize_t)sizeof(reply));
	ck_assert_int_eq(
		(int32_t)(reply[0] | reply[1] << 8 | reply[2] << 16 | (uint32_t)reply[3] << 24),
		MMIO_EACCES);
	close(conn);
}
END_TEST

/* Child: as @uid, ask STATS; exit 0 if the answer is @want. */
static int child_stats(uid_t uid, int want)
{
	struct proto_request rq = { .opcode = PROTO_OP_STATS };
	struct proto_reply rep;
	struct rawc mine;

	if (setgid(uid) != 0 || setuid(uid) != 0)
		return 10;
	rawc_open(&mine);
	if (rawc_call(&mine, &rq, &rep) != MMIO_OK)
		return 11;
	if (rep.status != want) {
		fprintf(stderr, "stats as %u: %s\n", (unsigned)uid, mmio_status_name(rep.status));
		return 12;
	}
	return 0;
}

static void run_child(const char *role)
{
	int status;
	pid_t child = harness_spawn(role, NULL);

	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status 0x%x", role,
		      status);
}

/* Server-wide counters only for the policy's clients; a stranger's try is audited. */
START_TEST(stats_refused_to_a_uid_the_policy_does_not_know)
{
	uint64_t denials = rawc_stat(&C, PROTO_STAT_DENIALS);

	ck_assert_msg(geteuid() == 0, "this test runs clients as uids 1000, 1001: run it as root");
	run_child("stats-as-1001");
	ck_assert(harness_log_contains("uid=1001"));
	ck_assert(harness_log_contains("op=STATS offset=0x0 len=0 status=MMIO_EACCES"));
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 1);
	run_child("stats-as-1000"); /* a client entry of the policy: allowed */
}
END_TEST

/* OPEN with REQUIRE_DIRECT: EACCES where MAP could not succeed, as PROTOCOL.md says. */
static int open_flags(const char *name, uint64_t off, uint64_t len, uint32_t flags)
{
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;

	snprintf(rq.open.name, sizeof(rq.open.name), "%s", name);
	rq.open.offset = off;
	rq.open.length = len;
	rq.open.flags = flags;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	return rep.status;
}

START_TEST(open_require_direct_refused_where_map_cannot_be)
{
	ck_assert_int_eq(open_flags("nomap", 0, PROTO_LEN_TO_END, PROTO_OPEN_REQUIRE_DIRECT),
			 MMIO_EACCES);
	/* Part of a mappable device: the descriptor would give all of it. */
	ck_assert_int_eq(open_flags("mapme", 0, 4096, PROTO_OPEN_REQUIRE_DIRECT), MMIO_EACCES);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_HANDLES), 0);
	/* DIRECT alone is a wish: proxied then. */
	ck_assert_int_eq(open_flags("nomap", 0, PROTO_LEN_TO_END, PROTO_OPEN_DIRECT), MMIO_OK);
	ck_assert_int_eq(open_flags("mapme", 0, PROTO_LEN_TO_END, PROTO_OPEN_REQUIRE_DIRECT),
			 MMIO_OK);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_HANDLES), 2);
}
END_TEST

/* ------------------------------------------------------------------------
 * Issue 18: reloads against hostile policy paths and under long copies.
 * ------------------------------------------------------------------------ */

/* The server's chunk of a copy (ops.c COPY_CHUNK): a revoked copy's done is
 * a multiple of it. */
#define COPY_CHUNK (256u << 10)
#define BIG	   (1024u << 20)

/* Before: root copies on big and writes mbox; uid 1001 reads calm. After:
 * root loses big and mbox and gains flag (the sign that it is in force). */
static const char policy_copies_fmt[] = "version: 1\n"
					"server:\n"
					"  listen: \"%%SOCK%%\"\n"
					"  socket_mode: \"0666\"\n"
					"  limits:\n"
					"    max_buffer_bytes: 1MiB\n"
					"regions:\n"
					"  - { name: big, sim: true, size: 1GiB }\n"
					"  - { name: mbox, sim: true, size: 4KiB }\n"
					"  - { name: calm, sim: true, size: 4KiB }\n"
					"  - { name: flag, sim: true, size: 4KiB }\n"
					"clients:\n"
					"  - name: root\n"
					"    uid: 0\n"
					"    grants:\n"
					"%s"
					"  - name: other\n"
					"    uid: 1001\n"
					"    grants:\n"
					"      - { region: calm, access: r, ops: [once] }\n";

static void policy_copies(bool after)
{
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), policy_copies_fmt,
		 after ? "      - { region: flag, access: r, ops: [once] }\n"
		       : "      - { region: big, access: rw, ops: [bulk, fill] }\n"
			 "      - { region: mbox, access: rw, ops: [once] }\n");
	harness_policy(yaml);
}

static void setup_copies(void)
{
	harness_init();
	policy_copies(false);
	harness_server_start();
	rawc_open(&C);
}

/* The whole contents of the server's log (freed by the caller). */
static char *log_read(void)
{
	FILE *f = fopen(H.log, "r");
	char *text = calloc(1, 1 << 20);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(text);
	n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* SIGTERM: the server must be gone within @ms (then SIGKILLed by teardown). */
static bool server_stops_within(unsigned ms)
{
	int status;

	harness_server_signal(SIGTERM);
	for (uint64_t end = now_ms() + ms; now_ms() < end; usleep(10000)) {
		if (waitpid(H.server, &status, WNOHANG) == H.server) {
			H.server = 0;
			return true;
		}
	}
	return false;
}

/* Defect 10: a FIFO at the policy path wedged the main thread in open(). */
START_TEST(policy_fifo_neither_wedges_reload_nor_stop)
{
	uint32_t h;
	uint64_t v;

	ck_assert_int_eq(unlink(H.policy), 0);
	ck_assert_int_eq(mkfifo(H.policy, 0600), 0);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES) >= 1);
	ck_assert(harness_log_contains("policy.yaml: is a FIFO, not a regular file"));
	/* The previous policy serves on. */
	ck_assert_int_eq(rawc_open_region(&C, "calm", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_ENOENT);
	ck_assert_int_eq(rawc_open_region(&C, "mbox", 0, PROTO_LEN_TO_END, &h, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_read_once(&C, h, 0, 4, &v), MMIO_OK);
	ck_assert_msg(server_stops_within(2000), "SIGTERM did not stop the server in 2 s");
}
END_TEST

/* Defect 11: a policy path symlinked to a secret file had its lines logged. */
START_TEST(policy_symlink_to_a_secret_is_not_echoed)
{
	static const char *const secret_parts[] = { "s3cr3t", "Zm9v",  "$6$",
						    "root:",  "19000", "99999" };
	char secret[96];
	FILE *f;
	char *log;

	snprintf(secret, sizeof(secret), "%s/shadow", H.dir);
	f = fopen(secret, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 50; i++)
		fprintf(f, "root%d:$6$s3cr3tSalt$Zm9vYmFy%d:19000:0:99999:7:::\n", i, i);
	fclose(f);
	ck_assert_int_eq(unlink(H.policy), 0);
	ck_assert_int_eq(symlink(secret, H.policy), 0);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES) >= 1);
	/* What an operator runs to see why: its output goes to the same log. */
	ck_assert_int_ne(run_check_config(H.policy), 0);
	log = log_read();
	for (size_t i = 0; i < sizeof(secret_parts) / sizeof(secret_parts[0]); i++) {
		const char *at = strstr(log, secret_parts[i]);

		ck_assert_msg(!at, "the log holds '%s': %.100s", secret_parts[i],
			      at > log + 40 ? at - 40 : log);
	}
	ck_assert(harness_log_contains("policy.yaml:1:1: not a policy"));
	free(log);
}
END_TEST

/* A root client filling big in a loop from a thread, byte 1, 2, 1, 2... */
struct filler {
	struct rawc c;
	uint32_t h;
	atomic_bool stop;
	atomic_uint fills; /* fills completed */
	int status;	   /* of the fill that ended the loop */
	uint64_t done;
	uint8_t byte, prev; /* its byte, and the last completed fill's (0: none) */
};

static void filler_open(struct filler *f)
{
	memset(f, 0, sizeof(*f));
	rawc_open(&f->c);
	ck_assert_int_eq(rawc_open_region(&f->c, "big", 0, PROTO_LEN_TO_END, &f->h, NULL), MMIO_OK);
}

static void *filler_run(void *arg)
{
	struct filler *f = arg;
	struct proto_request rq = { .opcode = PROTO_OP_FILL };
	struct proto_reply rep;

	for (uint8_t b = 1; !atomic_load(&f->stop); b = (uint8_t)(3 - b)) {
		rq.fill = (struct proto_fill_req){ .handle = f->h, .len = BIG, .byte = b };
		f->byte = b;
		if (rawc_call(&f->c, &rq, &rep) != MMIO_OK) {
			f->status = MMIO_ECONN;
			break;
		}
		f->status = rep.status;
		f->done = rep.done;
		if (rep.status != MMIO_OK)
			break;
		f->prev = b;
		atomic_fetch_add(&f->fills, 1);
	}
	return NULL;
}

/* The server's big region, as the test sees it (PROT_READ). */
static const uint8_t *big_map(void)
{
	int fd = harness_sim_fd("big");
	void *p;

	ck_assert_int_ge(fd, 0);
	p = mmap(NULL, BIG, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* The first offset in [from, to) of @m that is not @b, or @to. */
static size_t first_not(const uint8_t *m, size_t from, size_t to, uint8_t b)
{
	for (size_t i = from; i < to; i++)
		if (m[i] != b)
			return i;
	return to;
}

/*
 * Defect 12 (issue point 3): a copy in flight when a reload removes its
 * grant stops at the next chunk with MMIO_EREVOKED and the exact done; the
 * device holds exactly those bytes. (The reload used to wait for the whole
 * copy, which then succeeded.)
 */
START_TEST(copy_in_flight_is_revoked_with_exact_done)
{
	const uint8_t *m = big_map();
	struct filler f;
	pthread_t t;
	int tries = 0;

	do {
		filler_open(&f);
		ck_assert_int_eq(pthread_create(&t, NULL, filler_run, &f), 0);
		WAIT_FOR(atomic_load(&f.fills) >= 1);
		usleep(5000); /* into the next fill */
		policy_copies(true);
		harness_server_signal(SIGHUP);
		pthread_join(t, NULL);
		rawc_close(&f.c);
		ck_assert_int_eq(f.status, MMIO_EREVOKED);
		ck_assert_uint_eq(f.done % COPY_CHUNK, 0);
		ck_assert_uint_lt(f.done, BIG);
		/* Exactly done bytes of the new fill, the last one's past them. */
		ck_assert_uint_eq(first_not(m, 0, f.done, f.byte), f.done);
		ck_assert_uint_eq(first_not(m, f.done, BIG, f.prev), BIG);
		if (f.done > 0)
			break;
		/* The reload fell between two fills: once more. */
		policy_copies(false);
		harness_server_signal(SIGHUP);
		WAIT_FOR(rawc_open_region(&C, "flag", 0, PROTO_LEN_TO_END, NULL, NULL) ==
			 MMIO_ENOENT);
	} while (++tries < 3);
	ck_assert_msg(f.done > 0, "no reload met a fill in flight in 3 tries");
	munmap((void *)m, BIG);
}
END_TEST

/*
 * The bound on the slowest round trip of a client of another uid while a
 * fill loop runs and the policy reloads. Under ThreadSanitizer, with no
 * reload at all, it reaches the other builds' bound on two cores
 * (docs/PERFORMANCE.md): that build checks the locking, the others the
 * stall.
 */
#if defined(__SANITIZE_THREAD__)
#define ROUND_TRIP_BOUND_US 250000u
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ROUND_TRIP_BOUND_US 250000u
#endif
#endif
#ifndef ROUND_TRIP_BOUND_US
#define ROUND_TRIP_BOUND_US 50000u
#endif

/* As uid 1001, read32 in a loop for 3 s; report the slowest round trip (us). */
static int child_roundtrips_1001(int report)
{
	uint64_t worst = 0, n = 0, end;
	struct rawc mine;
	char line[64];
	uint32_t h;

	if (setgid(1001) != 0 || setuid(1001) != 0)
		return 10;
	rawc_open(&mine);
	if (rawc_open_region(&mine, "calm", 0, PROTO_LEN_TO_END, &h, NULL) != MMIO_OK)
		return 11;
	if (write(report, "r", 1) != 1)
		return 12;
	for (end = now_ms() + 3000; now_ms() < end; n++) {
		struct timespec a, b;
		uint64_t us;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (rawc_read_once(&mine, h, 0, 4, NULL) != MMIO_OK)
			return 13;
		clock_gettime(CLOCK_MONOTONIC, &b);
		us = (uint64_t)(((int64_t)b.tv_sec - a.tv_sec) * 1000000 +
				((int64_t)b.tv_nsec - a.tv_nsec) / 1000);
		if (us > worst)
			worst = us;
	}
	snprintf(line, sizeof(line), "%llu %llu\n", (unsigned long long)worst,
		 (unsigned long long)n);
	return write(report, line, strlen(line)) > 0 ? 0 : 14;
}

/* One round of reload_under_a_long_copy_stalls_nobody: uid 1001's slowest
 * round trip (us) while the policy reloads five times, the count after
 * @reloads before. */
static unsigned long long roundtrips_under_reloads(uint64_t reloads)
{
	char line[64] = { 0 };
	unsigned long long worst = 0, n = 0;
	uint64_t slowest_reload = 0;
	int report, status;
	pid_t child;

	child = harness_spawn("roundtrips-as-1001", &report);
	ck_assert_int_eq(read(report, line, 1), 1);
	for (uint64_t i = reloads + 1; i <= reloads + 5; i++) {
		uint64_t t0 = now_ms();

		usleep(150000);
		harness_server_signal(SIGHUP); /* the same policy: every handle stays */
		WAIT_FOR(rawc_stat(&C, PROTO_STAT_RELOADS) >= i);
		if (now_ms() - t0 - 150 > slowest_reload)
			slowest_reload = now_ms() - t0 - 150;
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_gt(read(report, line, sizeof(line) - 1), 0);
	close(report);
	ck_assert_int_eq(sscanf(line, "%llu %llu", &worst, &n), 2);
	fprintf(stderr,
		"reload under a fill loop: %llu round trips, slowest %llu us; slowest "
		"reload %llu ms\n",
		n, worst, (unsigned long long)slowest_reload);
	return worst;
}

/*
 * Defect 12: reloads while one client fills 1 GiB in a loop. Each reload
 * completes without waiting for the fill, and a client of another uid
 * stays fast throughout (before the fix its round trips stalled behind the
 * fill, several times the bound: docs/PERFORMANCE.md). A stall the reload
 * causes shows in every round; on a saturated machine scheduling alone can
 * stall one round trip as long (seen without any reload), so three rounds
 * are allowed.
 */
START_TEST(reload_under_a_long_copy_stalls_nobody)
{
	unsigned long long worst = ~0ull;
	struct filler f;
	pthread_t t;

	filler_open(&f);
	ck_assert_int_eq(pthread_create(&t, NULL, filler_run, &f), 0);
	WAIT_FOR(atomic_load(&f.fills) >= 1);
	for (uint64_t round = 0; round < 3 && worst >= ROUND_TRIP_BOUND_US; round++)
		worst = roundtrips_under_reloads(round * 5);
	atomic_store(&f.stop, true);
	pthread_join(t, NULL);
	rawc_close(&f.c);
	ck_assert_int_eq(f.status, MMIO_OK); /* the fills went on through the reloads */
	ck_assert_msg(worst < ROUND_TRIP_BOUND_US, "uid 1001's slowest round trip took %llu us",
		      worst);
}
END_TEST

/* A root client writing 1, 2, 3... to mbox through its mailbox until refused. */
struct mbwriter {
	struct rawc c;
	struct rawmb mb;
	uint32_t h;
	uint32_t last; /* the last value written with MMIO_OK */
	int status;
};

static void *mbwriter_run(void *arg)
{
	struct mbwriter *w = arg;
	struct proto_request rq = { .opcode = PROTO_OP_WRITE_ONCE };
	struct proto_reply rep;

	for (uint32_t i = 1;; i++) {
		rq.write_once =
			(struct proto_write_once_req){ .handle = w->h, .width = 4, .value = i };
		mb_call(&w->mb, &rq, &rep);
		w->status = rep.status;
		if (rep.status != MMIO_OK)
			break;
		w->last = i;
	}
	return NULL;
}

/*
 * Defect 12: a mailbox client writing in a loop stops once the reload that
 * removed its grant is in force, even while another client's fill holds
 * the reload's attention: no write lands after a client can see the new
 * policy (here: root can OPEN flag). It used to write on until the reload
 * reached its session, behind the fill.
 */
START_TEST(mailbox_writes_stop_when_the_reload_is_in_force)
{
	static struct mbwriter w;
	static struct rawmb seer;
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;
	struct rawc sc;
	struct filler f;
	pthread_t tf, tw;
	uint32_t at_marker;
	uint32_t *word;
	int fd;

	filler_open(&f); /* first: the old reload met its session first */
	memset(&w, 0, sizeof(w));
	rawc_open(&w.c);
	ck_assert_int_eq(rawc_open_region(&w.c, "mbox", 0, PROTO_LEN_TO_END, &w.h, NULL), MMIO_OK);
	ck_assert_int_eq(mb_open(&w.c, &w.mb, PROTO_MBOX_SIZE), MMIO_OK);
	rawc_open(&sc);
	ck_assert_int_eq(mb_open(&sc, &seer, PROTO_MBOX_SIZE), MMIO_OK);
	fd = harness_sim_fd("mbox");
	ck_assert_int_ge(fd, 0);
	word = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(word, MAP_FAILED);
	close(fd);

	ck_assert_int_eq(pthread_create(&tf, NULL, filler_run, &f), 0);
	WAIT_FOR(atomic_load(&f.fills) >= 1);
	ck_assert_int_eq(pthread_create(&tw, NULL, mbwriter_run, &w), 0);
	WAIT_FOR(*(volatile uint32_t *)word > 100);
	policy_copies(true);
	harness_server_signal(SIGHUP);
	/* The mailbox answers without the session table: it sees the policy
	 * as soon as it is in force. */
	snprintf(rq.open.name, sizeof(rq.open.name), "flag");
	rq.open.length = PROTO_LEN_TO_END;
	do
		mb_call(&seer, &rq, &rep);
	while (rep.status == MMIO_ENOENT);
	ck_assert_int_eq(rep.status, MMIO_OK);
	at_marker = *(volatile uint32_t *)word;
	pthread_join(tw, NULL);
	pthread_join(tf, NULL);
	ck_assert_int_eq(w.status, MMIO_EREVOKED);
	ck_assert_uint_eq(*(volatile uint32_t *)word, w.last);
	ck_assert_msg(w.last == at_marker,
		      "%u mailbox writes landed after the new policy was in force",
		      w.last - at_marker);
	munmap(word, PAGE);
	rawc_close(&sc);
	rawc_close(&w.c);
	rawc_close(&f.c);
}
END_TEST

/* ---- issue 23: every refusal says why, whatever carries it ---- */

struct why_case {
	struct proto_request rq; /* READ_ONCE, WRITE_ONCE, POLL: also tried as a batch item */
	int status;
	struct mmio_reason why;
};

static void reason_is(const struct proto_reply *rep, const struct why_case *w, const char *how)
{
	ck_assert_msg(rep->status == w->status, "%s %s: status %s", how,
		      proto_opcode_name(w->rq.opcode), mmio_status_name(rep->status));
	ck_assert_msg(rep->reason.code == w->why.code && rep->reason.op == w->why.op &&
			      rep->reason.a == w->why.a && rep->reason.b == w->why.b,
		      "%s %s: reason %u op %u a 0x%" PRIx64 " b 0x%" PRIx64, how,
		      proto_opcode_name(w->rq.opcode), rep->reason.code, rep->reason.op,
		      rep->reason.a, rep->reason.b);
}

/* The one-item batch of a once-op or poll request. */
static bool batch_of(const struct proto_request *rq, struct proto_batch_op *op)
{
	*op = (struct proto_batch_op){ .opcode = rq->opcode };
	switch (rq->opcode) {
	case PROTO_OP_READ_ONCE:
		op->handle = rq->read_once.handle;
		op->width = rq->read_once.width;
		op->offset = rq->read_once.offset;
		return true;
	case PROTO_OP_WRITE_ONCE:
		op->handle = rq->write_once.handle;
		op->width = rq->write_once.width;
		op->offset = rq->write_once.offset;
		op->value = rq->write_once.value;
		return true;
	case PROTO_OP_POLL:
		op->handle = rq->poll.handle;
		op->width = rq->poll.width;
		op->offset = rq->poll.offset;
		op->value = rq->poll.mask;
		op->want = rq->poll.want;
		return true;
	default:
		return false;
	}
}

/* Each case on the socket, through the mailbox @mb, and as a batch item on both. */
static void reasons_check(struct rawmb *mb, const struct why_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct why_case *w = &cases[i];
		struct proto_request brq = { .opcode = PROTO_OP_BATCH };
		struct proto_batch_op op;
		struct proto_reply rep;

		ck_assert_int_eq(rawc_call(&C, &w->rq, &rep), MMIO_OK);
		reason_is(&rep, w, "socket");
		mb_call(mb, &w->rq, &rep);
		reason_is(&rep, w, "mailbox");
		if (!batch_of(&w->rq, &op))
			continue;
		brq.batch.count = 1;
		brq.batch.ops = &op;
		ck_assert_int_eq(rawc_call(&C, &brq, &rep), MMIO_OK);
		ck_assert_uint_eq(rep.batch.failed, 0);
		reason_is(&rep, w, "batch");
		mb_call(mb, &brq, &rep);
		reason_is(&rep, w, "mailbox batch");
	}
}

#define RQ_READ_ONCE(h, w, off)                                                                    \
	{                                                                                          \
		.opcode = PROTO_OP_READ_ONCE, .read_once = {(h), (w), (off) }                      \
	}
#define RQ_WRITE_ONCE(h, w, off, v)                                                                \
	{                                                                                          \
		.opcode = PROTO_OP_WRITE_ONCE, .write_once = {(h), (w), (off), (v) }               \
	}
#define WHY(st, code, op, a, b)                                                                    \
	(st),                                                                                      \
	{                                                                                          \
		MMIO_REASON_##code, PROTO_OP_##op, (a), (b)                                        \
	}

/* Width, alignment, range, op class, access, handle, no grant: each reason
 * with its details, alone or batched, on the socket or the mailbox. */
START_TEST(refusals_carry_their_reason)
{
	static struct rawmb mb;
	uint32_t regs, keys;
	const char *audit = "region=regs op=READ offset=0x104 len=4 status=MMIO_EACCES";

	ck_assert_int_eq(rawc_open_region(&C, "regs", 0x100, 0x100, &regs, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_open_region(&C, "keys", 0, PROTO_LEN_TO_END, &keys, NULL), MMIO_OK);
	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	const struct why_case cases[] = {
		{ RQ_READ_ONCE(regs, 2, 0), WHY(MMIO_EINVAL, WIDTH, READ_ONCE, 2, 4) },
		{ RQ_READ_ONCE(scratch, 4, 0x41), WHY(MMIO_EINVAL, ALIGN, READ_ONCE, 4, 0x41) },
		{ RQ_READ_ONCE(scratch, 8, 0xfffc),
		  WHY(MMIO_EINVAL, RANGE, READ_ONCE, 0x10004, 0x10000) },
		{ RQ_WRITE_ONCE(regs, 4, 0, 1), WHY(MMIO_EACCES, ACCESS, WRITE_ONCE, 2, 1) },
		{ { .opcode = PROTO_OP_POLL, .poll = { keys, 4, 0, 0, 0, 0 } },
		  WHY(MMIO_EACCES, OPS, POLL, MMIO_OPS_POLL, MMIO_OPS_ONCE) },
		{ { .opcode = PROTO_OP_READ, .read = { regs, 4, 4 } },
		  WHY(MMIO_EACCES, OPS, READ, MMIO_OPS_BULK, MMIO_OPS_ONCE | MMIO_OPS_POLL) },
		{ { .opcode = PROTO_OP_READ, .read = { scratch, 0xff00, 0x200 } },
		  WHY(MMIO_EINVAL, RANGE, READ, 0x10100, 0x10000) },
		{ RQ_READ_ONCE(9999, 4, 0), WHY(MMIO_EINVAL, HANDLE, READ_ONCE, 9999, 0) },
		{ { .opcode = PROTO_OP_OPEN, .open = { "nosuch", 0, PROTO_LEN_TO_END, 0 } },
		  WHY(MMIO_ENOENT, NO_GRANT, OPEN, 0, 0) },
	};
	unsigned lines = harness_log_count(audit);

	reasons_check(&mb, cases, sizeof(cases) / sizeof(cases[0]));
	/* The audit names the region, the region-relative offset and the op. */
	ck_assert_uint_eq(harness_log_count(audit), lines + 2);
	munmap(mb.map, PROTO_MBOX_SIZE);
}
END_TEST

/* ---- issue 23: refusals outside the rights check say why too ---- */

struct said_case {
	struct why_case c;
	const char *says; /* in mmio_last_error()'s sentence (proto_reason_format()) */
};

/* Each case on the socket: its status, its reason, and a sentence naming the cause. */
static void said_check(const struct said_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct proto_reply rep;
		char text[256];

		ck_assert_int_eq(rawc_call(&C, &cases[i].c.rq, &rep), MMIO_OK);
		reason_is(&rep, &cases[i].c, "socket");
		proto_reason_format(rep.status, &rep.reason, text, sizeof(text));
		ck_assert_msg(strstr(text, cases[i].says), "%s: \"%s\" does not say \"%s\"",
			      proto_opcode_name(cases[i].c.rq.opcode), text, cases[i].says);
	}
}

#define RQ_OPEN(name, off, len, flags)                                                             \
	{                                                                                          \
		.opcode = PROTO_OP_OPEN, .open = {(name), (off), (len), (flags) }                  \
	}
#define RQ_ROWS(h, off, row, step, n)                                                              \
	{                                                                                          \
		.opcode = PROTO_OP_READ_ROWS, .rows = {                                            \
			.handle = (h),                                                             \
			.offset = (off),                                                           \
			.row_bytes = (row),                                                        \
			.pitch = (step),                                                           \
			.rows = (n)                                                                \
		}                                                                                  \
	}

/* OPEN: the range a grant holds, an invisible region, REQUIRE_DIRECT on a
 * grant without map or on a handle that cannot be mapped; MAP of it. */
START_TEST(open_and_map_refusals_carry_their_reason)
{
	uint32_t part;

	ck_assert_int_eq(rawc_open_region(&C, "mapme", 0, 0x1000, &part, NULL), MMIO_OK);
	const struct said_case cases[] = {
		{ { RQ_OPEN("regs", 0, 0x10, 0),
		    WHY(MMIO_EACCES, GRANT_RANGE, OPEN, 0x100, 0x200) },
		  "one holds [0x100, 0x200)" },
		{ { RQ_OPEN("regs", 0x300, PROTO_LEN_TO_END, 0),
		    WHY(MMIO_EACCES, GRANT_RANGE, OPEN, 0x100, 0x200) },
		  "one holds [0x100, 0x200)" },
		{ { RQ_OPEN("regs", 0x180, 0x100, 0),
		    WHY(MMIO_EACCES, GRANT_RANGE, OPEN, 0x100, 0x200) },
		  "no grant holds that range" },
		{ { RQ_OPEN("other", 0, PROTO_LEN_TO_END, 0),
		    WHY(MMIO_ENOENT, NO_GRANT, OPEN, 0, 0) },
		  "no region of that name is granted" },
		{ { RQ_OPEN("keys", 0, PROTO_LEN_TO_END, PROTO_OPEN_REQUIRE_DIRECT),
		    WHY(MMIO_EACCES, OPS, OPEN, MMIO_OPS_MAP, MMIO_OPS_ONCE) },
		  "no `map` op (mmio_open with MMIO_OPEN_REQUIRE_DIRECT" },
		{ { RQ_OPEN("mapme", 0, 0x1000, PROTO_OPEN_REQUIRE_DIRECT),
		    WHY(MMIO_EACCES, UNMAPPABLE, OPEN, MMIO_UNMAPPABLE_PARTIAL, 0) },
		  "only a handle on the whole region" },
		{ { { .opcode = PROTO_OP_MAP, .map = { part } },
		    WHY(MMIO_EACCES, UNMAPPABLE, MAP, MMIO_UNMAPPABLE_PARTIAL, 0) },
		  "in whole pages, can be mapped" },
		{ { { .opcode = PROTO_OP_CLOSE, .close = { 9999 } },
		    WHY(MMIO_EINVAL, HANDLE, CLOSE, 9999, 0) },
		  "handle 9999 is not open" },
	};

	said_check(cases, sizeof(cases) / sizeof(cases[0]));
	/* The whole region, as its grant gives it, still maps. */
	struct proto_request rq = RQ_OPEN("mapme", 0, PROTO_LEN_TO_END, PROTO_OPEN_REQUIRE_DIRECT);
	struct proto_reply rep;

	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_NONE);
}
END_TEST

/* Spans, shared buffers (limits.max_buffer_bytes 1 MiB here), strided
 * copies and reads too long for a reply. */
START_TEST(buffer_and_geometry_refusals_carry_their_reason)
{
	const struct said_case cases[] = {
		{ { { .opcode = PROTO_OP_BUF_DETACH, .buf_detach = { 77 } },
		    WHY(MMIO_EINVAL, BUFFER, BUF_DETACH, MMIO_BUFFER_UNKNOWN, 77) },
		  "shared buffer 77 is not attached" },
		{ { { .opcode = PROTO_OP_READ_SPAN, .span = { scratch, 0, 16, 77, 0 } },
		    WHY(MMIO_EINVAL, BUFFER, READ_SPAN, MMIO_BUFFER_UNKNOWN, 77) },
		  "shared buffer 77 is not attached" },
		{ { { .opcode = PROTO_OP_BUF_ATTACH, .buf_attach = { 0 } },
		    WHY(MMIO_EINVAL, ARGUMENT, BUF_ATTACH, MMIO_ARGUMENT_EMPTY, 0) },
		  "is 0" },
		{ { { .opcode = PROTO_OP_BUF_ATTACH, .buf_attach = { 2u << 20 } },
		    WHY(MMIO_ENOMEM, LIMIT, BUF_ATTACH, MMIO_LIMIT_BUFFER_BYTES, 1u << 20) },
		  "limits.max_buffer_bytes, 1048576 bytes" },
		{ { { .opcode = PROTO_OP_READ, .read = { scratch, 0, 0x10000 } },
		    WHY(MMIO_EINVAL, ARGUMENT, READ, MMIO_ARGUMENT_TOO_LONG, 0x10000 - 20) },
		  "the most this call takes, 65516 bytes: split it" },
		{ { RQ_ROWS(scratch, 0, 16, 8, 2),
		    WHY(MMIO_EINVAL, ARGUMENT, READ_ROWS, MMIO_ARGUMENT_PITCH, 8) },
		  "the pitch, 8 bytes, is shorter than a row" },
		{ { RQ_ROWS(scratch, 0, 16, 16, 0),
		    WHY(MMIO_EINVAL, ARGUMENT, READ_ROWS, MMIO_ARGUMENT_EMPTY, 0) },
		  "rows) is 0" },
		{ { RQ_ROWS(scratch, 0xff00, 0x80, 0x100, 2),
		    WHY(MMIO_EINVAL, RANGE, READ_ROWS, 0x10080, 0x10000) },
		  "past its 0x10000 bytes" },
	};

	said_check(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

/* The descriptor channel says why a buffer is refused: bytes 4 and 5 of
 * its reply and the u64 carry the reason (PROTOCOL.md, BUF_ATTACH). */
static void buffer_refused(uint64_t length, int fd, unsigned cause, uint64_t b, const char *says)
{
	struct mmio_reason why;
	struct proto_request rq = { .opcode = PROTO_OP_BUF_ATTACH };
	struct proto_reply rep;
	char path[128], text[256];
	uint32_t id;

	rq.buf_attach.length = length;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	snprintf(path, sizeof(path), "%s.fd", H.sock);
	ck_assert_int_eq(cli_channel_attach(path, rep.buf_attach.token, fd, 5000, &id, &why),
			 MMIO_EINVAL);
	ck_assert_uint_eq(why.code, MMIO_REASON_BUFFER);
	ck_assert_uint_eq(why.op, PROTO_OP_BUF_ATTACH);
	ck_assert_uint_eq(why.a, cause);
	ck_assert_uint_eq(why.b, b);
	proto_reason_format(MMIO_EINVAL, &why, text, sizeof(text));
	ck_assert_msg(strstr(text, says), "\"%s\" does not say \"%s\"", text, says);
}

START_TEST(channel_refusals_carry_their_reason)
{
	int fd, pipefd[2];

	fd = memfd_sized(8192, 0);
	buffer_refused(8192, fd, MMIO_BUFFER_NOT_SEALED, 0, "not sealed against shrinking");
	close(fd);
	fd = memfd_sized(8192, SEALS);
	buffer_refused(4096, fd, MMIO_BUFFER_SIZE, 4096, "not the 4096 bytes its token");
	close(fd);
	ck_assert_int_eq(pipe(pipefd), 0);
	buffer_refused(8192, pipefd[0], MMIO_BUFFER_NOT_MEMFD, 0, "is not a memfd");
	close(pipefd[0]);
	close(pipefd[1]);
	fd = memfd_sized(8192, SEALS | F_SEAL_WRITE);
	buffer_refused(8192, fd, MMIO_BUFFER_NO_MAP, 0, "sealed against writes");
	close(fd);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
}
END_TEST

/* MMIO_EBUSY says what is taken: an exclusive range, the connection's
 * mailbox; MAILBOX names the buffer it cannot use. */
START_TEST(busy_and_mailbox_refusals_carry_their_reason)
{
	static struct rawmb mb;
	uint32_t excl, small, spare;
	int fd;

	ck_assert_int_eq(rawc_open_region(&C, "excl", 0, PROTO_LEN_TO_END, &excl, NULL), MMIO_OK);
	fd = memfd_sized(8192, SEALS);
	ck_assert_int_eq(buffer_attach(&C, 8192, fd, &small), MMIO_OK);
	close(fd);
	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	fd = memfd_sized(PROTO_MBOX_SIZE, SEALS);
	ck_assert_int_eq(buffer_attach(&C, PROTO_MBOX_SIZE, fd, &spare), MMIO_OK);
	close(fd);
	const struct said_case cases[] = {
		{ { RQ_OPEN("excl", 0x10, 0x10, 0),
		    WHY(MMIO_EBUSY, BUSY, OPEN, MMIO_BUSY_EXCLUSIVE, 0) },
		  "another handle holds part of that range, and one of them is exclusive" },
		{ { { .opcode = PROTO_OP_MAILBOX, .mailbox = { 77 } },
		    WHY(MMIO_EINVAL, BUFFER, MAILBOX, MMIO_BUFFER_UNKNOWN, 77) },
		  "shared buffer 77 is not attached" },
		{ { { .opcode = PROTO_OP_MAILBOX, .mailbox = { small } },
		    WHY(MMIO_EINVAL, BUFFER, MAILBOX, MMIO_BUFFER_MAILBOX, PROTO_MBOX_SIZE) },
		  "a mailbox is a shared buffer of exactly" },
		{ { { .opcode = PROTO_OP_MAILBOX, .mailbox = { spare } },
		    WHY(MMIO_EBUSY, BUSY, MAILBOX, MMIO_BUSY_MAILBOX, 0) },
		  "this connection has its mailbox already" },
		{ { { .opcode = PROTO_OP_BUF_DETACH, .buf_detach = { mb.id } },
		    WHY(MMIO_EBUSY, BUSY, BUF_DETACH, MMIO_BUSY_IN_USE, mb.id) },
		  "is in use by a copy or the mailbox" },
	};

	said_check(cases, sizeof(cases) / sizeof(cases[0]));
	munmap(mb.map, PROTO_MBOX_SIZE);
}
END_TEST

/* The seventh handle of a client whose limits.max_handles is 6. */
START_TEST(handle_limit_refusal_carries_its_reason)
{
	const struct said_case over = {
		{ RQ_OPEN("scratch", 0, 16, 0),
		  WHY(MMIO_ENOMEM, LIMIT, OPEN, MMIO_LIMIT_HANDLES, 6) },
		"6 handles are open on this connection, the server's limits.max_handles"
	};
	uint32_t h;

	for (int i = 1; i < 6; i++) /* setup() opened the first */
		ck_assert_int_eq(rawc_open_region(&C, "scratch", 0, 16, &h, NULL), MMIO_OK);
	said_check(&over, 1);
}
END_TEST

/*
 * Version 2 added the reason record; a client of version 1 (which refuses
 * any byte past a reply's body) negotiates 1 and gets every refusal as a
 * version 1 server sent it: same status, no record. Version 2 gets both.
 */
START_TEST(version_1_clients_get_refusals_without_a_record)
{
	struct proto_request hello = { .opcode = PROTO_OP_HELLO, .hello = { 1, 1 } };
	struct proto_request open = RQ_OPEN("regs", 0, 0x10, 0);
	struct proto_request once = RQ_READ_ONCE(scratch, 4, 0x41);
	struct proto_reply rep;

	ck_assert_int_eq(rawc_call(&C, &hello, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.hello.version, 1);
	hello.hello.max_version = 2;
	ck_assert_int_eq(rawc_call(&C, &hello, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.hello.version, 2);
	for (unsigned version = 1; version <= 2; version++) {
		size_t record = version == 1 ? 0 : PROTO_REASON_SIZE;

		open.version = once.version = version;
		ck_assert_int_eq(rawc_call(&C, &open, &rep), MMIO_OK);
		ck_assert_int_eq(rep.status, MMIO_EACCES);
		ck_assert_uint_eq(rep.version, version);
		ck_assert_uint_eq(rep.reason.code, version == 1 ? 0 : MMIO_REASON_GRANT_RANGE);
		ck_assert_uint_eq(nng_msg_len(C.last), PROTO_REPLY_HEADER_SIZE + record);
		ck_assert_int_eq(rawc_call(&C, &once, &rep), MMIO_OK);
		ck_assert_int_eq(rep.status, MMIO_EINVAL);
		ck_assert_uint_eq(rep.reason.code, version == 1 ? 0 : MMIO_REASON_ALIGN);
		ck_assert_uint_eq(nng_msg_len(C.last), PROTO_REPLY_HEADER_SIZE + record);
	}
}
END_TEST

/* ---- issue 22: register rules ---- */

#define REG_POLICY_HEAD                                                                            \
	"version: 1\n"                                                                             \
	"server:\n"                                                                                \
	"  listen: \"%SOCK%\"\n"                                                                   \
	"  socket_mode: \"0666\"\n"                                                                \
	"  limits:\n"                                                                              \
	"    max_buffer_bytes: 1MiB\n"                                                             \
	"regions:\n"                                                                               \
	"  - name: dev\n"                                                                          \
	"    sim: true\n"                                                                          \
	"    size: 0x1000\n"                                                                       \
	"clients:\n"                                                                               \
	"  - name: root\n"                                                                         \
	"    uid: 0\n"                                                                             \
	"    grants:\n"                                                                            \
	"      - region: dev\n"                                                                    \
	"        size: 0x800\n"                                                                    \
	"        access: rw\n"                                                                     \
	"        ops: [once, poll]\n"                                                              \
	"        registers:\n"                                                                     \
	"          - { name: R8, offset: 0x00, widths: [1], access: r }\n"                         \
	"          - { name: W16, offset: 0x10, widths: [2], access: w }\n"                        \
	"          - { name: RW64, offset: 0x28, widths: [8], access: rw }\n"                      \
	"          - { name: ANY, offset: 0x30, access: rw }\n"                                    \
	"          - { name: MASK, offset: 0x40, widths: [4], access: w, write_mask: 0xff00, "     \
	"write_fixed: 0x1 }\n"                                                                     \
	"          - { name: NARROW, offset: 0x48, widths: [1, 2], access: w, write_mask: 0xf0 "   \
	"}\n"                                                                                      \
	"          - { name: CTL, offset: 0x50, widths: [4], access: rw, write_mask: 0xff }\n"     \
	"          - { name: ARR, offset: 0x100, count: 4, stride: 0x10, widths: [4], access: r "  \
	"}\n"

static const char policy_regs[] =
	REG_POLICY_HEAD "          - { name: RW32, offset: 0x20, widths: [4], access: rw }\n";
/* The same, but RW32 may only be read now. */
static const char policy_regs_narrowed[] =
	REG_POLICY_HEAD "          - { name: RW32, offset: 0x20, widths: [4], access: r }\n";

static uint32_t dev;

static void setup_registers(void)
{
	harness_init();
	harness_policy(policy_regs);
	harness_server_start();
	rawc_open(&C);
	ck_assert_int_eq(rawc_open_region(&C, "dev", 0, PROTO_LEN_TO_END, &dev, NULL), MMIO_OK);
}

struct reg_expect {
	uint64_t offset;
	unsigned widths, access;
	uint64_t value; /* a value its write rule allows */
};

static const struct reg_expect reg_table[] = {
	{ 0x00, 1, MMIO_ACCESS_READ, 0 },  { 0x10, 2, MMIO_ACCESS_WRITE, 0 },
	{ 0x20, 4, MMIO_ACCESS_ALL, 0 },   { 0x28, 8, MMIO_ACCESS_ALL, 0 },
	{ 0x30, 15, MMIO_ACCESS_ALL, 0 },  { 0x40, 4, MMIO_ACCESS_WRITE, 1 },
	{ 0x48, 3, MMIO_ACCESS_WRITE, 0 }, { 0x50, 4, MMIO_ACCESS_ALL, 0x12 },
};

/* Every register, every width, both directions: allowed exactly where the rule says. */
START_TEST(register_rules_every_width_and_direction)
{
	for (size_t i = 0; i < sizeof(reg_table) / sizeof(reg_table[0]); i++) {
		const struct reg_expect *e = &reg_table[i];

		for (unsigned w = 1; w <= 8; w *= 2) {
			bool width_ok = (e->widths & w) != 0;
			int want_r =
				width_ok && (e->access & MMIO_ACCESS_READ) ? MMIO_OK : MMIO_EACCES;
			int want_w =
				width_ok && (e->access & MMIO_ACCESS_WRITE) ? MMIO_OK : MMIO_EACCES;

			ck_assert_msg(rawc_read_once(&C, dev, e->offset, w, NULL) == want_r,
				      "read%u at 0x%" PRIx64, w * 8, e->offset);
			ck_assert_msg(rawc_write_once(&C, dev, e->offset, w, e->value) == want_w,
				      "write%u at 0x%" PRIx64, w * 8, e->offset);
			/* Inside a register, past its start: never. */
			if (w < 8)
				ck_assert_int_eq(rawc_read_once(&C, dev, e->offset + w, w, NULL),
						 MMIO_EACCES);
		}
	}
	/* Between registers, and past the last: nothing. */
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x04, 4, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x60, 4, 0), MMIO_EACCES);
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x7f8, 8, NULL), MMIO_EACCES);
	/* A poll reads: on a readable register only. */
	struct proto_request rq = { .opcode = PROTO_OP_POLL };
	struct proto_reply rep;

	rq.poll = (struct proto_poll_req){ dev, 4, 0x20, 0, 0, 0 };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_OK);
	rq.poll = (struct proto_poll_req){ dev, 2, 0x10, 0, 0, 0 };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
}
END_TEST

/* Register rules say which part refused: no register there, its widths,
 * its access, the bits the policy fixes; alone, batched, by mailbox. */
START_TEST(register_refusals_carry_their_reason)
{
	static struct rawmb mb;

	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	const struct why_case cases[] = {
		{ RQ_READ_ONCE(dev, 4, 0x04), WHY(MMIO_EACCES, REG_NONE, READ_ONCE, 0x04, 0) },
		{ RQ_READ_ONCE(dev, 2, 0x20), WHY(MMIO_EACCES, REG_WIDTH, READ_ONCE, 2, 4) },
		{ RQ_WRITE_ONCE(dev, 1, 0x00, 0), WHY(MMIO_EACCES, REG_ACCESS, WRITE_ONCE, 2, 1) },
		{ RQ_WRITE_ONCE(dev, 4, 0x50, 0x1ff),
		  WHY(MMIO_EACCES, REG_BITS, WRITE_ONCE, 0x50, 0x100) },
	};

	reasons_check(&mb, cases, sizeof(cases) / sizeof(cases[0]));
	munmap(mb.map, PROTO_MBOX_SIZE);
}
END_TEST

/* Array registers: each element's start, nothing between or past them. */
START_TEST(register_array_elements_only)
{
	for (uint64_t k = 0; k < 4; k++) {
		ck_assert_int_eq(rawc_read_once(&C, dev, 0x100 + 0x10 * k, 4, NULL), MMIO_OK);
		ck_assert_int_eq(rawc_read_once(&C, dev, 0x104 + 0x10 * k, 4, NULL), MMIO_EACCES);
		ck_assert_int_eq(rawc_write_once(&C, dev, 0x100 + 0x10 * k, 4, 0), MMIO_EACCES);
	}
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x140, 4, NULL), MMIO_EACCES);
	ck_assert_int_eq(rawc_read_once(&C, dev, 0xf0, 4, NULL), MMIO_EACCES);
}
END_TEST

/* A write must keep the bits outside the mask as fixed; a refused write
 * leaves the register as it was (no read-modify-write, no partial store). */
START_TEST(register_write_masks_refuse_without_merging)
{
	uint64_t v = 0;

	ck_assert_int_eq(rawc_write_once(&C, dev, 0x40, 4, 0x1), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x40, 4, 0xab01), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x40, 4, 0x0), MMIO_EACCES);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x40, 4, 0x10001), MMIO_EACCES);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x40, 4, 0xab00), MMIO_EACCES);
	/* A narrower write is checked on its own bytes. */
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x48, 1, 0xf0), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x48, 1, 0x0f), MMIO_EACCES);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x48, 2, 0x00f0), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x48, 2, 0x01f0), MMIO_EACCES);
	/* Observable: the refused value never reaches the device. */
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x50, 4, 0x12), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x50, 4, 0x1ff), MMIO_EACCES);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x50, 4, 0x80000034), MMIO_EACCES);
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x50, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x12);
}
END_TEST

/* A batch runs in order and stops at the first op a register rule refuses. */
START_TEST(register_batch_stops_at_first_refused)
{
	struct proto_batch_op ops[4] = {
		{ .opcode = PROTO_OP_WRITE_ONCE,
		  .width = 4,
		  .handle = 0,
		  .offset = 0x50,
		  .value = 0x34 },
		{ .opcode = PROTO_OP_READ_ONCE, .width = 4, .handle = 0, .offset = 0x20 },
		{ .opcode = PROTO_OP_WRITE_ONCE,
		  .width = 4,
		  .handle = 0,
		  .offset = 0x50,
		  .value = 0x134 },
		{ .opcode = PROTO_OP_WRITE_ONCE,
		  .width = 4,
		  .handle = 0,
		  .offset = 0x20,
		  .value = 0x77 },
	};
	struct proto_request rq = { .opcode = PROTO_OP_BATCH };
	struct proto_reply rep;
	uint64_t v = 0;

	for (size_t i = 0; i < 4; i++)
		ops[i].handle = dev;
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x20, 4, 0x11), MMIO_OK);
	rq.batch.count = 4;
	rq.batch.ops = ops;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	ck_assert_uint_eq(rep.batch.failed, 2);
	ck_assert_uint_eq(rep.done, 2);
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x50, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x34);
	ck_assert_int_eq(rawc_read_once(&C, dev, 0x20, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x11);
}
END_TEST

/* Copies, fills and mappings never reach the bytes of a grant with registers. */
START_TEST(register_grant_refuses_copies_fills_and_maps)
{
	struct proto_request rq = { .opcode = PROTO_OP_READ };
	struct proto_reply rep;

	rq.read = (struct proto_read_req){ dev, 0x20, 4 };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	rq = (struct proto_request){ .opcode = PROTO_OP_FILL };
	rq.fill = (struct proto_fill_req){ dev, 0x20, 4, 0xff };
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	rq = (struct proto_request){ .opcode = PROTO_OP_MAP };
	rq.map.handle = dev;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	rq = (struct proto_request){ .opcode = PROTO_OP_OPEN };
	snprintf(rq.open.name, sizeof(rq.open.name), "dev");
	rq.open.length = PROTO_LEN_TO_END;
	rq.open.flags = PROTO_OPEN_REQUIRE_DIRECT;
	ck_assert_int_eq(rawc_call(&C, &rq, &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
}
END_TEST

/* One check: a register denial is one audit line naming the region and the
 * register's region-relative offset, alone, in a batch or by mailbox. */
START_TEST(register_denial_is_audited_alone_batched_or_by_mailbox)
{
	const char *line = "region=dev op=WRITE_ONCE offset=0x40 len=4 status=MMIO_EACCES";
	static struct rawmb mb;
	struct proto_request rq = { .opcode = PROTO_OP_WRITE_ONCE };
	struct proto_reply rep;
	uint64_t denials = rawc_stat(&C, PROTO_STAT_DENIALS);
	uint32_t part;

	/* A handle from 0x40: its offset 0 is the region's 0x40 (MASK). */
	ck_assert_int_eq(rawc_open_region(&C, "dev", 0x40, 0x20, &part, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, part, 0, 4, 0x1), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, part, 0, 4, 0x2), MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count(line), 1);
	ck_assert_int_eq(batch_one(part, PROTO_OP_WRITE_ONCE, 0, 4, 0x2), MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count(line), 2);
	ck_assert_int_eq(mb_open(&C, &mb, PROTO_MBOX_SIZE), MMIO_OK);
	rq.write_once = (struct proto_write_once_req){ part, 4, 0, 0x2 };
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	ck_assert_uint_eq(harness_log_count(line), 3);
	rq.write_once.value = 0x1;
	mb_call(&mb, &rq, &rep);
	ck_assert_int_eq(rep.status, MMIO_OK);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_DENIALS), denials + 3);
}
END_TEST

/* A reload that narrows a register rule revokes the handles opened under it. */
START_TEST(register_rule_narrowed_by_reload_revokes)
{
	uint32_t again;

	ck_assert_int_eq(rawc_write_once(&C, dev, 0x20, 4, 0x5), MMIO_OK);
	harness_policy(policy_regs_narrowed);
	harness_server_signal(SIGHUP);
	WAIT_FOR(rawc_read_once(&C, dev, 0x20, 4, NULL) == MMIO_EREVOKED);
	ck_assert_int_eq(rawc_write_once(&C, dev, 0x20, 4, 0x6), MMIO_EREVOKED);
	ck_assert_int_eq(rawc_open_region(&C, "dev", 0, PROTO_LEN_TO_END, &again, NULL), MMIO_OK);
	ck_assert_int_eq(rawc_write_once(&C, again, 0x20, 4, 0x6), MMIO_EACCES);
	uint64_t v = 0;
	ck_assert_int_eq(rawc_read_once(&C, again, 0x20, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x5);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ready_hello_list);
	tcase_add_test(tc, once_ops_every_width);
	tcase_add_test(tc, bulk_copy_and_fill);
	tcase_add_test(tc, poll_match_timeout_width);
	tcase_add_test(tc, poll_does_not_block_others);
	tcase_add_test(tc, batch_in_order_stops_at_failure);
	tcase_add_test(tc, denials_follow_policy_and_are_audited);
	tcase_add_test(tc, sensitive_access_is_audited);
	tcase_add_test(tc, exclusive_busy_until_holder_dies);
	tcase_add_test(tc, device_fault_gives_exact_count);
	tcase_add_test(tc, strided_rows_exact_done_on_fault);
	tcase_add_test(tc, strided_rows_hostile_geometry);
	tcase_add_test(tc, raw_connect_close_does_not_stop_listener);
	tcase_add_test(tc, hostile_messages_get_errors_and_server_serves_on);
	tcase_add_test(tc, client_killed_mid_poll_or_batch);
	tcase_add_test(tc, client_that_never_reads_does_not_starve_others);
	tcase_add_test(tc, requests_over_the_limit_are_answered_busy);
	tcase_add_test(tc, polls_over_the_uid_cap_name_it);
	tcase_add_test(tc, reload_revokes_and_broken_policy_keeps_old);
	tcase_add_test(tc, reload_applies_socket_mode_and_group);
	tcase_add_test(tc, policy_file_change_reloads_without_signal);
	tcase_add_test(tc, denied_op_is_audited_once_alone_or_batched);
	tcase_add_test(tc, revoked_op_is_counted_alone_or_batched);
	tcase_add_test(tc, stats_match_a_model_of_allowed_and_denied_ops);
	tcase_add_test(tc, other_uid_sees_only_its_grants);
	tcase_add_test(tc, handle_limit_gives_enomem);
	tcase_add_test(tc, map_hands_over_the_device_once);
	tcase_add_test(tc, map_read_only_grant_gives_read_only_descriptor);
	tcase_add_test(tc, map_descriptor_cannot_be_upgraded_or_sealed);
	tcase_add_test(tc, reloads_do_not_wait_for_the_service_manager);
	tcase_add_test(tc, buffers_refuse_what_is_not_a_sealed_memfd);
	tcase_add_test(tc, spans_move_exact_bytes_and_are_checked);
	tcase_add_test(tc, buffers_are_limited_and_released);
	tcase_add_test(tc, idle_channel_connections_do_not_stall_it);
	tcase_add_test(tc, map_refused_where_the_grant_does_not_allow_it);
	tcase_add_test(tc, map_token_of_another_uid_is_refused);
	tcase_add_test(tc, sigterm_stops_cleanly);
	tcase_add_test(tc, check_config_exit_codes);
	tcase_add_test(tc, start_invalid_policy_exits_78);
	tcase_add_test(tc, windows_required_without_the_module_refuses_to_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("mailbox");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup_mailbox, teardown);
	tcase_add_test(tc, mailbox_carries_requests_as_the_socket);
	tcase_add_test(tc, mailbox_denial_is_audited_once_alone_or_batched);
	tcase_add_test(tc, mailbox_survives_a_hostile_client);
	tcase_add_test(tc, mailbox_rung_without_cause_costs_little);
	tcase_add_test(tc, mailbox_client_killed_mid_request);
	tcase_add_test(tc, mailboxes_are_capped_per_uid);
	tcase_add_test(tc, mailbox_refused_to_a_client_without_grants);
	tcase_add_test(tc, refusals_carry_their_reason);
	tcase_add_test(tc, open_and_map_refusals_carry_their_reason);
	tcase_add_test(tc, buffer_and_geometry_refusals_carry_their_reason);
	tcase_add_test(tc, channel_refusals_carry_their_reason);
	tcase_add_test(tc, handle_limit_refusal_carries_its_reason);
	tcase_add_test(tc, busy_and_mailbox_refusals_carry_their_reason);
	tcase_add_test(tc, version_1_clients_get_refusals_without_a_record);
	suite_add_tcase(s, tc);

	tc = tcase_create("registers");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup_registers, teardown);
	tcase_add_test(tc, register_rules_every_width_and_direction);
	tcase_add_test(tc, register_array_elements_only);
	tcase_add_test(tc, register_refusals_carry_their_reason);
	tcase_add_test(tc, register_write_masks_refuse_without_merging);
	tcase_add_test(tc, register_batch_stops_at_first_refused);
	tcase_add_test(tc, register_grant_refuses_copies_fills_and_maps);
	tcase_add_test(tc, register_denial_is_audited_alone_batched_or_by_mailbox);
	tcase_add_test(tc, register_rule_narrowed_by_reload_revokes);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup_hostile, teardown);
	tcase_add_test(tc, map_token_dies_with_its_handle);
	tcase_add_test(tc, map_token_dies_with_its_grant);
	tcase_add_test(tc, old_token_gives_no_access_to_an_exclusive_handle);
	tcase_add_test(tc, buffer_tokens_cannot_crowd_out_map);
	tcase_add_test(tc, token_cap_refusal_names_the_cap);
	tcase_add_test(tc, mapped_sim_device_cannot_be_resized);
	tcase_add_test(tc, channel_waits_calmly_at_emfile);
	tcase_add_test(tc, stats_refused_to_a_uid_the_policy_does_not_know);
	tcase_add_test(tc, open_require_direct_refused_where_map_cannot_be);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_copies, teardown);
	tcase_add_test(tc, policy_fifo_neither_wedges_reload_nor_stop);
	tcase_add_test(tc, policy_symlink_to_a_secret_is_not_echoed);
	tcase_add_test(tc, copy_in_flight_is_revoked_with_exact_done);
	tcase_add_test(tc, reload_under_a_long_copy_stalls_nobody);
	tcase_add_test(tc, mailbox_writes_stop_when_the_reload_is_in_force);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Client roles run in a fresh process (nng may not be used across fork()):
 * harness_spawn() re-executes this program with --child ROLE.
 */
static int child_hold_excl(int report)
{
	struct rawc mine;
	int st;

	rawc_open(&mine);
	st = rawc_open_region(&mine, "excl", 0, PROTO_LEN_TO_END, NULL, NULL);
	if (write(report, st == MMIO_OK ? "y" : "n", 1) != 1)
		return 1;
	pause();
	return 0;
}

static int child_wait_forever(bool batch)
{
	struct proto_request rq = { .opcode = batch ? PROTO_OP_BATCH : PROTO_OP_POLL };
	struct proto_batch_op op = { .opcode = PROTO_OP_POLL,
				     .width = 4,
				     .offset = 0x500,
				     .value = 1,
				     .want = 1,
				     .timeout_us = 2000000 };
	struct proto_reply rep;
	struct rawc mine;
	uint32_t h = 0;

	rawc_open(&mine);
	rawc_open_region(&mine, "scratch", 0, PROTO_LEN_TO_END, &h, NULL);
	rawc_open_region(&mine, "excl", 0, PROTO_LEN_TO_END, NULL, NULL);
	op.handle = h;
	if (batch) {
		rq.batch.count = 1;
		rq.batch.ops = &op;
	} else {
		rq.poll = (struct proto_poll_req){ h, 4, 0x500, 1, 1, 2000000 };
	}
	rawc_call(&mine, &rq, &rep); /* killed while waiting */
	return 0;
}

static int child_uid_1000(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_LIST };
	struct proto_reply rep;
	struct rawc mine;
	uint32_t h;

	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 10;
	rawc_open(&mine);
	if (rawc_open_region(&mine, "other", 0, PROTO_LEN_TO_END, &h, NULL) != MMIO_OK)
		return 11;
	if (rawc_write_once(&mine, h, 0, 4, 1) != MMIO_OK)
		return 12;
	if (rawc_open_region(&mine, "scratch", 0, PROTO_LEN_TO_END, NULL, NULL) != MMIO_ENOENT)
		return 13;
	if (rawc_call(&mine, &rq, &rep) != MMIO_OK || rep.list.count != 2)
		return 14;
	return 0;
}

/* As uid 1000, present a token that uid 0 was given: expect refusal, no descriptor. */
static int child_present_token(void)
{
	const char *t = getenv("MMIO_TEST_TOKEN");
	uint64_t off;
	int fd;

	if (!t || setgid(1000) != 0 || setuid(1000) != 0)
		return 10;
	if (fd_pickup(strtoull(t, NULL, 10), &fd, &off) != MMIO_EACCES)
		return 11;
	return fd == -1 ? 0 : 12;
}

/*
 * As uid 1000, get the read-only descriptor of mapro and try every way to
 * write with it: a writable shared mapping, a read-write reopen through
 * /proc, truncation, seals. Each must fail; exit 0 if all did.
 */
static int child_ro_map_as_1000(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_MAP };
	struct proto_reply rep;
	struct rawc mine;
	char path[64];
	uint64_t off;
	uint32_t h;
	int fd, rw;

	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 10;
	rawc_open(&mine);
	if (rawc_open_region(&mine, "mapro", 0, PROTO_LEN_TO_END, &h, NULL) != MMIO_OK)
		return 11;
	rq.map.handle = h;
	if (rawc_call(&mine, &rq, &rep) != MMIO_OK || rep.status != MMIO_OK)
		return 12;
	if (fd_pickup(rep.map.token, &fd, &off) != MMIO_OK || fd < 0)
		return 13;
	if (mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off) != MAP_FAILED ||
	    errno != EACCES)
		return 14;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rw = open(path, O_RDWR);
	if (rw >= 0 || errno != EACCES)
		return 15;
	if (ftruncate(fd, 0) == 0)
		return 16;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0)
		return 17;
	/* Reading is what it was given. */
	if (mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)off) == MAP_FAILED)
		return 18;
	return 0;
}

int harness_child_main(const char *role)
{
	if (strcmp(role, "buffers-then-die") == 0)
		return child_buffers_then_die();
	if (strcmp(role, "mailbox-poll-then-wait") == 0)
		return child_mailbox_poll();
	if (strcmp(role, "mailbox-grantless") == 0)
		return child_mailbox_grantless();
	if (strcmp(role, "ro-map-as-1000") == 0)
		return child_ro_map_as_1000();
	if (strcmp(role, "present-token-as-1000") == 0)
		return child_present_token();
	if (strcmp(role, "hold-excl") == 0)
		return child_hold_excl(3);
	if (strcmp(role, "poll-forever") == 0)
		return child_wait_forever(false);
	if (strcmp(role, "batch-forever") == 0)
		return child_wait_forever(true);
	if (strcmp(role, "uid-1000") == 0)
		return child_uid_1000();
	if (strcmp(role, "buffer-token-flood-as-1001") == 0)
		return child_buffer_token_flood(1001);
	if (strcmp(role, "buffer-token-flood-as-1000") == 0)
		return child_buffer_token_flood(1000);
	if (strcmp(role, "stats-as-1001") == 0)
		return child_stats(1001, MMIO_EACCES);
	if (strcmp(role, "stats-as-1000") == 0)
		return child_stats(1000, MMIO_OK);
	if (strcmp(role, "roundtrips-as-1001") == 0)
		return child_roundtrips_1001(3);
	return 99;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, server_suite);
}
