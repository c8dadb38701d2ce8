/* SPDX-License-Identifier: MIT */
/*
 * Request dispatch: a pool of nng rep0 contexts, each a small state machine
 * (receive → check → handle → send), and the table that maps each opcode to
 * its handler and to the rights it needs. Contexts run on nng's worker
 * threads, so one slow request (a POLL waiting on a register) never stalls
 * the others: a waiting context sleeps on a list of the waiting thread,
 * not on a thread of its own.
 */
#include "dispatch.h"
#include "log.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AT(field) offsetof(struct proto_request, field)
#define NONE	  SRV_NO_FIELD

/* The op on a handle: ops and access bits it needs, its width kind, where its target lies. */
#define ON_HANDLE(ops_bit, access_bit, width, unlocked, req, size, value)                          \
	SRV_CHECK_HANDLE, MMIO_OPS_##ops_bit, MMIO_ACCESS_##access_bit, width, unlocked,           \
		AT(req.handle), AT(req.offset), AT(req.size), value
#define ONCE(ops_bit, access_bit, req)                                                             \
	ON_HANDLE(ops_bit, access_bit, SRV_WIDTH_GIVEN, false, req, width, NONE)
#define ONCE_WRITE(req) ON_HANDLE(ONCE, WRITE, SRV_WIDTH_GIVEN, false, req, width, AT(req.value))
#define COPY(ops_bit, access_bit, req)                                                             \
	ON_HANDLE(ops_bit, access_bit, SRV_WIDTH_NONE, true, req, len, NONE)
#define WHOLE(ops_bit, access_bit, req)                                                            \
	SRV_CHECK_HANDLE, MMIO_OPS_##ops_bit, MMIO_ACCESS_##access_bit, SRV_WIDTH_NONE, false,     \
		AT(req.handle), NONE, NONE, NONE
#define NO_HANDLE(check) check, 0, 0, SRV_WIDTH_NONE, false, NONE, NONE, NONE, NONE
/* A strided copy: a copy's rights; its audit line gives the first row. */
#define ROWS(access_bit) ON_HANDLE(BULK, access_bit, SRV_WIDTH_NONE, true, rows, row_bytes, NONE)

/*
 * The dispatch table (MINIX-style: the rights check runs before the handler).
 * Copies and fills (long: a FILL or a span can be gigabytes) run without
 * the session's lock, holding a reference to the handle, and re-check it at
 * every chunk (ops.c); the others are short and run under it.
 */
static const struct srv_op ops[PROTO_OP_MAX + 1] = {
	[PROTO_OP_HELLO] = { srv_op_hello, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_LIST] = { srv_op_list, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_OPEN] = { srv_op_open, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_CLOSE] = { srv_op_close, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_READ_ONCE] = { srv_op_read_once, ONCE(ONCE, READ, read_once) },
	[PROTO_OP_WRITE_ONCE] = { srv_op_write_once, ONCE_WRITE(write_once) },
	[PROTO_OP_READ] = { srv_op_read, COPY(BULK, READ, read) },
	[PROTO_OP_WRITE] = { srv_op_write, COPY(BULK, WRITE, write) },
	[PROTO_OP_FILL] = { srv_op_fill, COPY(FILL, WRITE, fill) },
	[PROTO_OP_BATCH] = { srv_op_batch, NO_HANDLE(SRV_CHECK_ITEMS) },
	[PROTO_OP_POLL] = { srv_op_poll, ONCE(POLL, READ, poll) },
	[PROTO_OP_MAP] = { srv_op_map, WHOLE(MAP, READ, map) },
	[PROTO_OP_UNMAP] = { srv_op_unmap, WHOLE(MAP, READ, unmap) },
	[PROTO_OP_STATS] = { srv_op_stats, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_BUF_ATTACH] = { srv_op_buf_attach, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_BUF_DETACH] = { srv_op_buf_detach, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_READ_SPAN] = { srv_op_read_span, COPY(BULK, READ, span) },
	[PROTO_OP_WRITE_SPAN] = { srv_op_write_span, COPY(BULK, WRITE, span) },
	[PROTO_OP_MAILBOX] = { srv_op_mailbox, NO_HANDLE(SRV_CHECK_HANDLER) },
	[PROTO_OP_READ_ROWS] = { srv_op_read_rows, ROWS(READ) },
	[PROTO_OP_WRITE_ROWS] = { srv_op_write_rows, ROWS(WRITE) },
	[PROTO_OP_IRQ] = { srv_op_irq, NO_HANDLE(SRV_CHECK_HANDLER) },
};
_Static_assert(PROTO_OP_MAX == PROTO_OP_IRQ, "every opcode has its dispatch entry");
/* The field types the table's offsets stand for (target_of()). */
#define FIELD_IS(field, type) (sizeof(((struct proto_request *)0)->field) == sizeof(type))
_Static_assert(FIELD_IS(read_once.handle, uint32_t) && FIELD_IS(read_once.width, uint32_t) &&
		       FIELD_IS(write_once.width, uint32_t) && FIELD_IS(poll.width, uint32_t) &&
		       FIELD_IS(read.len, uint64_t) && FIELD_IS(write.len, uint64_t) &&
		       FIELD_IS(fill.len, uint64_t) && FIELD_IS(span.len, uint64_t) &&
		       FIELD_IS(map.handle, uint32_t) && FIELD_IS(span.offset, uint64_t) &&
		       FIELD_IS(write_once.value, uint64_t) && FIELD_IS(rows.handle, uint32_t) &&
		       FIELD_IS(rows.offset, uint64_t) && FIELD_IS(rows.row_bytes, uint64_t),
	       "handles and widths are 32 bits, offsets and lengths 64");

