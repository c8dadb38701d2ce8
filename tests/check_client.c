/* SPDX-License-Identifier: MIT */
/*
 * libmmio: what can be checked without mmio-server (arguments, URLs,
 * environment, chunk sizes, slices, batches) and, against a fake server (a
 * raw nng rep0 socket in a thread answering with proto-encoded replies),
 * that the stub returns exactly the server's statuses and counts, splits
 * large transfers into max_message pieces, retries a connection that broke
 * before the greeting, and treats pipe loss and malformed replies as it
 * must (MMIO_ECONN, MMIO_EPROTO).
 *
 * Every test runs in its own forked process (Check's default), which also
 * keeps nng's threads out of the parent.
 */
#include "../client/cli.h"

#include <check.h>
#include <grp.h>
#include <mmio/client.h>
#include <mmio/proto.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

/* ------------------------------------------------------------------------
 * The fake server.
 * ------------------------------------------------------------------------ */

enum fake_bad {
	BAD_NONE,
	BAD_WRONG_OPCODE, /* a well-formed reply to another opcode */
	BAD_GARBAGE,	  /* bytes that are no reply at all */
	BAD_DONE_TOO_BIG, /* done larger than asked (with matching data) */
	BAD_SHORT_OK,	  /* MMIO_OK with done short of the length */
};

struct fake_req {
	unsigned opcode, version;
	uint32_t handle, flags, count;
	unsigned width;
	uint64_t offset, len, value;
	size_t size; /* bytes of the request message */
	char name[PROTO_NAME_MAX + 1];
	struct proto_batch_op ops[8];
};

#define FAKE_LOG_MAX 256

struct fake {
	nng_socket sock;
	pthread_t thread;
	atomic_bool stop;
	char url[96];
	char path[80];
	pthread_mutex_t mtx;

	/* Configuration: set before clients connect. */
	uint32_t max_message, max_batch;
	uint64_t region_size;
	unsigned pinned; /* pinned width reported by OPEN */
	uint8_t *mem;
	uint32_t nstats;

	/* HELLO behaviour, counted down. */
	int hello_ignore; /* receive and never answer */
	int hello_close;  /* close the pipe instead of answering */
	int hello_status;
	uint32_t hello_max_message; /* 0: max_message */
	unsigned hello_version;	    /* 0: PROTO_VERSION_MAX; answers are in the request's */

	/* The nth (1-based) request of opcode fail_op gets fail_status/fail_done. */
	unsigned fail_op, fail_nth;
	int fail_status;
	uint64_t fail_done;
	uint32_t fail_batch_index;	/* BATCH: the op that fails */
	struct mmio_reason fail_reason; /* the reason the failure carries (code 0: none) */

	/* The nth request of close_op: close the pipe, no reply. */
	unsigned close_op, close_nth;
	/* The nth request of idle_close_op: reply, then close the pipe. */
	unsigned idle_close_op, idle_close_nth;
	atomic_uint pipes_added; /* connections the fake accepted */
	/* Every request of bad_op gets a bad reply. */
	unsigned bad_op;
	enum fake_bad bad;
	/* Every request of delay_op is answered after delay_ms. */
	unsigned delay_op;
	int delay_ms;

	/* What arrived. */
	struct fake_req log[FAKE_LOG_MAX];
	size_t nlog;
	unsigned seen[PROTO_OP_MAX + 1];
	uint32_t next_handle;
};

static struct fake F;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t mem_get(uint64_t off, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)F.mem[off + i] << (8 * i);
	return v;
}

static void mem_put(uint64_t off, unsigned width, uint64_t v)
{
	for (unsigned i = 0; i < width; i++)
		F.mem[off + i] = (uint8_t)(v >> (8 * i));
}

static bool in_range(uint64_t off, uint64_t len)
{
	return off <= F.region_size && len <= F.region_size - off;
}

static void fake_log(const struct proto_request *rq, size_t size)
{
	struct fake_req *l;

	pthread_mutex_lock(&F.mtx);
	if (rq->opcode <= PROTO_OP_MAX)
		F.seen[rq->opcode]++;
	if (F.nlog == FAKE_LOG_MAX) {
		pthread_mutex_unlock(&F.mtx);
		return;
	}
	l = &F.log[F.nlog];
	memset(l, 0, sizeof(*l));
	l->opcode = rq->opcode;
	l->version = rq->version;
	l->size = size;
	switch (rq->opcode) {
	case PROTO_OP_OPEN:
		memcpy(l->name, rq->open.name, sizeof(l->name));
		l->offset = rq->open.offset;
		l->len = rq->open.length;
		l->flags = rq->open.flags;
		break;
	case PROTO_OP_CLOSE:
		l->handle = rq->close.handle;
		break;
	case PROTO_OP_READ_ONCE:
		l->handle = rq->read_once.handle;
		l->offset = rq->read_once.offset;
		l->width = rq->read_once.width;
		break;
	case PROTO_OP_WRITE_ONCE:
		l->handle = rq->write_once.handle;
		l->offset = rq->write_once.offset;
		l->width = rq->write_once.width;
		l->value = rq->write_once.value;
		break;
	case PROTO_OP_READ:
		l->handle = rq->read.handle;
		l->offset = rq->read.offset;
		l->len = rq->read.len;
		break;
	case PROTO_OP_WRITE:
		l->handle = rq->write.handle;
		l->offset = rq->write.offset;
		l->len = rq->write.len;
		break;
	case PROTO_OP_FILL:
		l->handle = rq->fill.handle;
		l->offset = rq->fill.offset;
		l->len = rq->fill.len;
		l->value = rq->fill.byte;
		break;
	case PROTO_OP_POLL:
		l->handle = rq->poll.handle;
		l->offset = rq->poll.offset;
		l->width = rq->poll.width;
		l->len = rq->poll.timeout_us;
		break;
	case PROTO_OP_BATCH:
		l->count = rq->batch.count;
		for (uint32_t i = 0; i < rq->batch.count && i < 8; i++)
			proto_batch_op_get(&rq->batch, i, &l->ops[i]);
		break;
	default:
		break;
	}
	F.nlog++;
	pthread_mutex_unlock(&F.mtx);
}

/* Count of logged requests with @opcode. */
static unsigned fake_seen(unsigned opcode)
{
	unsigned n;

	pthread_mutex_lock(&F.mtx);
	n = F.seen[opcode];
	pthread_mutex_unlock(&F.mtx);
	return n;
}

/* The @nth (0-based) logged request with @opcode, or NULL. */
static const struct fake_req *fake_find(unsigned opcode, unsigned nth)
{
	for (size_t i = 0; i < F.nlog; i++)
		if (F.log[i].opcode == opcode && nth-- == 0)
			return &F.log[i];
	return NULL;
}

/* Run batch op @op on the fake memory; *value gets its value. */
static int fake_batch_op(const struct proto_batch_op *op, uint64_t *value)
{
	*value = 0;
	if (!in_range(op->offset, op->width))
		return MMIO_EINVAL;
	switch (op->opcode) {
	case PROTO_OP_READ_ONCE:
		*value = mem_get(op->offset, op->width);
		return MMIO_OK;
	case PROTO_OP_WRITE_ONCE:
		mem_put(op->offset, op->width, op->value);
		return MMIO_OK;
	default:
		*value = mem_get(op->offset, op->width);
		return (*value & op->value) == op->want ? MMIO_OK : MMIO_ETIMEDOUT;
	}
}

/* Answer @rq the way a well-behaved server would, into @rep. */
static void fake_answer(const struct proto_request *rq, struct proto_reply *rep, uint64_t *values)
{
	memset(rep, 0, sizeof(*rep));
	rep->opcode = rq->opcode;
	switch (rq->opcode) {
	case PROTO_OP_HELLO:
		rep->hello.version = F.hello_version ? F.hello_version : PROTO_VERSION_MAX;
		rep->hello.max_message = F.hello_max_message ? F.hello_max_message : F.max_message;
		rep->hello.max_batch = F.max_batch;
		rep->hello.max_handles = 16;
		rep->status = F.hello_status;
		break;
	case PROTO_OP_LIST: {
		static const struct proto_list_entry entries[] = {
			{ "scratch", 0x10000, 3,
			  MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL | MMIO_OPS_POLL |
				  MMIO_OPS_MAP,
			  0xF, 3, MMIO_REGION_MAPPABLE, 0, "" },
			{ "keys", 0x100, 1, MMIO_OPS_ONCE, 0xC, 0, MMIO_REGION_SENSITIVE,
			  0xfe000000, "0000:00:07.0 BAR2" },
		};
		rep->list.count = 2;
		rep->list.entries = entries;
		break;
	}
	case PROTO_OP_STATS: {
		static uint64_t counters[PROTO_STATS_MAX];
		for (uint32_t i = 0; i < F.nstats; i++)
			counters[i] = i * 10;
		rep->stats.count = F.nstats;
		rep->stats.counters = counters;
		break;
	}
	case PROTO_OP_OPEN:
		if (strcmp(rq->open.name, "busy") == 0) {
			rep->status = MMIO_EBUSY;
		} else if (strcmp(rq->open.name, "nope") == 0) {
			rep->status = MMIO_ENOENT;
		} else {
			rep->open.handle = F.next_handle++;
			rep->open.size = rq->open.length == PROTO_LEN_TO_END ? F.region_size
									     : rq->open.length;
			rep->open.access = MMIO_ACCESS_ALL;
			rep->open.ops = MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL |
					MMIO_OPS_POLL | MMIO_OPS_MAP;
			rep->open.widths = MMIO_WIDTHS_ALL;
			rep->open.cache = MMIO_CACHE_WRITE_BACK;
			rep->open.width = F.pinned;
			rep->open.flags = MMIO_REGION_MAPPABLE;
			if (strcmp(rq->open.name, "regs.0") == 0) {
				rep->open.phys = 0xfe000000u + rq->open.offset;
				snprintf(rep->open.where, sizeof(rep->open.where), "%s",
					 "0000:00:07.0 BAR2");
			}
		}
		break;
	case PROTO_OP_READ_ONCE:
		if (!in_range(rq->read_once.offset, rq->read_once.width))
			rep->status = MMIO_EINVAL;
		else
			rep->read_once.value = mem_get(rq->read_once.offset, rq->read_once.width);
		break;
	case PROTO_OP_WRITE_ONCE:
		if (!in_range(rq->write_once.offset, rq->write_once.width))
			rep->status = MMIO_EINVAL;
		else
			mem_put(rq->write_once.offset, rq->write_once.width, rq->write_once.value);
		break;
	case PROTO_OP_READ:
		if (!in_range(rq->read.offset, rq->read.len)) {
			rep->status = MMIO_EINVAL;
		} else {
			rep->done = rq->read.len;
			rep->read.data = F.mem + rq->read.offset;
		}
		break;
	case PROTO_OP_WRITE:
		if (!in_range(rq->write.offset, rq->write.len)) {
			rep->status = MMIO_EINVAL;
		} else {
			if (rq->write.len)
				memcpy(F.mem + rq->write.offset, rq->write.data, rq->write.len);
			rep->done = rq->write.len;
		}
		break;
	case PROTO_OP_FILL:
		if (rq->fill.len == 0)
			break;
		if (rq->fill.offset >= F.region_size) {
			rep->status = MMIO_EINVAL;
		} else {
			uint64_t n = F.region_size - rq->fill.offset;

			if (n > rq->fill.len)
				n = rq->fill.len;
			memset(F.mem + rq->fill.offset, rq->fill.byte, n);
			rep->done = n;
			rep->status = n == rq->fill.len ? MMIO_OK : MMIO_EINVAL;
		}
		break;
	case PROTO_OP_POLL:
		if (!in_range(rq->poll.offset, rq->poll.width)) {
			rep->status = MMIO_EINVAL;
		} else {
			rep->poll.value = mem_get(rq->poll.offset, rq->poll.width);
			if ((rep->poll.value & rq->poll.mask) != rq->poll.want)
				rep->status = MMIO_ETIMEDOUT;
		}
		break;
	case PROTO_OP_BATCH:
		rep->batch.failed = PROTO_BATCH_NONE;
		rep->batch.values = values;
		for (uint32_t i = 0; i < rq->batch.count; i++) {
			struct proto_batch_op op;
			int st;

			proto_batch_op_get(&rq->batch, i, &op);
			st = fake_batch_op(&op, &values[i]);
			if (st != MMIO_OK) {
				rep->status = st;
				rep->batch.failed = i;
				break;
			}
			rep->done++;
		}
		break;
	default:
		rep->status = MMIO_EPROTO;
		break;
	}
}

