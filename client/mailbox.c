/* SPDX-License-Identifier: MIT */
/*
 * The mailbox (server/mailbox.c, PROTO_MBOX_* in proto.h): the same
 * requests and replies as on the socket, carried in a buffer shared with
 * the server. A round trip is two futex wakes instead of nng's hand-offs
 * between its threads on both sides, which is most of what a small request
 * costs; a bulk copy through the data plane is then one such round trip
 * plus the copy.
 *
 * One request at a time: a caller that finds the mailbox busy takes the
 * socket, so concurrent callers lose nothing. Requests whose reply might
 * not fit (LIST, long inline READs, very long BATCHes) always take the
 * socket. The mailbox is started once, after HELLO; if the server has
 * none, or $MMIO_MAILBOX is "0", the client simply never uses it. Results
 * are those of the socket: the server runs both through one core.
 */
#include "cli.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* While waiting for a reply, look at the connection at least this often. */
#define MBOX_CHECK_MS 20
/* How long to poll the reply word before sleeping, on a machine with
 * several CPUs. */
#define MBOX_SPIN_NS 20000

static _Atomic uint32_t *mbox_word(const struct cli_shbuf *b, size_t off)
{
	return (_Atomic uint32_t *)(void *)(b->map + off);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

void cli_mailbox_start(mmio_client *c)
{
	const char *env = getenv("MMIO_MAILBOX");
	struct proto_request req = { .opcode = PROTO_OP_MAILBOX };
	struct proto_reply rep;
	struct cli_shbuf *b;
	nng_msg *m;

	/* Buffers, and so mailboxes, need the descriptor channel. A server
	 * that has none, or predates mailboxes (it answers MMIO_EPROTO), costs
	 * a few round trips here and nothing later. */
	if ((env && strcmp(env, "0") == 0) || !(c->hello.flags & PROTO_HELLO_DIRECT))
		return;
	if (cli_shbuf_create(c, PROTO_MBOX_SIZE, &b) != MMIO_OK)
		return;
	c->mbox_spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	req.mailbox.buffer = b->id;
	if (cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep) == MMIO_OK) {
		if (rep.status == MMIO_OK) {
			c->mbox = b;
			b = NULL;
		}
		nng_msg_free(m);
	}
	if (b) /* refused: give the server its buffer slot back */
		cli_shbuf_destroy(c, b, true);
}

void cli_mailbox_release(mmio_client *c)
{
	if (c->mbox) {
		munmap(c->mbox->map, c->mbox->size);
		free(c->mbox);
		c->mbox = NULL;
	}
}

/* The longest reply @req can have, or SIZE_MAX if it is not bounded here. */
static size_t reply_bound(const struct proto_request *req)
{
	switch (req->opcode) {
	case PROTO_OP_HELLO:
	case PROTO_OP_LIST:
		return SIZE_MAX;
	case PROTO_OP_READ:
		return req->read.len > PROTO_MBOX_MSG_MAX
			       ? SIZE_MAX
			       : PROTO_REPLY_HEADER_SIZE + (size_t)req->read.len;
	case PROTO_OP_READ_ROWS: {
		uint64_t packed;

		if (__builtin_mul_overflow(req->rows.row_bytes, (uint64_t)req->rows.rows,
					   &packed) ||
		    packed > PROTO_MBOX_MSG_MAX)
			return SIZE_MAX;
		return PROTO_REPLY_HEADER_SIZE + (size_t)packed;
	}
	case PROTO_OP_BATCH:
		return PROTO_REPLY_HEADER_SIZE + 4 + (size_t)req->batch.count * 8;
	case PROTO_OP_STATS:
		return PROTO_REPLY_HEADER_SIZE + 4 + PROTO_STATS_MAX * 8;
	default:
		/* Every other reply is the header and at most a few fields. */
		return PROTO_REPLY_HEADER_SIZE + 64;
	}
}

/* Wait for the reply to request @seq: MMIO_OK, or the session is lost. */
static int reply_wait(mmio_client *c, uint32_t seq, int timeout_ms)
{
	_Atomic uint32_t *rep_seq = mbox_word(c->mbox, PROTO_MBOX_REP_SEQ);
	int64_t deadline = cli_now_ms() + timeout_ms;

	/* With another CPU to run the server, a short spin saves the sleep and
	 * the wake-up of a reply that is microseconds away; on one CPU it
	 * would only delay the server. */
	if (c->mbox_spin) {
		int64_t until = cli_now_ns() + MBOX_SPIN_NS;

		do {
			for (int i = 0; i < 32; i++) {
				if (atomic_load_explicit(rep_seq, memory_order_acquire) == seq)
					return MMIO_OK;
				cpu_relax();
			}
		} while (cli_now_ns() < until);
	}
	for (;;) {
		uint32_t v = atomic_load_explicit(rep_seq, memory_order_acquire);
		int64_t left;

		if (v == seq)
			return MMIO_OK;
		/* The server left (the socket says so), or took too long: as on the socket. */
		left = deadline - cli_now_ms();
		if (cli_lost(c) || left <= 0)
			return cli_transport_fail(c);
		if (left > MBOX_CHECK_MS)
			left = MBOX_CHECK_MS;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)left * 1000000L };
		syscall(SYS_futex, rep_seq, FUTEX_WAIT, v, &ts, NULL, 0);
	}
}

int cli_mailbox_call(mmio_client *c, const struct proto_request *req, size_t need, int timeout_ms,
		     nng_msg **msg, struct proto_reply *rep, bool *used)
{
	struct cli_shbuf *b = c->mbox;
	uint32_t seq, len;
	nng_msg *m;
	int status;

	*used = false;
	if (need > PROTO_MBOX_MSG_MAX || reply_bound(req) > PROTO_MBOX_MSG_MAX ||
	    pthread_mutex_trylock(&c->mbox_mtx) != 0)
		return MMIO_OK;
	*used = true;
	if (cli_lost(c)) {
		status = MMIO_ECONN;
		goto out;
	}
	status = proto_request_encode(req, b->map + PROTO_MBOX_REQ, need, NULL);
	if (status != MMIO_OK)
		goto out;
	seq = ++c->mbox_seq;
	atomic_store_explicit(mbox_word(b, PROTO_MBOX_REQ_LEN), (uint32_t)need,
			      memory_order_relaxed);
	atomic_store_explicit(mbox_word(b, PROTO_MBOX_REQ_SEQ), seq, memory_order_release);
	syscall(SYS_futex, mbox_word(b, PROTO_MBOX_REQ_SEQ), FUTEX_WAKE, 1, NULL, NULL, 0);

	status = reply_wait(c, seq, timeout_ms);
	if (status != MMIO_OK)
		goto out;
	len = atomic_load_explicit(mbox_word(b, PROTO_MBOX_REP_LEN), memory_order_relaxed);
	if (len == 0 || len > PROTO_MBOX_MSG_MAX) {
		/* The server could not answer: it said why in its log. */
		status = MMIO_EPROTO;
		goto out;
	}
	if (nng_msg_alloc(&m, len) != 0) {
		status = MMIO_ENOMEM;
		goto out;
	}
	memcpy(nng_msg_body(m), b->map + PROTO_MBOX_REP, len);
	status = cli_reply_decode(m, req->opcode, rep);
	if (status == MMIO_OK)
		*msg = m;
	else
		nng_msg_free(m);
out:
	pthread_mutex_unlock(&c->mbox_mtx);
	return status;
}