const struct srv_op *srv_op_row(unsigned opcode)
{
	return &ops[opcode];
}

/* The protocol's name of row @op: its index is its opcode. */
static const char *op_name(const struct srv_op *op)
{
	return proto_opcode_name((unsigned)(op - ops));
}

static uint64_t field_get(const struct proto_request *rq, size_t at, size_t size)
{
	uint32_t v32 = 0;
	uint64_t v64 = 0;

	if (at == SRV_NO_FIELD)
		return 0;
	if (size == sizeof(v32)) {
		memcpy(&v32, (const char *)rq + at, size);
		return v32;
	}
	memcpy(&v64, (const char *)rq + at, size);
	return v64;
}

/* The target of the operation of row @op in request @rq. */
static void target_of(const struct srv_op *op, const struct proto_request *rq, struct srv_target *t)
{
	bool width = op->width == SRV_WIDTH_GIVEN;

	t->handle = (uint32_t)field_get(rq, op->handle_at, sizeof(uint32_t));
	t->offset = field_get(rq, op->offset_at, sizeof(uint64_t));
	t->len = field_get(rq, op->size_at, width ? sizeof(uint32_t) : sizeof(uint64_t));
	t->width = width ? (unsigned)t->len : 0;
	t->value = field_get(rq, op->value_at, sizeof(uint64_t));
}

static bool is_denial(int status)
{
	return status == MMIO_EACCES || status == MMIO_EREVOKED || status == MMIO_ENOENT;
}

/* A refusal: counted in the denials, and its one audit line. */
static void denial(struct srv_session *s, const char *region, const char *op, uint64_t offset,
		   uint64_t len, int status)
{
	atomic_fetch_add(&srv.stats.denials, 1);
	srv_audit(s, region, op, offset, len, status);
}

/*
 * Range and alignment of a checked operation on @h, as kernel-shim will
 * check them at the access (which stays the rule), made here to say why:
 * once-ops and polls whole inside the handle and aligned, copies (not
 * fills, which stop at the end) whole inside it.
 */
static int extent_check(const struct srv_op *op, const struct srv_target *t,
			const struct srv_handle *h, struct mmio_reason *why)
{
	uint64_t end, at = h->offset + t->offset;
	uintptr_t addr = (uintptr_t)h->once_win.base + (uintptr_t)t->offset;

	if (op->size_at == SRV_NO_FIELD || op->ops_bit == MMIO_OPS_FILL)
		return MMIO_OK;
	if (__builtin_add_overflow(t->offset, t->len, &end))
		end = UINT64_MAX;
	if (end > h->size)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_RANGE, end, h->size);
	if (t->width == 0 || mmio_width_aligned(addr, t->width))
		return MMIO_OK;
	/* The device address is misaligned; say so by the region's offset
	 * when that shows it (a region not aligned in its device: no reason). */
	if (at % t->width == 0)
		return MMIO_EINVAL;
	return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_ALIGN, t->width, at);
}