/* Apply the configured failure to @rep (the nth request of fail_op). */
static void fake_fail(const struct proto_request *rq, struct proto_reply *rep)
{
	rep->status = F.fail_status;
	rep->reason = F.fail_reason;
	switch (rq->opcode) {
	case PROTO_OP_READ:
		rep->done = F.fail_done;
		rep->read.data = F.mem + rq->read.offset;
		break;
	case PROTO_OP_WRITE:
	case PROTO_OP_FILL:
		rep->done = F.fail_done;
		break;
	case PROTO_OP_BATCH:
		rep->batch.failed =
			F.fail_status == MMIO_OK ? PROTO_BATCH_NONE : F.fail_batch_index;
		rep->done = F.fail_batch_index == PROTO_BATCH_NONE ? 0 : F.fail_batch_index;
		break;
	case PROTO_OP_POLL:
		rep->poll.value = F.fail_done;
		break;
	default:
		break;
	}
}

static void fake_send_reply(nng_msg *req, const struct proto_reply *rep)
{
	size_t need;
	nng_msg *m;

	ck_assert_int_eq(proto_reply_encode(rep, NULL, 0, &need), MMIO_ENOMEM);
	ck_assert_int_eq(nng_msg_alloc(&m, need), 0);
	ck_assert_int_eq(proto_reply_encode(rep, nng_msg_body(m), need, NULL), MMIO_OK);
	nng_msg_set_pipe(m, nng_msg_get_pipe(req));
	if (nng_sendmsg(F.sock, m, 0) != 0)
		nng_msg_free(m);
}

static void fake_handle(nng_msg *msg)
{
	static uint64_t values[PROTO_BATCH_MAX];
	struct proto_request rq;
	struct proto_reply rep;
	unsigned nth;
	int status;

	status = proto_request_decode(nng_msg_body(msg), nng_msg_len(msg), &rq);
	ck_assert_msg(status == MMIO_OK, "the stub sent a malformed request (%d)", status);
	fake_log(&rq, nng_msg_len(msg));
	nth = fake_seen(rq.opcode);

	if (rq.opcode == PROTO_OP_HELLO && F.hello_ignore > 0) {
		F.hello_ignore--;
		return;
	}
	if ((rq.opcode == PROTO_OP_HELLO && F.hello_close > 0 && F.hello_close--) ||
	    (rq.opcode == F.close_op && nth == F.close_nth)) {
		nng_pipe_close(nng_msg_get_pipe(msg));
		return;
	}
	if (rq.opcode == F.delay_op)
		sleep_ms((unsigned)F.delay_ms);

	fake_answer(&rq, &rep, values);
	if (rq.opcode == F.fail_op && nth == F.fail_nth)
		fake_fail(&rq, &rep);
	rep.version = rq.version; /* as the server: version 1 drops the reason */

	if (rq.opcode == F.bad_op) {
		if (F.bad == BAD_GARBAGE) {
			nng_msg *m;

			ck_assert_int_eq(nng_msg_alloc(&m, 7), 0);
			memcpy(nng_msg_body(m), "garbage", 7);
			nng_msg_set_pipe(m, nng_msg_get_pipe(msg));
			if (nng_sendmsg(F.sock, m, 0) != 0)
				nng_msg_free(m);
			return;
		}
		if (F.bad == BAD_WRONG_OPCODE) {
			memset(&rep, 0, sizeof(rep));
			rep.opcode = rq.opcode == PROTO_OP_WRITE_ONCE ? PROTO_OP_CLOSE
								      : PROTO_OP_WRITE_ONCE;
		} else if (F.bad == BAD_DONE_TOO_BIG && rq.opcode == PROTO_OP_READ) {
			rep.done = rq.read.len + 1;
			rep.read.data = F.mem;
		} else if (F.bad == BAD_DONE_TOO_BIG) {
			rep.done = rep.done + 1;
		} else if (F.bad == BAD_SHORT_OK) {
			rep.done = rep.done ? rep.done - 1 : 0;
		}
	}
	fake_send_reply(msg, &rep);
	if (rq.opcode == F.idle_close_op && nth == F.idle_close_nth) {
		sleep_ms(50); /* let the reply leave first */
		nng_pipe_close(nng_msg_get_pipe(msg));
	}
}

static void fake_pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	atomic_fetch_add(&F.pipes_added, 1);
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&F.stop)) {
		nng_msg *msg;
		int rv = nng_recvmsg(F.sock, &msg, 0);

		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		fake_handle(msg);
		nng_msg_free(msg);
	}
	return NULL;
}

static void fake_start(void)
{
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.mtx, NULL);
	F.max_message = 1 * MiB;
	F.max_batch = PROTO_BATCH_MAX;
	F.region_size = 4 * MiB;
	F.nstats = 3;
	F.next_handle = 7;
	F.mem = calloc(1, F.region_size);
	ck_assert_ptr_nonnull(F.mem);
	snprintf(F.path, sizeof(F.path), "/tmp/mmio-check-client-%ld.sock", (long)getpid());
	snprintf(F.url, sizeof(F.url), "ipc://%s", F.path);
	unlink(F.path);
	ck_assert_int_eq(nng_rep0_open(&F.sock), 0);
	ck_assert_int_eq(nng_socket_set_ms(F.sock, NNG_OPT_RECVTIMEO, 50), 0);
	ck_assert_int_eq(nng_pipe_notify(F.sock, NNG_PIPE_EV_ADD_POST, fake_pipe_added, NULL), 0);
	ck_assert_int_eq(nng_listen(F.sock, F.url, NULL, 0), 0);
	ck_assert_int_eq(pthread_create(&F.thread, NULL, fake_main, NULL), 0);
	setenv("MMIO_SERVER", F.url, 1);
	unsetenv("MMIO_CONNECT_TIMEOUT_MS");
	unsetenv("MMIO_REPLY_TIMEOUT_MS");
}

static void fake_stop(void)
{
	atomic_store(&F.stop, true);
	pthread_join(F.thread, NULL);
	nng_close(F.sock);
	unlink(F.path);
	free(F.mem);
	/* nng frees closed sockets' pipes and dialers on its own threads, a
	 * little later: wait for that, so that LeakSanitizer, at the exit of
	 * the test's process, sees only what was really leaked. */
	nng_fini();
}

/* A client connected to the fake, and a region "scratch" opened whole. */
static mmio_client *C;
static mmio_region *R;

static void connect_fake(void)
{
	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	ck_assert_int_eq(mmio_open(C, "scratch", MMIO_OPEN_PROXIED, &R), MMIO_OK);
}

static void setup_fake(void)
{
	fake_start();
}

static void teardown_fake(void)
{
	fake_stop();
}

/* ------------------------------------------------------------------------
 * Without a server.
 * ------------------------------------------------------------------------ */

START_TEST(strerror_through_client_h)
{
	ck_assert_str_eq(mmio_strerror(MMIO_OK), "success");
	ck_assert_str_eq(mmio_strerror(MMIO_ECONN), "server unreachable or connection lost");
	ck_assert_str_eq(mmio_strerror(1), "unknown status");
	ck_assert_str_eq(mmio_strerror(-13), "unknown status");
	ck_assert_str_eq(mmio_status_name(MMIO_EPROTO), "MMIO_EPROTO");
	ck_assert_str_eq(mmio_status_name(-99), "MMIO_E?");
}
END_TEST