/* Refused by the check: unlock, and count and audit a denial, naming the
 * region and the region-relative offset when the handle exists. */
static int check_refused(struct srv_session *s, const struct srv_op *op, const struct srv_target *t,
			 struct srv_handle **h, int status)
{
	char region[CFG_NAME_MAX + 1] = "-";
	uint64_t offset = t->offset;

	if (*h) {
		memcpy(region, (*h)->region, sizeof(region));
		offset = (*h)->offset + t->offset;
		*h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (is_denial(status))
		denial(s, region, op_name(op), offset, t->len, status);
	return status;
}

int srv_check_and_audit(struct srv_session *s, const struct srv_op *op, const struct srv_target *t,
			struct srv_handle **h, unsigned *epoch, struct mmio_reason *why)
{
	/* @op is a row of the table: its index is its opcode. */
	int status;

	*h = NULL;
	if (why)
		*why = (struct mmio_reason){ .op = (unsigned)(op - ops) };
	pthread_mutex_lock(&s->lock);
	if (op->unlocked)
		status = srv_handle_check(s, t->handle, op->ops_bit, op->access_bit, t->width,
					  t->offset, t->value, h, why);
	else
		status = srv_handle_enter(s, t->handle, op->ops_bit, op->access_bit, t->width,
					  t->offset, t->value, h, epoch, why);
	if (status == MMIO_OK) {
		status = extent_check(op, t, *h, why);
		if (status != MMIO_OK && !op->unlocked)
			srv_access_exit(*epoch);
	}
	if (status != MMIO_OK)
		return check_refused(s, op, t, h, status);
	if (op->unlocked) {
		srv_handle_ref(*h);
		*epoch = atomic_load(&(*h)->epoch);
		pthread_mutex_unlock(&s->lock);
	}
	return MMIO_OK;
}

void srv_check_end(struct srv_session *s, const struct srv_op *op, const struct srv_target *t,
		   struct srv_handle *h, unsigned epoch, int status)
{
	if (is_denial(status))
		denial(s, h->region, op_name(op), h->offset + t->offset, t->len, status);
	else if (h->sensitive && status != SRV_WAIT_STATUS)
		srv_audit(s, h->region, op_name(op), h->offset + t->offset, t->len, status);
	if (op->unlocked) {
		srv_handle_put(h);
	} else {
		srv_access_exit(epoch);
		pthread_mutex_unlock(&s->lock);
	}
}

enum ctx_state { CTX_RECV, CTX_SEND, CTX_WAIT };

struct srv_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	struct srv_request r;
	/* The session this context works for, from its request until its reply
	 * is sent: counted in its caps (quota.c) as a request held, or (busy)
	 * as an unsent MMIO_EBUSY answer; and while its poll waits (polling),
	 * as a waiting poll. */
	struct srv_session *owner;
	bool busy;
	bool polling;
	/* On the waiting list (CTX_WAIT): when its poll reads again. */
	uint64_t due_ns;
	struct srv_ctx *next_waiting;
};

/*
 * A reply that cannot be sent within this time is dropped: a client that
 * stops reading must not keep a context (nng sends have no timeout of their
 * own, and a full pipe blocks every reply queued behind it).
 */
#define SEND_TIMEOUT_MS 2000

static struct srv_ctx *contexts;
static unsigned ncontexts;

/*
 * Waiting polls sleep on one thread of the dispatcher's, not on nng timers:
 * nng 1.5.2's timer thread spins until the millisecond of every timer that
 * fires, so a poll that re-reads its register often would keep a core busy
 * (docs/PERFORMANCE.md has the cost). This thread sleeps on a
 * CLOCK_MONOTONIC condition variable until the earliest due poll, and
 * finishes the due ones' waits.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct srv_ctx *list; /* unordered; at most ncontexts */
	pthread_t thread;
	bool ready, running, stop; /* ready: wake is initialised */
} waiting = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The context's poll no longer waits. */
static void ctx_poll_end(struct srv_ctx *c)
{
	if (c->polling) {
		srv_quota_poll_put(c->owner);
		c->polling = false;
	}
}

/* The context is free again: its owner holds one context fewer. */
static void ctx_release_owner(struct srv_ctx *c)
{
	if (c->owner) {
		ctx_poll_end(c);
		if (c->busy)
			srv_quota_busy_put(c->owner);
		else
			srv_quota_request_put(c->owner);
		srv_session_put(c->owner);
		c->owner = NULL;
		c->busy = false;
	}
}