START_TEST(null_arguments)
{
	mmio_region *r = (mmio_region *)&r;
	struct mmio_region_info *list = (void *)&list;
	struct mmio_region_info info;
	mmio_batch *b = (mmio_batch *)&b;
	size_t done = 99, n = 99, failed = 0;
	uint64_t v64;
	uint32_t v32;

	ck_assert_int_eq(mmio_connect(NULL, NULL), MMIO_EINVAL);
	mmio_disconnect(NULL);
	mmio_close(NULL);
	ck_assert_uint_eq(mmio_size(NULL), 0);
	ck_assert_int_eq(mmio_is_direct(NULL), 0);
	ck_assert_int_eq(mmio_open(NULL, "scratch", 0, &r), MMIO_EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(mmio_open_range(NULL, "scratch", 0, 4, 0, NULL), MMIO_EINVAL);
	r = (mmio_region *)&r;
	ck_assert_int_eq(mmio_slice(NULL, 0, 4, &r), MMIO_EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(mmio_read8(NULL, 0, (uint8_t *)&v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read16(NULL, 0, (uint16_t *)&v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(NULL, 0, &v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read64(NULL, 0, &v64), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write8(NULL, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write16(NULL, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write32(NULL, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write64(NULL, 0, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read(NULL, 0, &v64, 8, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	done = 99;
	ck_assert_int_eq(mmio_write(NULL, 0, &v64, 8, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	done = 99;
	ck_assert_int_eq(mmio_fill(NULL, 0, 8, 0, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_poll32(NULL, 0, 1, 1, 0, &v32), MMIO_EINVAL);
	ck_assert_int_eq(mmio_list(NULL, &list, &n), MMIO_EINVAL);
	ck_assert_ptr_null(list);
	ck_assert_uint_eq(n, 0);
	mmio_list_free(NULL);
	n = 99;
	ck_assert_int_eq(mmio_stats(NULL, NULL, 0, &n), MMIO_EINVAL);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(mmio_describe(NULL, &info), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_new(NULL, &b), MMIO_EINVAL);
	ck_assert_ptr_null(b);
	mmio_batch_free(NULL);
	mmio_batch_clear(NULL);
	ck_assert_uint_eq(mmio_batch_count(NULL), 0);
	ck_assert_int_eq(mmio_batch_read(NULL, NULL, 0, 4), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_run(NULL, &failed), MMIO_EINVAL);
	ck_assert_uint_eq(failed, MMIO_BATCH_NONE);
	ck_assert_int_eq(mmio_batch_value(NULL, 0, &v64), MMIO_EINVAL);
}
END_TEST

START_TEST(url_defaults)
{
	unsetenv("MMIO_SERVER");
	ck_assert_str_eq(cli_url_resolve(NULL), "ipc:///run/mmio/mmio.sock");
	ck_assert_str_eq(cli_url_resolve(NULL), MMIO_DEFAULT_URL);
	ck_assert_str_eq(cli_url_resolve("ipc:///tmp/x"), "ipc:///tmp/x");
	setenv("MMIO_SERVER", "ipc:///tmp/from-env", 1);
	ck_assert_str_eq(cli_url_resolve(NULL), "ipc:///tmp/from-env");
	ck_assert_str_eq(cli_url_resolve("ipc:///tmp/x"), "ipc:///tmp/x");
	setenv("MMIO_SERVER", "", 1);
	ck_assert_str_eq(cli_url_resolve(NULL), MMIO_DEFAULT_URL);
}
END_TEST

START_TEST(env_milliseconds)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{ "250", 250 },
		{ "1", 1 },
		{ "86400000", 86400000 },
		{ "0", 77 },
		{ "86400001", 77 },
		{ "-5", 77 },
		{ "12ms", 77 },
		{ " 12", 77 },
		{ "0x10", 77 },
		{ "", 77 },
		{ "99999999999999999999", 77 },
	};

	unsetenv("MMIO_TEST_MS");
	ck_assert_int_eq(cli_env_ms("MMIO_TEST_MS", 77), 77);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("MMIO_TEST_MS", cases[i].text, 1);
		ck_assert_msg(cli_env_ms("MMIO_TEST_MS", 77) == cases[i].want, "'%s' gave %d",
			      cases[i].text, cli_env_ms("MMIO_TEST_MS", 77));
	}
}
END_TEST

START_TEST(env_byte_counts)
{
	static const struct {
		const char *text;
		size_t want;
	} cases[] = {
		{ "0", 0 },
		{ "32768", 32768 },
		{ "18446744073709551615", SIZE_MAX },
		{ "18446744073709551616", SIZE_MAX },
		{ "99999999999999999999999999", SIZE_MAX },
		{ "12k", 77 },
		{ "-1", 77 },
		{ " 1", 77 },
		{ "", 77 },
	};

	unsetenv("MMIO_TEST_BYTES");
	ck_assert_uint_eq(cli_env_size("MMIO_TEST_BYTES", 77), 77);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("MMIO_TEST_BYTES", cases[i].text, 1);
		ck_assert_msg(cli_env_size("MMIO_TEST_BYTES", 77) == cases[i].want, "'%s' gave %zu",
			      cases[i].text, cli_env_size("MMIO_TEST_BYTES", 77));
	}
}
END_TEST

START_TEST(chunk_sizes)
{
	/* READ replies carry the 20-byte reply header; WRITE requests the
	 * 28-byte request head and stay 64 bytes under max_message for nng's
	 * own header. Both are whole multiples of 8. */
	ck_assert_uint_eq(cli_read_chunk_max(1 * MiB), 1 * MiB - 24);
	ck_assert_uint_eq(cli_write_chunk_max(1 * MiB), 1 * MiB - 96);
	ck_assert_uint_eq(cli_read_chunk_max(64 * 1024), 64 * 1024 - 24);
	ck_assert_uint_eq(cli_write_chunk_max(256), 256 - 96);
	ck_assert_uint_eq(cli_read_chunk_max(20), 0);
	ck_assert_uint_eq(cli_write_chunk_max(92), 0);
	ck_assert_uint_eq(cli_write_chunk_max(0), 0);
	for (size_t m = 256; m < 4096; m += 13) {
		ck_assert_uint_eq(cli_read_chunk_max(m) % 8, 0);
		ck_assert_uint_le(cli_read_chunk_max(m) + PROTO_REPLY_HEADER_SIZE, m);
		ck_assert_uint_eq(cli_write_chunk_max(m) % 8, 0);
		ck_assert_uint_le(cli_write_chunk_max(m) + PROTO_WRITE_DATA_OFFSET + CLI_RECV_SLACK,
				  m);
	}
}
END_TEST

START_TEST(connect_unreachable)
{
	mmio_client *c = (mmio_client *)&c;
	uint64_t t0 = now_ms();

	setenv("MMIO_CONNECT_TIMEOUT_MS", "300", 1);
	ck_assert_int_eq(mmio_connect("ipc:///tmp/mmio-check-client-nobody/x.sock", &c),
			 MMIO_ECONN);
	ck_assert_ptr_null(c);
	ck_assert_uint_ge(now_ms() - t0, 250);
	ck_assert_uint_lt(now_ms() - t0, 2000);

	setenv("MMIO_SERVER", "ipc:///tmp/mmio-check-client-nobody/y.sock", 1);
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_ECONN);
}
END_TEST

START_TEST(connect_bad_url)
{
	mmio_client *c;

	ck_assert_int_eq(mmio_connect("", &c), MMIO_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(mmio_connect_error(), "the URL is empty");
	ck_assert_int_eq(mmio_connect("bogus://nowhere", &c), MMIO_EINVAL);
	ck_assert_str_eq(mmio_connect_error(), "bogus://nowhere: not an address nng accepts "
					       "(ipc:///path, tcp://host:port)");
	ck_assert_int_eq(mmio_connect("tcp://", &c), MMIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(mmio_connect_error(), "tcp://: not an address"));
	ck_assert_int_eq(mmio_connect("", NULL), MMIO_EINVAL);
	ck_assert_str_eq(mmio_connect_error(), "out is NULL");
}
END_TEST

/* ------------------------------------------------------------------------
 * Connecting to the fake server.
 * ------------------------------------------------------------------------ */

START_TEST(connect_hello)
{
	mmio_client *c;
	const struct fake_req *h;

	ck_assert_int_eq(mmio_connect(F.url, &c), MMIO_OK);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 1);
	h = fake_find(PROTO_OP_HELLO, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(c->hello.max_message, 1 * MiB);
	ck_assert_uint_eq(c->max_message, 1 * MiB);
	ck_assert_uint_eq(c->hello.max_batch, PROTO_BATCH_MAX);
	mmio_disconnect(c);

	/* $MMIO_SERVER is the default (set by the fixture). */
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_OK);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 2);
	mmio_disconnect(c);
}
END_TEST

/* nng_close() calls from this program (the link wraps it). */
static atomic_uint socket_closes;

int __real_nng_close(nng_socket s);
int __wrap_nng_close(nng_socket s);

int __wrap_nng_close(nng_socket s)
{
	atomic_fetch_add(&socket_closes, 1);
	return __real_nng_close(s);
}

/* A socket the caller may not open: MMIO_EACCES at once, with the path,
 * owner and mode, not MMIO_ECONN after the whole budget. */
START_TEST(connect_refused_at_once)
{
	mmio_client *c = (mmio_client *)&c;
	char mode[32];
	uint64_t t0;

	ck_assert_int_eq(chmod(F.path, 0600), 0);
	if (geteuid() == 0) {
		/* The forked test process becomes nobody, who may not write it. */
		ck_assert_int_eq(setgroups(0, NULL), 0);
		ck_assert_int_eq(setgid(65534), 0);
		ck_assert_int_eq(setuid(65534), 0);
	} else {
		ck_assert_int_eq(chmod(F.path, 0), 0);
	}
	setenv("MMIO_CONNECT_TIMEOUT_MS", "4000", 1);
	t0 = now_ms();
	ck_assert_int_eq(mmio_connect(F.url, &c), MMIO_EACCES);
	ck_assert_uint_lt(now_ms() - t0, 1000);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(mmio_connect_error(), F.path));
	snprintf(mode, sizeof(mode), "mode %04o", geteuid() == 65534 ? 0600 : 0);
	ck_assert_ptr_nonnull(strstr(mmio_connect_error(), mode));
	ck_assert_uint_eq(atomic_load(&F.pipes_added), 0);
}
END_TEST

START_TEST(connect_retries_after_pipe_loss)
{
	mmio_client *c;
	unsigned closes;

	/*
	 * The first connection drops before the HELLO reply: a second HELLO
	 * on the same socket, whose dialer reconnects, and success. Closing
	 * the socket instead could cut the reconnection in its handshake,
	 * which stalls this nng 1.5.2 listener for good (issue 1518; the real
	 * server repairs it): under load, that failed the connect in CI.
	 */
	F.hello_close = 1;
	atomic_store(&socket_closes, 0);
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_OK);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 2);
	closes = atomic_load(&socket_closes);
	ck_assert_msg(closes == 0, "the connect closed %u sockets", closes);
	ck_assert_int_eq(mmio_open(c, "scratch", 0, &R), MMIO_OK);
	mmio_disconnect(c);
	closes = atomic_load(&socket_closes);
	ck_assert_msg(closes == 1, "the disconnect closed %u sockets, not 1", closes);
}
END_TEST

START_TEST(connect_retries_after_silence)
{
	mmio_client *c;
	uint64_t t0 = now_ms();

	/* Like a listener stalled by nng issue 1518: nothing comes back. */
	F.hello_ignore = 1;
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_OK);
	ck_assert_uint_ge(now_ms() - t0, 900);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 2);
	mmio_disconnect(c);
}
END_TEST

START_TEST(connect_gives_up_within_budget)
{
	mmio_client *c = (mmio_client *)&c;
	uint64_t t0 = now_ms();

	F.hello_ignore = 100;
	setenv("MMIO_CONNECT_TIMEOUT_MS", "1500", 1);
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_ECONN);
	ck_assert_ptr_null(c);
	ck_assert_uint_ge(now_ms() - t0, 1400);
	ck_assert_uint_lt(now_ms() - t0, 3000);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 2);
}
END_TEST

START_TEST(connect_version_refused)
{
	mmio_client *c;

	F.hello_status = MMIO_EVERSION;
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_EVERSION);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 1);
}
END_TEST