static void ctx_recv(struct srv_ctx *c)
{
	ctx_release_owner(c);
	c->state = CTX_RECV;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

static void ctx_send(struct srv_ctx *c, nng_msg *reply)
{
	c->state = CTX_SEND;
	nng_aio_set_msg(c->aio, reply);
	nng_aio_set_timeout(c->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

void srv_request_finish(struct srv_request *r)
{
	srv_request_release(r);
	if (r->reply_msg)
		nng_msg_free(r->reply_msg);
	nng_msg_free(r->msg);
	srv_session_put(r->session);
	srv_generation_unref(r->gen);
	memset(r, 0, sizeof(*r));
}

/* ---- the core: a request to its reply, whatever carries them ---- */

/* The reply to a request that cannot be decoded (or is refused whole). */
static nng_msg *refusal_build(struct srv_request *r, int status, const struct mmio_reason *why)
{
	uint8_t buf[PROTO_REPLY_HEADER_SIZE + 16 + PROTO_REASON_SIZE];
	size_t len = 0;
	nng_msg *reply;

	atomic_fetch_add(&srv.stats.requests, 1);
	if (status == MMIO_EPROTO || status == MMIO_EVERSION)
		atomic_fetch_add(&srv.stats.proto_errors, 1);
	if (proto_refusal_encode(nng_msg_body(r->msg), nng_msg_len(r->msg), status, why, buf,
				 sizeof(buf), &len) != MMIO_OK ||
	    nng_msg_alloc(&reply, len) != 0)
		return NULL;
	memcpy(nng_msg_body(reply), buf, len);
	return reply;
}

/* A handler's reason names its request's opcode unless it named another; a
 * reason that breaks PROTOCOL.md §4.1 (a bug) is dropped, not the refusal. */
static void reason_settle(struct proto_reply *rep)
{
	size_t need = 0;

	if (rep->reason.code == 0)
		return;
	if (rep->reason.op == 0)
		rep->reason.op = rep->opcode;
	/* A reply stays within max_message (HELLO): a refusal of a READ that
	 * moved almost all of it goes without its reason rather than over. */
	if (proto_reply_encode(rep, NULL, 0, &need) == MMIO_OK && need > srv.max_message) {
		rep->reason.code = 0;
		return;
	}
	if (!proto_reason_valid(&rep->reason, rep->status)) {
		srv_error("%s refusal (%s) with an invalid reason %u; sent without it",
			  proto_opcode_name(rep->opcode), mmio_status_name(rep->status),
			  rep->reason.code);
		rep->reason.code = 0;
	}
}

/* r->rep encoded (into r->reply_msg if a handler prepared it); NULL to drop. */
static nng_msg *reply_build(struct srv_request *r)
{
	nng_msg *reply = r->reply_msg;
	size_t need = 0;
	int status;

	atomic_fetch_add(&srv.stats.requests, 1);
	if (r->rep.status == MMIO_EPROTO || r->rep.status == MMIO_EVERSION)
		atomic_fetch_add(&srv.stats.proto_errors, 1);
	reason_settle(&r->rep);
	if (!reply) {
		proto_reply_encode(&r->rep, NULL, 0, &need);
		if (nng_msg_alloc(&reply, need) != 0) {
			srv_error("out of memory for a %zu-byte reply; dropping it", need);
			return NULL;
		}
	}
	r->reply_msg = NULL;
	status = proto_reply_encode(&r->rep, nng_msg_body(reply), nng_msg_len(reply), &need);
	if (status != MMIO_OK) {
		/* A handler built an impossible reply: a bug, but never the client's crash. */
		srv_error("cannot encode the %s reply (%s); answering MMIO_EINTERNAL",
			  proto_opcode_name(r->rep.opcode), mmio_status_name(status));
		nng_msg_free(reply);
		return refusal_build(r, MMIO_EINTERNAL, NULL);
	}
	nng_msg_chop(reply, nng_msg_len(reply) - need);
	return reply;
}

/* The subject of an operation on no handle, for its audit line. */
static void subject_of(const struct proto_request *rq, const char **region, uint64_t *offset,
		       uint64_t *len)
{
	bool open = rq->opcode == PROTO_OP_OPEN;

	*region = open ? rq->open.name : "-";
	*offset = open ? rq->open.offset : 0;
	*len = open ? rq->open.length : 0;
}

/* Run (or resume) the handler, with the rights check first for handle ops. */
static enum srv_outcome request_run(struct srv_request *r)
{
	const struct srv_op *op = &ops[r->rq.opcode];
	struct srv_target t;
	enum srv_outcome outcome;
	unsigned epoch = 0;

	if (op->check != SRV_CHECK_HANDLE) {
		const char *region;
		uint64_t offset, len;

		outcome = op->run(r);
		/* A BATCH's items were checked, and audited, each as itself. */
		if (outcome == SRV_REPLY && op->check == SRV_CHECK_HANDLER &&
		    is_denial(r->rep.status)) {
			subject_of(&r->rq, &region, &offset, &len);
			denial(r->session, region, op_name(op), offset, len, r->rep.status);
		}
		return outcome;
	}
	target_of(op, &r->rq, &t);
	r->rep.status = srv_check_and_audit(r->session, op, &t, &r->handle, &epoch, &r->rep.reason);
	if (r->rep.status != MMIO_OK)
		return SRV_REPLY;
	r->checked_epoch = epoch;
	outcome = op->run(r);
	srv_check_end(r->session, op, &t, r->handle, epoch,
		      outcome == SRV_REPLY ? r->rep.status : SRV_WAIT_STATUS);
	r->handle = NULL;
	return outcome;
}

enum srv_outcome srv_request_step(struct srv_request *r, nng_msg **reply)
{
	*reply = NULL;
	if (!r->decoded) {
		int status =
			proto_request_decode(nng_msg_body(r->msg), nng_msg_len(r->msg), &r->rq);

		if (status != MMIO_OK) {
			srv_debug("uid %u pid %d: refused a malformed %s request (%zu bytes): %s",
				  (unsigned)r->session->peer.uid, (int)r->session->pid,
				  proto_opcode_name(r->rq.opcode), nng_msg_len(r->msg),
				  status == PROTO_EUNKNOWN_OP ? "unknown operation"
							      : mmio_status_name(status));
			*reply = refusal_build(
				r, status == PROTO_EUNKNOWN_OP ? MMIO_EPROTO : status, NULL);
			return SRV_REPLY;
		}
		r->decoded = true;
		r->rep.opcode = r->rq.opcode;
		/* Answered in the request's version: a version 1 client gets
		 * refusals without the reason record it could not read. */
		r->rep.version = r->rq.version;
	}
	if (request_run(r) == SRV_WAIT)
		return SRV_WAIT;
	*reply = reply_build(r);
	return SRV_REPLY;
}

/* ---- contexts: the core on nng ---- */

/*
 * A poll that must wait takes a waiting-poll slot of its uid first
 * (quota.c); without one it is answered MMIO_EBUSY at once rather than
 * wait. Returns the refusal to send, or NULL if it may wait.
 */
static nng_msg *ctx_poll_admit(struct srv_ctx *c, bool *refused)
{
	struct mmio_reason why = { 0 };

	*refused = false;
	if (c->polling || srv_quota_poll_take(c->owner, &why)) {
		c->polling = true;
		return NULL;
	}
	*refused = true;
	return refusal_build(&c->r, MMIO_EBUSY, &why);
}

/* nng stops a waiting context (srv_dispatch_quiesce()): take it off the
 * list, unless the waiting thread has already taken it to finish it. */
static void ctx_wait_cancel(nng_aio *aio, void *arg, int rv)
{
	struct srv_ctx *c = arg;
	bool listed = false;

	pthread_mutex_lock(&waiting.lock);
	for (struct srv_ctx **pp = &waiting.list; *pp; pp = &(*pp)->next_waiting) {
		if (*pp == c) {
			*pp = c->next_waiting;
			listed = true;
			break;
		}
	}
	pthread_mutex_unlock(&waiting.lock);
	if (listed)
		nng_aio_finish(aio, rv);
}

/*
 * Park @c on the waiting list until its poll is due (r.wait_ms from now).
 * The wait is an operation of the context's aio, as a timer was: the
 * waiting thread only finishes it, and the context goes on in its callback
 * on nng's threads, never on two threads at once.
 */
static void ctx_wait(struct srv_ctx *c)
{
	c->state = CTX_WAIT;
	c->due_ns = srv_now_ns() + (uint64_t)c->r.wait_ms * 1000000u;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	if (!nng_aio_begin(c->aio))
		return; /* stopping: the stop finishes the request */
	pthread_mutex_lock(&waiting.lock);
	c->next_waiting = waiting.list;
	waiting.list = c;
	nng_aio_defer(c->aio, ctx_wait_cancel, c);
	pthread_cond_signal(&waiting.wake);
	pthread_mutex_unlock(&waiting.lock);
}

/* Step the context's request: wait, or send its reply (or drop it). */
static void ctx_step(struct srv_ctx *c)
{
	nng_msg *reply;
	bool refused;

	if (srv_request_step(&c->r, &reply) == SRV_WAIT) {
		reply = ctx_poll_admit(c, &refused);
		if (!refused) {
			ctx_wait(c);
			return;
		}
	}
	ctx_poll_end(c);
	srv_request_finish(&c->r);
	if (reply)
		ctx_send(c, reply);
	else
		ctx_recv(c);
}

/* Over a cap (quota.c): answered MMIO_EBUSY while only a few such answers
 * of its uid wait to be sent, else dropped unanswered, so that a client
 * that floods and never reads cannot hold contexts with its refusals. */
static void request_refuse(struct srv_ctx *c, const struct mmio_reason *why)
{
	struct srv_request *r = &c->r;
	struct srv_session *s = r->session;
	nng_msg *reply = NULL;

	if (srv_quota_busy_take(s)) {
		reply = refusal_build(r, MMIO_EBUSY, why);
		if (!reply)
			srv_quota_busy_put(s);
	}
	if (reply) {
		/* Held as a busy answer until it is sent (ctx_release_owner()). */
		c->owner = s;
		atomic_fetch_add(&s->refs, 1);
		c->busy = true;
	}
	srv_request_finish(r);
	if (reply)
		ctx_send(c, reply);
	else
		ctx_recv(c);
}

static void request_start(struct srv_ctx *c, nng_msg *msg)
{
	struct srv_request *r = &c->r;

	memset(r, 0, sizeof(*r));
	r->msg = msg;
	r->session = srv_session_get((uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)));
	if (!r->session) {
		/* The client is already gone (or was refused): nobody to answer. */
		nng_msg_free(msg);
		r->msg = NULL;
		ctx_recv(c);
		return;
	}
	r->gen = srv_current();
	/* A reload may have granted or ungranted it: its caps follow. */
	srv_quota_classify(r->session, r->gen);
	struct mmio_reason why = { 0 };
	if (srv_quota_request_take(r->session, &why) != MMIO_OK) {
		request_refuse(c, &why);
		return;
	}
	c->owner = r->session;
	atomic_fetch_add(&c->owner->refs, 1);
	ctx_step(c);
}

/* Free a reply that @aio still holds (nng did not take it: a failed send, or
 * one refused because the aio was stopped), and clear the aio so that it is
 * freed once only. */
static void ctx_drop_reply(nng_aio *aio)
{
	nng_msg *m = nng_aio_get_msg(aio);

	if (m) {
		nng_aio_set_msg(aio, NULL);
		nng_msg_free(m);
	}
}

static void ctx_wake(struct srv_ctx *c);

static void ctx_callback(void *arg)
{
	struct srv_ctx *c = arg;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CTX_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		if (rv != 0) {
			ctx_recv(c);
			return;
		}
		request_start(c, nng_aio_get_msg(c->aio));
		return;
	case CTX_SEND:
		if (rv != 0)
			ctx_drop_reply(c->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		ctx_recv(c);
		return;
	case CTX_WAIT:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			srv_request_finish(&c->r);
			return;
		}
		ctx_wake(c);
		return;
	}
}

/* A waiting poll is due: read again, unless its client has left. */
static void ctx_wake(struct srv_ctx *c)
{
	pthread_mutex_lock(&c->r.session->lock);
	bool gone = c->r.session->closed;
	pthread_mutex_unlock(&c->r.session->lock);
	if (gone) {
		/* The client left mid-POLL: nothing to answer, nothing held. */
		ctx_poll_end(c);
		srv_request_finish(&c->r);
		ctx_recv(c);
		return;
	}
	ctx_step(c);
}

/* Take the due contexts off the list (waiting.lock held); *@next_ns gets
 * the earliest due time of the rest (UINT64_MAX: none). */
static struct srv_ctx *waiting_take_due(uint64_t now, uint64_t *next_ns)
{
	struct srv_ctx *due = NULL, **pp = &waiting.list;

	*next_ns = UINT64_MAX;
	while (*pp) {
		struct srv_ctx *c = *pp;
		if (c->due_ns <= now) {
			*pp = c->next_waiting;
			c->next_waiting = due;
			due = c;
		} else {
			if (c->due_ns < *next_ns)
				*next_ns = c->due_ns;
			pp = &c->next_waiting;
		}
	}
	return due;
}

static void *waiting_run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&waiting.lock);
	while (!waiting.stop) {
		uint64_t next;
		struct srv_ctx *due = waiting_take_due(srv_now_ns(), &next);

		if (due) {
			pthread_mutex_unlock(&waiting.lock);
			while (due) {
				struct srv_ctx *c = due;
				due = c->next_waiting;
				nng_aio_finish(c->aio, 0);
			}
			pthread_mutex_lock(&waiting.lock);
		} else if (next == UINT64_MAX) {
			pthread_cond_wait(&waiting.wake, &waiting.lock);
		} else {
			struct timespec ts = { .tv_sec = (time_t)(next / 1000000000u),
					       .tv_nsec = (long)(next % 1000000000u) };
			pthread_cond_timedwait(&waiting.wake, &waiting.lock, &ts);
		}
	}
	pthread_mutex_unlock(&waiting.lock);
	return NULL;
}