START_TEST(connect_impossible_limits)
{
	mmio_client *c;

	F.hello_max_message = 100;
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_EPROTO);
	F.hello_max_message = 0;
	F.bad_op = PROTO_OP_HELLO;
	F.bad = BAD_GARBAGE;
	ck_assert_int_eq(mmio_connect(NULL, &c), MMIO_EPROTO);
}
END_TEST

/* ------------------------------------------------------------------------
 * Regions.
 * ------------------------------------------------------------------------ */

START_TEST(open_sends_the_range)
{
	mmio_region *r;
	const struct fake_req *o;
	struct mmio_region_info info;

	connect_fake();
	o = fake_find(PROTO_OP_OPEN, 0);
	ck_assert_str_eq(o->name, "scratch");
	ck_assert_uint_eq(o->offset, 0);
	ck_assert_uint_eq(o->len, PROTO_LEN_TO_END);
	ck_assert_uint_eq(o->flags, 0);
	ck_assert_uint_eq(mmio_size(R), 4 * MiB);
	ck_assert_int_eq(mmio_is_direct(R), 0);
	ck_assert_int_eq(mmio_describe(R, &info), MMIO_OK);
	ck_assert_str_eq(info.name, "scratch");
	ck_assert_uint_eq(info.size, 4 * MiB);
	ck_assert_uint_eq(info.access, MMIO_ACCESS_READ | MMIO_ACCESS_WRITE);
	ck_assert_uint_eq(info.cache, MMIO_CACHE_WRITE_BACK);
	ck_assert_uint_eq(info.flags, MMIO_REGION_MAPPABLE);

	ck_assert_int_eq(mmio_open_range(C, "regs.0", 0x100, 0x40, 0, &r), MMIO_OK);
	o = fake_find(PROTO_OP_OPEN, 1);
	ck_assert_str_eq(o->name, "regs.0");
	ck_assert_uint_eq(o->offset, 0x100);
	ck_assert_uint_eq(o->len, 0x40);
	ck_assert_uint_eq(mmio_size(r), 0x40);
	/* Where it lies, as the server said; a slice's byte 0 further on. */
	ck_assert_int_eq(mmio_describe(r, &info), MMIO_OK);
	ck_assert_str_eq(info.where, "0000:00:07.0 BAR2");
	ck_assert_uint_eq(info.phys, 0xfe000100u);
	ck_assert_uint_eq(info.bulk_width, 8);
	{
		mmio_region *s;

		ck_assert_int_eq(mmio_slice(r, 0x10, 0x20, &s), MMIO_OK);
		ck_assert_int_eq(mmio_describe(s, &info), MMIO_OK);
		ck_assert_uint_eq(info.phys, 0xfe000110u);
		ck_assert_str_eq(info.where, "0000:00:07.0 BAR2");
		mmio_close(s);
	}
	mmio_close(r);
	/* A simulated device: nowhere physical. */
	ck_assert_int_eq(mmio_describe(R, &info), MMIO_OK);
	ck_assert_str_eq(info.where, "");
	ck_assert_uint_eq(info.phys, 0);

	ck_assert_int_eq(mmio_open_range(C, "scratch", 8, SIZE_MAX, 0, &r), MMIO_OK);
	ck_assert_uint_eq(fake_find(PROTO_OP_OPEN, 2)->len, PROTO_LEN_TO_END);
	mmio_close(r);
	mmio_close(R);
	mmio_disconnect(C);
}
END_TEST

START_TEST(open_statuses_are_the_servers)
{
	mmio_region *r = (mmio_region *)&r;

	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	ck_assert_int_eq(mmio_open(C, "busy", 0, &r), MMIO_EBUSY);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(mmio_open(C, "nope", 0, &r), MMIO_ENOENT);
	F.fail_op = PROTO_OP_OPEN;
	F.fail_nth = 3;
	F.fail_status = MMIO_EACCES;
	ck_assert_int_eq(mmio_open_range(C, "scratch", 0, 0, 0, &r), MMIO_EACCES);
	ck_assert_uint_eq(fake_seen(PROTO_OP_OPEN), 3);
	mmio_disconnect(C);
}
END_TEST

START_TEST(open_rejects_what_cannot_be_encoded)
{
	mmio_region *r = (mmio_region *)&r;
	char long_name[80];

	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert_int_eq(mmio_open(C, NULL, 0, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, "", 0, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, "bad name", 0, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, "bad/name", 0, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, long_name, 0, &r), MMIO_EINVAL);
	long_name[63] = '\0';
	ck_assert_int_eq(mmio_open(C, long_name, 0, &r), MMIO_OK);
	mmio_close(r);
	ck_assert_int_eq(mmio_open(C, "scratch", 4, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, "scratch", 0x80000000u, &r), MMIO_EINVAL);
	ck_assert_int_eq(mmio_open(C, "scratch", 0, NULL), MMIO_EINVAL);
	ck_assert_uint_eq(fake_seen(PROTO_OP_OPEN), 1);
	mmio_disconnect(C);
}
END_TEST

/* mmio_last_error() of @c is @status with a sentence containing @says. */
static void last_error_says(mmio_client *c, int status, const char *says)
{
	char buf[256];

	ck_assert_int_eq(mmio_last_error(c, buf, sizeof(buf)), status);
	ck_assert_msg(strstr(buf, says), "\"%s\" does not say \"%s\"", buf, says);
}

START_TEST(open_direct_modes)
{
	mmio_region *r = (mmio_region *)&r;
	const struct fake_req *cl;

	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	/* DIRECT: no mapping in this release, so proxied. */
	ck_assert_int_eq(mmio_open(C, "scratch", MMIO_OPEN_DIRECT, &r), MMIO_OK);
	ck_assert_uint_eq(fake_find(PROTO_OP_OPEN, 0)->flags, PROTO_OPEN_DIRECT);
	ck_assert_int_eq(mmio_is_direct(r), 0);
	ck_assert_int_eq(mmio_write32(r, 0, 5), MMIO_OK);
	mmio_close(r);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 1);

	/* REQUIRE_DIRECT: the server opened it, the stub cannot map it: the
	 * handle is closed again and the caller gets MMIO_EACCES. */
	r = (mmio_region *)&r;
	ck_assert_int_eq(mmio_open(C, "scratch", MMIO_OPEN_REQUIRE_DIRECT, &r), MMIO_EACCES);
	ck_assert_ptr_null(r);
	/* And says why: this server (the fake) hands out no mappings. */
	last_error_says(C, MMIO_EACCES, "this server hands out no direct mappings");
	ck_assert_uint_eq(fake_find(PROTO_OP_OPEN, 1)->flags, PROTO_OPEN_REQUIRE_DIRECT);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 2);
	cl = fake_find(PROTO_OP_CLOSE, 1);
	ck_assert_uint_eq(cl->handle, 8);
	ck_assert_uint_eq(fake_seen(PROTO_OP_MAP), 0);
	mmio_disconnect(C);
}
END_TEST

START_TEST(once_ops_round_trip)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	connect_fake();
	ck_assert_int_eq(mmio_write64(R, 0x100, 0x1122334455667788u), MMIO_OK);
	ck_assert_int_eq(mmio_read64(R, 0x100, &v64), MMIO_OK);
	ck_assert_uint_eq(v64, 0x1122334455667788u);
	ck_assert_int_eq(mmio_read32(R, 0x100, &v32), MMIO_OK);
	ck_assert_uint_eq(v32, 0x55667788u);
	ck_assert_int_eq(mmio_read16(R, 0x106, &v16), MMIO_OK);
	ck_assert_uint_eq(v16, 0x1122u);
	ck_assert_int_eq(mmio_read8(R, 0x101, &v8), MMIO_OK);
	ck_assert_uint_eq(v8, 0x77u);
	ck_assert_int_eq(mmio_write8(R, 0x101, 0xAB), MMIO_OK);
	ck_assert_int_eq(mmio_write16(R, 0x102, 0xCDEF), MMIO_OK);
	ck_assert_int_eq(mmio_write32(R, 0x104, 0x01020304u), MMIO_OK);
	ck_assert_uint_eq(mem_get(0x100, 8), 0x01020304CDEFAB88u);

	const struct fake_req *w = fake_find(PROTO_OP_WRITE_ONCE, 2);
	ck_assert_uint_eq(w->handle, 7);
	ck_assert_uint_eq(w->offset, 0x102);
	ck_assert_uint_eq(w->width, 2);
	ck_assert_uint_eq(w->value, 0xCDEF);

	/* Out of range is the server's to say (whole-handle view). */
	v32 = 0x5A5A;
	ck_assert_int_eq(mmio_read32(R, 4 * MiB, &v32), MMIO_EINVAL);
	ck_assert_uint_eq(v32, 0x5A5A);
	ck_assert_uint_eq(fake_find(PROTO_OP_READ_ONCE, 4)->offset, 4 * MiB);
	mmio_disconnect(C);
}
END_TEST