static int waiting_start(void)
{
	pthread_condattr_t attr;

	waiting.stop = false;
	waiting.list = NULL;
	if (pthread_condattr_init(&attr) != 0)
		return -1;
	/* srv_now_ns() is CLOCK_MONOTONIC: the deadlines are in its time. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	int rv = pthread_cond_init(&waiting.wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rv != 0)
		return -1;
	waiting.ready = true;
	if (pthread_create(&waiting.thread, NULL, waiting_run, NULL) != 0)
		return -1;
	waiting.running = true;
	return 0;
}

/* Stop the waiting thread: no context is stepped by it after this. */
static void waiting_stop(void)
{
	if (!waiting.running)
		return;
	pthread_mutex_lock(&waiting.lock);
	waiting.stop = true;
	pthread_cond_signal(&waiting.wake);
	pthread_mutex_unlock(&waiting.lock);
	pthread_join(waiting.thread, NULL);
	waiting.running = false;
}

int srv_dispatch_start(nng_socket sock, unsigned count)
{
	srv_quota_contexts(count);
	contexts = calloc(count, sizeof(*contexts));
	if (!contexts || waiting_start() != 0)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		struct srv_ctx *c = &contexts[i];
		if (nng_aio_alloc(&c->aio, ctx_callback, c) != 0 ||
		    nng_ctx_open(&c->ctx, sock) != 0)
			return -1;
		ncontexts = i + 1;
	}
	for (unsigned i = 0; i < count; i++)
		ctx_recv(&contexts[i]);
	return 0;
}

void srv_dispatch_quiesce(void)
{
	/* Contexts first: a stopped waiting context is taken off the list by
	 * its cancel (ctx_wait_cancel()), and none signals the thread after. */
	for (unsigned i = 0; i < ncontexts; i++)
		nng_aio_stop(contexts[i].aio);
	waiting_stop();
}

/* Call after nng_close() of the socket: no callback runs any more after this. */
void srv_dispatch_stop(void)
{
	for (unsigned i = 0; i < ncontexts; i++) {
		nng_aio_stop(contexts[i].aio);
		if (contexts[i].state == CTX_WAIT && contexts[i].r.msg)
			srv_request_finish(&contexts[i].r);
		/* A reply sent after the stop began: nng refuses a stopped aio
		 * without a callback, and the message is still on it. */
		if (contexts[i].state == CTX_SEND)
			ctx_drop_reply(contexts[i].aio);
		ctx_release_owner(&contexts[i]);
		nng_aio_free(contexts[i].aio);
	}
	waiting_stop();
	if (waiting.ready) {
		pthread_cond_destroy(&waiting.wake);
		waiting.ready = false;
	}
	free(contexts);
	contexts = NULL;
	ncontexts = 0;
}