START_TEST(statuses_are_the_servers)
{
	static const int statuses[] = { MMIO_EINVAL,   MMIO_EACCES,    MMIO_EFAULT,
					MMIO_EREVOKED, MMIO_EINTERNAL, MMIO_ENOMEM };
	uint32_t v = 0x77;

	connect_fake();
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		F.fail_op = PROTO_OP_READ_ONCE;
		F.fail_nth = (unsigned)i + 1;
		F.fail_status = statuses[i];
		ck_assert_int_eq(mmio_read32(R, 0, &v), statuses[i]);
		ck_assert_uint_eq(v, 0x77);

		F.fail_op = PROTO_OP_WRITE_ONCE;
		ck_assert_int_eq(mmio_write32(R, 0, 1), statuses[i]);
	}
	mmio_disconnect(C);
}
END_TEST

/* The other thread's view of the client's last error: its own, none. */
static void *last_error_elsewhere(void *arg)
{
	char buf[64] = "x";

	*(int *)arg = mmio_last_error(C, buf, sizeof(buf));
	return buf[0] == '\0' ? arg : NULL;
}

/* The server's reason for a refusal becomes a sentence, per thread, alone
 * or for a batch's op; a success clears it, mmio_close() does not. */
START_TEST(last_error_tells_the_servers_reason)
{
	char buf[256];
	uint32_t v;
	mmio_batch *b;
	size_t failed;
	pthread_t t;
	int other = 1;
	void *ok;

	connect_fake();
	ck_assert_int_eq(mmio_last_error(C, buf, sizeof(buf)), MMIO_OK);
	ck_assert_str_eq(buf, "");
	F.fail_op = PROTO_OP_READ_ONCE;
	F.fail_nth = 1;
	F.fail_status = MMIO_EINVAL;
	F.fail_reason = (struct mmio_reason){ MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 };
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_EINVAL);
	ck_assert_int_eq(mmio_last_error(C, buf, sizeof(buf)), MMIO_EINVAL);
	ck_assert_str_eq(buf,
			 "MMIO_EINVAL: a 4-byte access; the grant allows 2-byte accesses only");
	/* Another thread has its own (none); another client has none. */
	ck_assert_int_eq(pthread_create(&t, NULL, last_error_elsewhere, &other), 0);
	pthread_join(t, &ok);
	ck_assert_ptr_nonnull(ok);
	ck_assert_int_eq(other, MMIO_OK);
	ck_assert_int_eq(mmio_last_error(NULL, buf, sizeof(buf)), MMIO_OK);
	/* Truncated, terminated. */
	ck_assert_int_eq(mmio_last_error(C, buf, 12), MMIO_EINVAL);
	ck_assert_str_eq(buf, "MMIO_EINVAL");
	ck_assert_int_eq(mmio_last_error(C, NULL, 0), MMIO_EINVAL);
	/* A success clears it. */
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_OK);
	ck_assert_int_eq(mmio_last_error(C, buf, sizeof(buf)), MMIO_OK);
	ck_assert_str_eq(buf, "");

	/* A batch's failing op. */
	F.fail_op = PROTO_OP_BATCH;
	F.fail_nth = 1;
	F.fail_status = MMIO_EACCES;
	F.fail_batch_index = 0;
	F.fail_reason = (struct mmio_reason){ MMIO_REASON_OPS, PROTO_OP_POLL, MMIO_OPS_POLL,
					      MMIO_OPS_ONCE };
	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	mmio_batch_poll(b, R, 0x20, 4, 0x2, 0x2, 100);
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_EACCES);
	mmio_batch_free(b);
	ck_assert_int_eq(mmio_last_error(C, buf, sizeof(buf)), MMIO_EACCES);
	ck_assert_str_eq(buf, "MMIO_EACCES: the grant has no `poll` op (mmio_poll needs it)");

	/* No reason: the status's sentence. */
	F.fail_op = PROTO_OP_WRITE_ONCE;
	F.fail_nth = 1;
	F.fail_status = MMIO_EACCES;
	F.fail_reason = (struct mmio_reason){ 0 };
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_EACCES);
	ck_assert_int_eq(mmio_last_error(C, buf, sizeof(buf)), MMIO_EACCES);
	ck_assert_str_eq(buf, "MMIO_EACCES: not allowed by the policy");
	mmio_disconnect(C);
}
END_TEST

/* The library's own argument checks are told as the server's refusals are,
 * without a request: a NULL pointer, a width that is none, a slice's end,
 * a strided copy's geometry, a name or flags no server would take. */
START_TEST(last_error_tells_the_librarys_own_checks)
{
	size_t sent;
	uint8_t rows[64];
	mmio_region *s;
	mmio_batch *b;
	uint32_t v;

	connect_fake();
	sent = F.nlog;
	ck_assert_int_eq(mmio_read(R, 0, NULL, 4, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "MMIO_EINVAL: a pointer the call needs is NULL");
	ck_assert_int_eq(mmio_read32(R, 0, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "a pointer the call needs is NULL");
	/* No region, so no client to name: any client's last error tells it. */
	ck_assert_int_eq(mmio_read32(NULL, 0, &v), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "a pointer the call needs is NULL");
	last_error_says(NULL, MMIO_EINVAL, "a pointer the call needs is NULL");

	ck_assert_int_eq(mmio_slice(R, 0x10, 0x20, &s), MMIO_OK);
	ck_assert_int_eq(mmio_read32(s, 0x1e, &v), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "ends at offset 0x22 of the handle, past its 0x20 bytes");
	ck_assert_int_eq(mmio_slice(R, 0, 0, &s), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "the length (or the count of items or rows) is 0");

	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	ck_assert_int_eq(mmio_batch_read(b, R, 0, 3), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "width 3 is not an access width (1, 2, 4 or 8 bytes)");
	ck_assert_int_eq(mmio_batch_poll(b, R, 0, 1, 0x100, 0, 10), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "wider than the access's 1 bytes");
	mmio_batch_free(b);

	ck_assert_int_eq(mmio_read_rows(R, 0, 16, 8, 2, rows, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "the pitch, 8 bytes, is shorter than a row");
	ck_assert_int_eq(mmio_read_rows(R, SIZE_MAX - 8, 16, 16, 2, rows, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "offset plus length overflows");
	ck_assert_int_eq(mmio_write_rows(R, 0, 16, 16, 0, rows, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "(or the count of items or rows) is 0");

	ck_assert_int_eq(mmio_open_range(C, "no such!", 0, 4, 0, &s), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "a region name is 1 to 63 of");
	ck_assert_int_eq(mmio_open_range(C, "scratch", 0, 4, 0x80, &s), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "flag bits 0x80 are not flags of this call");
	/* Nothing of it reached the server. */
	ck_assert_uint_eq(F.nlog, sent);
	/* A success clears it. */
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_OK);
	ck_assert_int_eq(mmio_last_error(C, NULL, 0), MMIO_OK);
	mmio_disconnect(C);
}
END_TEST

/* A pinned width's granule: a slice or a strided copy that would split
 * an access is refused by the library, and says which width. */
START_TEST(last_error_tells_a_pinned_granule)
{
	uint8_t rows[64];
	mmio_region *s;

	F.pinned = 4;
	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 2, 8, &s), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "the grant pins 4-byte accesses");
	ck_assert_int_eq(mmio_read_rows(R, 0, 6, 8, 2, rows, NULL), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "the grant pins 4-byte accesses");
	mmio_disconnect(C);
}
END_TEST

/* A batch longer than the server's max_message is refused before it is
 * sent, and says the most a message carries. */
START_TEST(last_error_tells_a_batch_too_long)
{
	mmio_batch *b;
	size_t failed;
	char says[96];

	F.hello_max_message = 1024;
	connect_fake();
	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	for (int i = 0; i < 100; i++)
		ck_assert_int_ge(mmio_batch_read(b, R, 0, 4), 0);
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_EINVAL);
	snprintf(says, sizeof(says), "the most this call takes, %u bytes: split it",
		 1024 - CLI_RECV_SLACK);
	last_error_says(C, MMIO_EINVAL, says);
	ck_assert_uint_eq(fake_seen(PROTO_OP_BATCH), 0);
	mmio_batch_free(b);
	mmio_disconnect(C);
}
END_TEST

/* A server of version 1 (before reason records): libmmio speaks 1 to it,
 * and its refusals keep their status, told by the status's sentence. */
START_TEST(version_1_server_refusals_keep_their_status)
{
	const struct fake_req *q;
	uint32_t v;

	F.hello_version = 1;
	connect_fake();
	F.fail_op = PROTO_OP_READ_ONCE;
	F.fail_nth = 1;
	F.fail_status = MMIO_EINVAL;
	F.fail_reason = (struct mmio_reason){ MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 };
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_EINVAL);
	last_error_says(C, MMIO_EINVAL, "MMIO_EINVAL: invalid argument");
	q = fake_find(PROTO_OP_READ_ONCE, 0);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->version, 1);
	q = fake_find(PROTO_OP_OPEN, 0);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->version, 1);
	mmio_disconnect(C);
}
END_TEST

START_TEST(bulk_status_and_done_are_the_servers)
{
	uint8_t buf[256];
	size_t done = 0;

	connect_fake();
	for (size_t i = 0; i < sizeof(buf); i++)
		F.mem[0x1000 + i] = (uint8_t)i;

	/* A fault after 100 bytes: MMIO_EFAULT, 100, and those 100 bytes. */
	memset(buf, 0xEE, sizeof(buf));
	F.fail_op = PROTO_OP_READ;
	F.fail_nth = 1;
	F.fail_status = MMIO_EFAULT;
	F.fail_done = 100;
	ck_assert_int_eq(mmio_read(R, 0x1000, buf, sizeof(buf), &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 100);
	ck_assert_uint_eq(buf[99], 99);
	ck_assert_uint_eq(buf[100], 0xEE);

	F.fail_op = PROTO_OP_WRITE;
	F.fail_done = 40;
	ck_assert_int_eq(mmio_write(R, 0x1000, buf, sizeof(buf), &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 40);

	F.fail_op = PROTO_OP_FILL;
	F.fail_status = MMIO_EINVAL;
	F.fail_done = 10;
	ck_assert_int_eq(mmio_fill(R, 0x1000, 64, 0, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 10);

	/* The fill rules at the end of a whole handle are the server's. */
	ck_assert_int_eq(mmio_fill(R, 4 * MiB - 16, 64, 0x11, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 16);
	ck_assert_int_eq(mmio_fill(R, 4 * MiB, 64, 0x11, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_fill(R, 4 * MiB + 5, 0, 0x11, &done), MMIO_OK);

	/* done may be NULL. */
	ck_assert_int_eq(mmio_read(R, 0, buf, 16, NULL), MMIO_OK);
	ck_assert_int_eq(mmio_read(R, 0, NULL, 16, &done), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read(R, 0, NULL, 0, &done), MMIO_OK);
	ck_assert_int_eq(mmio_write(R, 0, NULL, 0, &done), MMIO_OK);
	mmio_disconnect(C);
}
END_TEST

START_TEST(read_3mib_in_max_message_pieces)
{
	size_t len = 3 * MiB, done = 0, chunk = cli_read_chunk_max(1 * MiB);
	uint8_t *buf = malloc(len);
	uint64_t next;

	ck_assert_ptr_nonnull(buf);
	connect_fake();
	for (size_t i = 0; i < F.region_size; i++)
		F.mem[i] = (uint8_t)(i * 13 + (i >> 16));
	ck_assert_int_eq(mmio_read(R, 8, buf, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	ck_assert_int_eq(memcmp(buf, F.mem + 8, len), 0);

	/* Four requests: three full pieces and the rest, back to back. */
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ), 4);
	next = 8;
	for (unsigned i = 0; i < 4; i++) {
		const struct fake_req *q = fake_find(PROTO_OP_READ, i);

		ck_assert_uint_eq(q->handle, 7);
		ck_assert_uint_eq(q->offset, next);
		ck_assert_uint_eq(q->len, i < 3 ? chunk : len - 3 * chunk);
		ck_assert_uint_le(q->len + PROTO_REPLY_HEADER_SIZE, F.max_message);
		next += q->len;
	}
	free(buf);
	mmio_disconnect(C);
}
END_TEST

START_TEST(write_3mib_in_max_message_pieces)
{
	size_t len = 3 * MiB, done = 0;
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	connect_fake();
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 12));
	ck_assert_int_eq(mmio_write(R, 0x10, buf, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	ck_assert_int_eq(memcmp(F.mem + 0x10, buf, len), 0);
	ck_assert_uint_eq(fake_seen(PROTO_OP_WRITE), 4);
	for (unsigned i = 0; i < 4; i++) {
		const struct fake_req *q = fake_find(PROTO_OP_WRITE, i);

		/* Room left for nng's header under the server's limit. */
		ck_assert_uint_le(q->size + CLI_RECV_SLACK, F.max_message);
	}
	free(buf);
	mmio_disconnect(C);
}
END_TEST

START_TEST(split_transfer_stops_at_first_error)
{
	size_t len = 3 * MiB, done = 0, chunk = cli_read_chunk_max(1 * MiB);
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	connect_fake();
	F.fail_op = PROTO_OP_READ;
	F.fail_nth = 2;
	F.fail_status = MMIO_EFAULT;
	F.fail_done = 1000;
	ck_assert_int_eq(mmio_read(R, 0, buf, len, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, chunk + 1000);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ), 2);

	F.fail_op = PROTO_OP_WRITE;
	F.fail_nth = 3;
	F.fail_status = MMIO_EREVOKED;
	F.fail_done = 0;
	ck_assert_int_eq(mmio_write(R, 0, buf, len, &done), MMIO_EREVOKED);
	ck_assert_uint_eq(done, 2 * cli_write_chunk_max(1 * MiB));
	ck_assert_uint_eq(fake_seen(PROTO_OP_WRITE), 3);
	free(buf);
	mmio_disconnect(C);
}
END_TEST

START_TEST(split_transfer_checks_the_range_first)
{
	size_t len = 3 * MiB, done = 99;
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	connect_fake();
	/* Ends past the handle: a single request would move nothing, so the
	 * split one must not either. */
	ck_assert_int_eq(mmio_read(R, 2 * MiB, buf, len, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_write(R, 2 * MiB, buf, len, &done), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read(R, SIZE_MAX - 10, buf, len, &done), MMIO_EINVAL);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ) + fake_seen(PROTO_OP_WRITE), 0);
	free(buf);
	mmio_disconnect(C);
}
END_TEST

START_TEST(split_transfer_keeps_pinned_width)
{
	size_t len = 2 * MiB, done = 99;
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	F.pinned = 4;
	connect_fake();
	ck_assert_int_eq(mmio_read(R, 2, buf, len, &done), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read(R, 0, buf, len - 2, &done), MMIO_EINVAL);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ), 0);
	ck_assert_int_eq(mmio_read(R, 4, buf, len, &done), MMIO_OK);
	for (unsigned i = 0; i < fake_seen(PROTO_OP_READ); i++) {
		ck_assert_uint_eq(fake_find(PROTO_OP_READ, i)->offset % 4, 0);
		ck_assert_uint_eq(fake_find(PROTO_OP_READ, i)->len % 4, 0);
	}
	free(buf);
	mmio_disconnect(C);
}
END_TEST

START_TEST(poll_value_and_timeout)
{
	uint32_t last = 0;
	const struct fake_req *p;

	connect_fake();
	mem_put(0x40, 4, 0x5);
	ck_assert_int_eq(mmio_poll32(R, 0x40, 0x4, 0x4, 1000, &last), MMIO_OK);
	ck_assert_uint_eq(last, 0x5);
	ck_assert_int_eq(mmio_poll32(R, 0x40, 0x2, 0x2, 250000, &last), MMIO_ETIMEDOUT);
	ck_assert_uint_eq(last, 0x5);
	p = fake_find(PROTO_OP_POLL, 1);
	ck_assert_uint_eq(p->width, 4);
	ck_assert_uint_eq(p->len, 250000);
	ck_assert_int_eq(mmio_poll32(R, 0x40, 0x4, 0x4, 0, NULL), MMIO_OK);
	mmio_disconnect(C);
}
END_TEST

START_TEST(poll_wait_extends_the_reply_timeout)
{
	uint32_t last = 0, v;

	setenv("MMIO_REPLY_TIMEOUT_MS", "200", 1);
	connect_fake();
	/* The server takes 500 ms; the poll allows 400 ms + 200 ms. */
	F.delay_op = PROTO_OP_POLL;
	F.delay_ms = 500;
	ck_assert_int_eq(mmio_poll32(R, 0, 1, 1, 400000, &last), MMIO_ETIMEDOUT);
	/* A read gets 200 ms: too late is a lost connection. */
	F.delay_op = PROTO_OP_READ_ONCE;
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_ECONN);
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_ECONN);
	mmio_disconnect(C);
}
END_TEST

/* ------------------------------------------------------------------------
 * Slices.
 * ------------------------------------------------------------------------ */

START_TEST(slice_arithmetic)
{
	mmio_region *s, *ss, *bad = (mmio_region *)&bad;
	uint32_t v;
	size_t done;

	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 0x100, 0x40, &s), MMIO_OK);
	ck_assert_uint_eq(mmio_size(s), 0x40);
	ck_assert_int_eq(mmio_read32(s, 4, &v), MMIO_OK);
	ck_assert_uint_eq(fake_find(PROTO_OP_READ_ONCE, 0)->offset, 0x104);
	ck_assert_uint_eq(fake_find(PROTO_OP_READ_ONCE, 0)->handle, 7);

	/* Bounds are the stub's: nothing is sent. */
	ck_assert_int_eq(mmio_read32(s, 0x40, &v), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(s, 0x3d, &v), MMIO_EINVAL);
	ck_assert_int_eq(mmio_write64(s, 0x39, 1), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read32(s, SIZE_MAX - 1, &v), MMIO_EINVAL);
	ck_assert_int_eq(mmio_read(s, 0x20, &v, 0x21, &done), MMIO_EINVAL);
	ck_assert_int_eq(mmio_poll32(s, 0x40, 1, 1, 0, &v), MMIO_EINVAL);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ_ONCE) + fake_seen(PROTO_OP_WRITE_ONCE) +
				  fake_seen(PROTO_OP_READ) + fake_seen(PROTO_OP_POLL),
			  1);
	ck_assert_int_eq(mmio_read32(s, 0x3c, &v), MMIO_OK);
	ck_assert_uint_eq(fake_find(PROTO_OP_READ_ONCE, 1)->offset, 0x13c);

	/* Slices of slices add up. */
	ck_assert_int_eq(mmio_slice(s, 0x10, 0x10, &ss), MMIO_OK);
	ck_assert_int_eq(mmio_write32(ss, 8, 0xFEEDu), MMIO_OK);
	ck_assert_uint_eq(mem_get(0x118, 4), 0xFEEDu);
	ck_assert_int_eq(mmio_slice(s, 0x30, 0x11, &bad), MMIO_EINVAL);
	ck_assert_ptr_null(bad);
	ck_assert_int_eq(mmio_slice(s, 0, 0, &bad), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(s, 0x41, 1, &bad), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(s, SIZE_MAX, 2, &bad), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(s, 0, 0x40, NULL), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(s, 0, 0x40, &bad), MMIO_OK);
	mmio_close(bad);
	mmio_close(ss);
	mmio_close(s);
	mmio_disconnect(C);
}
END_TEST

START_TEST(slice_fill_rules)
{
	mmio_region *s;
	size_t done;

	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 0x200, 0x20, &s), MMIO_OK);
	/* Past the slice's end: what fits is written, then MMIO_EINVAL. */
	ck_assert_int_eq(mmio_fill(s, 0x18, 0x10, 0x5A, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 8);
	ck_assert_uint_eq(fake_find(PROTO_OP_FILL, 0)->offset, 0x218);
	ck_assert_uint_eq(fake_find(PROTO_OP_FILL, 0)->len, 8);
	ck_assert_uint_eq(F.mem[0x21f], 0x5A);
	ck_assert_uint_eq(F.mem[0x220], 0);
	/* At or past the end: nothing. Length 0: fine. */
	ck_assert_int_eq(mmio_fill(s, 0x20, 1, 1, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_eq(fake_seen(PROTO_OP_FILL), 1);
	ck_assert_int_eq(mmio_fill(s, 0x40, 0, 1, &done), MMIO_OK);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_fill(s, 0, 0x20, 0x77, &done), MMIO_OK);
	ck_assert_uint_eq(done, 0x20);
	mmio_close(s);
	mmio_disconnect(C);
}
END_TEST

START_TEST(slice_pinned_width)
{
	mmio_region *s = (mmio_region *)&s;
	size_t done;

	F.pinned = 4;
	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 2, 8, &s), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(R, 4, 6, &s), MMIO_EINVAL);
	ck_assert_int_eq(mmio_slice(R, 4, 12, &s), MMIO_OK);
	ck_assert_int_eq(mmio_fill(s, 0, 6, 1, &done), MMIO_EINVAL);
	ck_assert_uint_eq(fake_seen(PROTO_OP_FILL), 0);
	ck_assert_int_eq(mmio_fill(s, 8, 8, 1, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 4);
	mmio_close(s);
	mmio_disconnect(C);
}
END_TEST

START_TEST(slice_keeps_the_handle_open)
{
	mmio_region *s;
	uint32_t v;

	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 0, 0x10, &s), MMIO_OK);
	mmio_close(R);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 0);
	ck_assert_int_eq(mmio_read32(s, 0, &v), MMIO_OK);
	mmio_close(s);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 1);
	ck_assert_uint_eq(fake_find(PROTO_OP_CLOSE, 0)->handle, 7);

	/* Disconnect closes what is left, without a CLOSE per handle. */
	ck_assert_int_eq(mmio_open(C, "scratch", 0, &R), MMIO_OK);
	ck_assert_int_eq(mmio_slice(R, 0, 0x10, &s), MMIO_OK);
	mmio_disconnect(C);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 1);
}
END_TEST

/* ------------------------------------------------------------------------
 * Batches.
 * ------------------------------------------------------------------------ */

START_TEST(batch_build_and_run)
{
	mmio_batch *b;
	mmio_region *s;
	const struct fake_req *q;
	size_t failed = 0;
	uint64_t v;

	connect_fake();
	ck_assert_int_eq(mmio_slice(R, 0x1000, 0x100, &s), MMIO_OK);
	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	ck_assert_int_eq(mmio_batch_write(b, R, 0x10, 4, 0xABCD), 0);
	ck_assert_int_eq(mmio_batch_write(b, s, 0x8, 8, 0x0102030405060708u), 1);
	ck_assert_int_eq(mmio_batch_read(b, R, 0x10, 2), 2);
	ck_assert_int_eq(mmio_batch_poll(b, s, 0x8, 1, 0xFF, 0x08, 500), 3);
	ck_assert_int_eq(mmio_batch_read(b, s, 0xC, 4), 4);
	ck_assert_uint_eq(mmio_batch_count(b), 5);

	/* Refused when added, batch unchanged. */
	ck_assert_int_eq(mmio_batch_read(b, R, 0, 3), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_write(b, R, 0, 1, 0x100), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_poll(b, R, 0, 2, 0x10000, 0, 0), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_poll(b, R, 0, 2, 0, 0x10000, 0), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_read(b, s, 0xFD, 4), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_read(b, NULL, 0, 4), MMIO_EINVAL);
	ck_assert_uint_eq(mmio_batch_count(b), 5);
	ck_assert_int_eq(mmio_batch_value(b, 0, &v), MMIO_EINVAL);

	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_OK);
	ck_assert_uint_eq(failed, MMIO_BATCH_NONE);
	q = fake_find(PROTO_OP_BATCH, 0);
	ck_assert_uint_eq(q->count, 5);
	ck_assert_uint_eq(q->ops[1].opcode, PROTO_OP_WRITE_ONCE);
	ck_assert_uint_eq(q->ops[1].offset, 0x1008);
	ck_assert_uint_eq(q->ops[1].handle, 7);
	ck_assert_uint_eq(q->ops[3].opcode, PROTO_OP_POLL);
	ck_assert_uint_eq(q->ops[3].value, 0xFF);
	ck_assert_uint_eq(q->ops[3].want, 0x08);
	ck_assert_uint_eq(q->ops[3].timeout_us, 500);

	ck_assert_int_eq(mmio_batch_value(b, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(mmio_batch_value(b, 2, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xABCD);
	ck_assert_int_eq(mmio_batch_value(b, 3, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x08);
	ck_assert_int_eq(mmio_batch_value(b, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x01020304u);
	ck_assert_int_eq(mmio_batch_value(b, 5, &v), MMIO_EINVAL);
	ck_assert_int_eq(mmio_batch_value(b, 0, NULL), MMIO_EINVAL);

	/* Run again; then clear: an empty batch needs no round trip. */
	ck_assert_int_eq(mmio_batch_run(b, NULL), MMIO_OK);
	mmio_batch_clear(b);
	ck_assert_uint_eq(mmio_batch_count(b), 0);
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_OK);
	ck_assert_uint_eq(fake_seen(PROTO_OP_BATCH), 2);
	mmio_batch_free(b);
	mmio_close(s);
	mmio_disconnect(C);
}
END_TEST

START_TEST(batch_reports_the_failing_op)
{
	mmio_batch *b;
	size_t failed = 0;
	uint64_t v;

	connect_fake();
	mem_put(0x20, 4, 0x1);
	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	mmio_batch_read(b, R, 0x20, 4);
	mmio_batch_poll(b, R, 0x20, 4, 0x2, 0x2, 100);
	mmio_batch_write(b, R, 0x20, 4, 0x3);
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_ETIMEDOUT);
	ck_assert_uint_eq(failed, 1);
	ck_assert_int_eq(mmio_batch_value(b, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x1);
	ck_assert_int_eq(mmio_batch_value(b, 1, &v), MMIO_EINVAL);
	ck_assert_uint_eq(mem_get(0x20, 4), 0x1);

	/* Refused as a whole. */
	F.fail_op = PROTO_OP_BATCH;
	F.fail_nth = 2;
	F.fail_status = MMIO_EACCES;
	F.fail_batch_index = PROTO_BATCH_NONE;
	failed = 0;
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_EACCES);
	ck_assert_uint_eq(failed, MMIO_BATCH_NONE);
	ck_assert_int_eq(mmio_batch_value(b, 0, &v), MMIO_EINVAL);
	mmio_batch_free(b);
	mmio_disconnect(C);
}
END_TEST

START_TEST(batch_limits)
{
	mmio_client *c2;
	mmio_region *r2;
	mmio_batch *b;
	size_t failed = 0;

	F.max_batch = 2;
	connect_fake();
	ck_assert_int_eq(mmio_batch_new(C, &b), MMIO_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(mmio_batch_read(b, R, 0, 4), i);
	ck_assert_int_eq(mmio_batch_run(b, &failed), MMIO_EINVAL);
	ck_assert_uint_eq(failed, MMIO_BATCH_NONE);
	ck_assert_uint_eq(fake_seen(PROTO_OP_BATCH), 0);

	/* A region of another client cannot join. */
	ck_assert_int_eq(mmio_connect(NULL, &c2), MMIO_OK);
	ck_assert_int_eq(mmio_open(c2, "scratch", 0, &r2), MMIO_OK);
	ck_assert_int_eq(mmio_batch_read(b, r2, 0, 4), MMIO_EINVAL);
	mmio_disconnect(c2);

	/* Never more than the protocol carries. */
	mmio_batch_clear(b);
	for (unsigned i = 0; i < PROTO_BATCH_MAX; i++)
		ck_assert_int_eq(mmio_batch_read(b, R, 0, 4), (int)i);
	ck_assert_int_eq(mmio_batch_read(b, R, 0, 4), MMIO_EINVAL);
	mmio_batch_free(b);
	mmio_disconnect(C);
}
END_TEST

/* ------------------------------------------------------------------------
 * LIST and STATS.
 * ------------------------------------------------------------------------ */

START_TEST(list_regions)
{
	struct mmio_region_info *list;
	size_t n;

	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	ck_assert_int_eq(mmio_list(C, &list, &n), MMIO_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].name, "scratch");
	ck_assert_uint_eq(list[0].size, 0x10000);
	ck_assert_uint_eq(list[0].access, 3);
	ck_assert_uint_eq(list[0].ops, MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL |
					       MMIO_OPS_POLL | MMIO_OPS_MAP);
	ck_assert_uint_eq(list[0].cache, MMIO_CACHE_WRITE_BACK);
	ck_assert_uint_eq(list[0].flags, MMIO_REGION_MAPPABLE);
	ck_assert_str_eq(list[1].name, "keys");
	ck_assert_uint_eq(list[1].widths, MMIO_WIDTH_BIT(4) | MMIO_WIDTH_BIT(8));
	ck_assert_uint_eq(list[1].flags, MMIO_REGION_SENSITIVE);
	ck_assert_uint_eq(list[1].width, 0);
	ck_assert_uint_eq(list[1].bulk_width, 8);
	ck_assert_str_eq(list[1].where, "0000:00:07.0 BAR2");
	ck_assert_uint_eq(list[1].phys, 0xfe000000u);
	ck_assert_str_eq(list[0].where, "");
	ck_assert_uint_eq(list[0].phys, 0);
	mmio_list_free(list);

	F.fail_op = PROTO_OP_LIST;
	F.fail_nth = 2;
	F.fail_status = MMIO_EACCES;
	ck_assert_int_eq(mmio_list(C, &list, &n), MMIO_EACCES);
	ck_assert_ptr_null(list);
	ck_assert_uint_eq(n, 0);
	mmio_disconnect(C);
}
END_TEST

START_TEST(stats_counters)
{
	struct mmio_stat st[PROTO_STAT_COUNT + 4];
	size_t n;

	F.nstats = PROTO_STAT_COUNT + 1; /* one this library does not know */
	ck_assert_int_eq(mmio_connect(NULL, &C), MMIO_OK);
	ck_assert_int_eq(mmio_stats(C, NULL, 0, &n), MMIO_OK);
	ck_assert_uint_eq(n, PROTO_STAT_COUNT + 1);
	ck_assert_int_eq(mmio_stats(C, st, 2, &n), MMIO_OK);
	ck_assert_uint_eq(n, PROTO_STAT_COUNT + 1);
	ck_assert_str_eq(st[0].name, "uptime_s");
	ck_assert_str_eq(st[1].name, "clients");
	ck_assert_uint_eq(st[1].value, 10);
	ck_assert_int_eq(mmio_stats(C, st, PROTO_STAT_COUNT + 4, &n), MMIO_OK);
	ck_assert_str_eq(st[PROTO_STAT_BYTES_READ].name, "bytes_read");
	ck_assert_uint_eq(st[PROTO_STAT_BYTES_READ].value, PROTO_STAT_BYTES_READ * 10);
	ck_assert_str_eq(st[PROTO_STAT_MAILBOXES].name, "mailboxes");
	ck_assert_str_eq(st[PROTO_STAT_COUNT].name, "?");
	ck_assert_uint_eq(st[PROTO_STAT_COUNT].value, PROTO_STAT_COUNT * 10);
	ck_assert_int_eq(mmio_stats(C, NULL, 1, &n), MMIO_EINVAL);
	mmio_disconnect(C);
}
END_TEST

/* ------------------------------------------------------------------------
 * Broken connections and replies.
 * ------------------------------------------------------------------------ */

START_TEST(pipe_loss_during_a_call)
{
	uint32_t v;
	uint64_t t0;
	size_t done;
	mmio_region *r = (mmio_region *)&r;

	connect_fake();
	/* The server drops the connection instead of answering: the call in
	 * progress returns MMIO_ECONN at once, not after the reply timeout. */
	F.close_op = PROTO_OP_READ_ONCE;
	F.close_nth = 1;
	t0 = now_ms();
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_ECONN);
	ck_assert_uint_lt(now_ms() - t0, 1000);

	/* Lost for good: nothing more reaches the server, even though nng's
	 * dialer reconnects behind the scenes. */
	sleep_ms(300);
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_ECONN);
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_ECONN);
	ck_assert_int_eq(mmio_read(R, 0, &v, 4, &done), MMIO_ECONN);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(mmio_open(C, "scratch", 0, &r), MMIO_ECONN);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(mmio_slice(R, 0, 4, &r), MMIO_ECONN);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ_ONCE), 1);
	ck_assert_uint_eq(fake_seen(PROTO_OP_WRITE_ONCE) + fake_seen(PROTO_OP_READ) +
				  fake_seen(PROTO_OP_HELLO),
			  1);
	mmio_close(R);
	ck_assert_uint_eq(fake_seen(PROTO_OP_CLOSE), 0);
	mmio_disconnect(C);
}
END_TEST

START_TEST(pipe_loss_between_calls)
{
	uint64_t t0;
	uint32_t v;

	setenv("MMIO_REPLY_TIMEOUT_MS", "2000", 1);
	connect_fake();
	ck_assert_uint_eq(atomic_load(&F.pipes_added), 1);
	/* The connection drops while the client is idle. Whether or not nng's
	 * dialer reconnects meanwhile, a new connection carries no session:
	 * the stub reports the loss at once, without sending anything. */
	F.idle_close_op = PROTO_OP_WRITE_ONCE;
	F.idle_close_nth = 1;
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_OK);
	sleep_ms(300);
	t0 = now_ms();
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_ECONN);
	ck_assert_uint_lt(now_ms() - t0, 500);
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_ECONN);
	ck_assert_uint_eq(fake_seen(PROTO_OP_READ_ONCE), 0);
	ck_assert_uint_eq(fake_seen(PROTO_OP_WRITE_ONCE), 1);
	ck_assert_uint_eq(fake_seen(PROTO_OP_HELLO), 1);
	mmio_disconnect(C);
}
END_TEST

START_TEST(malformed_replies_are_eproto)
{
	uint32_t v = 0x77;
	uint8_t buf[64];
	size_t done = 99;

	connect_fake();
	F.bad_op = PROTO_OP_READ_ONCE;
	F.bad = BAD_WRONG_OPCODE;
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_EPROTO);
	ck_assert_uint_eq(v, 0x77);
	F.bad = BAD_GARBAGE;
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_EPROTO);
	F.bad_op = PROTO_OP_WRITE_ONCE;
	F.bad = BAD_WRONG_OPCODE;
	ck_assert_int_eq(mmio_write32(R, 0, 1), MMIO_EPROTO);

	F.bad_op = PROTO_OP_READ;
	F.bad = BAD_DONE_TOO_BIG;
	ck_assert_int_eq(mmio_read(R, 0, buf, 16, &done), MMIO_EPROTO);
	ck_assert_uint_eq(done, 0);
	F.bad = BAD_SHORT_OK;
	ck_assert_int_eq(mmio_read(R, 0, buf, 16, &done), MMIO_EPROTO);
	ck_assert_uint_eq(done, 15);
	F.bad_op = PROTO_OP_WRITE;
	F.bad = BAD_DONE_TOO_BIG;
	ck_assert_int_eq(mmio_write(R, 0, buf, 16, &done), MMIO_EPROTO);
	F.bad = BAD_SHORT_OK;
	ck_assert_int_eq(mmio_write(R, 0, buf, 16, &done), MMIO_EPROTO);
	ck_assert_uint_eq(done, 15);
	F.bad_op = PROTO_OP_FILL;
	F.bad = BAD_DONE_TOO_BIG;
	ck_assert_int_eq(mmio_fill(R, 0, 16, 0, &done), MMIO_EPROTO);

	/* A malformed reply spoils one call, not the connection. */
	F.bad_op = PROTO_OP_NONE;
	ck_assert_int_eq(mmio_read32(R, 0, &v), MMIO_OK);
	mmio_disconnect(C);
}
END_TEST

/* ------------------------------------------------------------------------
 * Concurrency.
 * ------------------------------------------------------------------------ */

struct worker {
	pthread_t t;
	unsigned id;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (uint32_t i = 0; i < 300; i++) {
		size_t off = 0x2000 + w->id * 64;
		uint32_t want = w->id << 24 | i, got = 0;

		if (mmio_write32(R, off, want) != MMIO_OK || mmio_read32(R, off, &got) != MMIO_OK ||
		    got != want)
			w->errors++;
	}
	return NULL;
}

START_TEST(calls_from_many_threads)
{
	struct worker w[12];

	connect_fake();
	for (unsigned i = 0; i < 12; i++) {
		w[i].id = i;
		w[i].errors = 0;
		ck_assert_int_eq(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 12; i++) {
		pthread_join(w[i].t, NULL);
		ck_assert_int_eq(w[i].errors, 0);
	}
	ck_assert_uint_eq(fake_seen(PROTO_OP_WRITE_ONCE), 12 * 300);
	mmio_disconnect(C);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *t;

	t = tcase_create("offline");
	tcase_add_test(t, strerror_through_client_h);
	tcase_add_test(t, null_arguments);
	tcase_add_test(t, url_defaults);
	tcase_add_test(t, env_milliseconds);
	tcase_add_test(t, env_byte_counts);
	tcase_add_test(t, chunk_sizes);
	tcase_add_test(t, connect_unreachable);
	tcase_add_test(t, connect_bad_url);
	suite_add_tcase(s, t);

	t = tcase_create("connect");
	tcase_add_checked_fixture(t, setup_fake, teardown_fake);
	tcase_set_timeout(t, 10);
	tcase_add_test(t, connect_hello);
	tcase_add_test(t, connect_refused_at_once);
	tcase_add_test(t, connect_retries_after_pipe_loss);
	tcase_add_test(t, connect_retries_after_silence);
	tcase_add_test(t, connect_gives_up_within_budget);
	tcase_add_test(t, connect_version_refused);
	tcase_add_test(t, connect_impossible_limits);
	suite_add_tcase(s, t);

	t = tcase_create("regions");
	tcase_add_checked_fixture(t, setup_fake, teardown_fake);
	tcase_set_timeout(t, 10);
	tcase_add_test(t, open_sends_the_range);
	tcase_add_test(t, open_statuses_are_the_servers);
	tcase_add_test(t, open_rejects_what_cannot_be_encoded);
	tcase_add_test(t, open_direct_modes);
	tcase_add_test(t, once_ops_round_trip);
	tcase_add_test(t, statuses_are_the_servers);
	tcase_add_test(t, last_error_tells_the_servers_reason);
	tcase_add_test(t, last_error_tells_the_librarys_own_checks);
	tcase_add_test(t, last_error_tells_a_pinned_granule);
	tcase_add_test(t, last_error_tells_a_batch_too_long);
	tcase_add_test(t, version_1_server_refusals_keep_their_status);
	tcase_add_test(t, bulk_status_and_done_are_the_servers);
	tcase_add_test(t, read_3mib_in_max_message_pieces);
	tcase_add_test(t, write_3mib_in_max_message_pieces);
	tcase_add_test(t, split_transfer_stops_at_first_error);
	tcase_add_test(t, split_transfer_checks_the_range_first);
	tcase_add_test(t, split_transfer_keeps_pinned_width);
	tcase_add_test(t, poll_value_and_timeout);
	tcase_add_test(t, poll_wait_extends_the_reply_timeout);
	suite_add_tcase(s, t);

	t = tcase_create("slices");
	tcase_add_checked_fixture(t, setup_fake, teardown_fake);
	tcase_set_timeout(t, 10);
	tcase_add_test(t, slice_arithmetic);
	tcase_add_test(t, slice_fill_rules);
	tcase_add_test(t, slice_pinned_width);
	tcase_add_test(t, slice_keeps_the_handle_open);
	suite_add_tcase(s, t);

	t = tcase_create("batch");
	tcase_add_checked_fixture(t, setup_fake, teardown_fake);
	tcase_set_timeout(t, 10);
	tcase_add_test(t, batch_build_and_run);
	tcase_add_test(t, batch_reports_the_failing_op);
	tcase_add_test(t, batch_limits);
	suite_add_tcase(s, t);

	t = tcase_create("server");
	tcase_add_checked_fixture(t, setup_fake, teardown_fake);
	tcase_set_timeout(t, 10);
	tcase_add_test(t, list_regions);
	tcase_add_test(t, stats_counters);
	tcase_add_test(t, pipe_loss_during_a_call);
	tcase_add_test(t, pipe_loss_between_calls);
	tcase_add_test(t, malformed_replies_are_eproto);
	tcase_add_test(t, calls_from_many_threads);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
